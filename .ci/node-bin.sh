#!/usr/bin/env bash
# Prints the path of an official Node.js binary of the given major version (22, 24, ...),
# installing it on first use from the npm registry's node-linux-<arch> package into
# .cache/node-<major>/ of this repository. Used by .ci/run and by tests that need a newer Node
# (the conformance suite and the MCP Inspector need Node >= 22).
set -euo pipefail
major="${1:?usage: node-bin.sh MAJOR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "node-bin.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
dir="$root/.cache/node-$major"
bin="$dir/node_modules/node-linux-$arch/bin/node"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-$arch@$major" >&2
fi
"$bin" --version >/dev/null
echo "$bin"
