#!/usr/bin/env bash
# CPU truth per thread for mithril-proxy → the fast HTTP upstream, from Linux perf instead of V8's
# wall-clock sampler: `perf record` (kernel + native + JIT frames via --perf-basic-prof) and the
# syscall count per thread (`perf stat -e raw_syscalls:sys_enter --per-thread`), during one
# bench/loadtest run. Needs perf (linux-perf) and permission to trace the proxy (root, or
# perf_event_paranoid ≤ 1). Everything listens on 127.0.0.1 and stops by pid at the end.
#
#   bench/perf-threads.sh [SECONDS=6] [SESSIONS=1] [CONCURRENCY=10] [WORKERS=1]
#   MODE=sse bench/perf-threads.sh 6     # the SSE notification stream (2 streams × 1 KiB events) instead
#   TARGET=haproxy bench/perf-threads.sh # the same for HAProxy (bench/loadtest/haproxy.ts finds or fetches it)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-6}; SESSIONS=${2:-1}; CONC=${3:-10}; WORKERS=${4:-1}
OUT=$(mktemp -d /tmp/mithril-perf-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_line() { # file pattern -> the first matching line (10 s at most)
  for _ in $(seq 100); do grep -m1 "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

node dist/examples/fast-upstream.js --http --port 0 > "$OUT/upstream.log" 2>&1 & PIDS+=($!)
UP_URL=$(wait_line "$OUT/upstream.log" '^listening ' | cut -d' ' -f2)
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat > "$OUT/mithril.yml" <<YML
listen: { host: 127.0.0.1, port: $PORT }
workers: $WORKERS
log_level: warn
destinations:
  fast: { transport: streamable_http, url: "$UP_URL" }
YML
if [ "${TARGET:-mithril}" = haproxy ]; then
  node --input-type=module -e "
    const h = await import('./dist/bench/loadtest/haproxy.js');
    const b = h.findHaproxy('bench/.cache/haproxy');
    process.stdout.write(h.haproxyConfig($PORT, new URL('$UP_URL')));
    process.stderr.write(JSON.stringify(b));
  " > "$OUT/haproxy.cfg" 2> "$OUT/haproxy.json"
  HBIN=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).bin)' "$OUT/haproxy.json")
  HLIB=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).libraryPath ?? "")' "$OUT/haproxy.json")
  LD_LIBRARY_PATH="$HLIB" "$HBIN" -f "$OUT/haproxy.cfg" -db > "$OUT/mithril.log" 2>&1 & MP=$!; PIDS+=($MP)
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  URL="http://127.0.0.1:$PORT/mcp"
else
# --perf-basic-prof: V8 writes /tmp/perf-PID.map so perf can name JIT-compiled JS functions.
node --perf-basic-prof --max-semi-space-size=4 --import ./dist/bench/loadtest/thread-names.js dist/src/cli.js serve --config "$OUT/mithril.yml" \
  > "$OUT/mithril.log" 2>&1 & MP=$!; PIDS+=($MP)
wait_line "$OUT/mithril.log" 'listening' > /dev/null
URL="http://127.0.0.1:$PORT/fast/mcp"
fi
node dist/bench/loadtest/cli.js --url "$URL" --sessions "$SESSIONS" --concurrency "$CONC" --duration 2s --out "$OUT/warm" > /dev/null 2>&1

perf record -F 997 -g -p "$MP" -o "$OUT/perf.data" -- sleep "$DUR" > "$OUT/record.log" 2>&1 &
REC=$!
perf stat -e raw_syscalls:sys_enter --per-thread -p "$MP" -o "$OUT/syscalls.txt" -- sleep "$DUR" &
STAT=$!
if [ "${MODE:-load}" = sse ]; then
  node --input-type=module -e "
    const { runSseFlood } = await import('./dist/bench/loadtest/sse-flood.js');
    const r = await runSseFlood({ url: '$URL', durationMs: $DUR * 1000, streams: 2, size: 1024, pid: $MP });
    console.log('ok streams', r.streamsOk, 'bad', r.streamsBad, 'events', r.events, 'MiB/s', (r.bytesPerSec / 1048576).toFixed(1));
    console.log('cpu/MiB by thread', r.threads.map((t) => t.group + ' ' + t.usPerRequest.toFixed(0)).join(', '));
  " > "$OUT/load.txt" 2>&1 || true
else
  node dist/bench/loadtest/cli.js --url "$URL" --sessions "$SESSIONS" --concurrency "$CONC" --duration "${DUR}s" --pid "$MP" \
    --out "$OUT/load" > "$OUT/load.txt" 2> /dev/null || true
fi
wait "$REC" "$STAT" || true

echo "== load ($SESSIONS session(s) × $CONC, ${DUR}s, $WORKERS worker(s)); perf windows cover the same ${DUR}s"
grep -E "ok|req/s|cpu/req|by thread|MiB" "$OUT/load.txt" | head -10
echo "== syscalls per thread (perf stat raw_syscalls:sys_enter)"
grep -E "sys_enter" "$OUT/syscalls.txt" | sort -k2 -n -r | head -8 || true
echo "== CPU samples by thread and object (perf report --sort comm,dso)"
perf report -i "$OUT/perf.data" --no-children --sort comm,dso --stdio 2> /dev/null | grep -E '^ +[0-9]' | head -25 || true
echo "== top symbols per thread (perf report --sort comm,sym)"
perf report -i "$OUT/perf.data" --no-children --sort comm,sym --stdio -g none 2> /dev/null | grep -E '^ +[0-9]' | head -40 || true
perf script -i "$OUT/perf.data" -F tid,ip,sym,dso > "$OUT/script.txt" 2> /dev/null
REQS=""
[ "${MODE:-load}" = sse ] || REQS=$(grep -E '^ok ' "$OUT/load.txt" | tr -dc '0-9' || true)
NAMES=$(grep -E 'mithril-wrk-' "$OUT/syscalls.txt" | sed -E 's/^ *mithril-wrk-([0-9]+)-([0-9]+).*/\2=worker \1/' | paste -sd, - || true)
echo "== CPU by category per thread (bench/perf-categories.ts${REQS:+; µs/req over the $REQS requests of the window})"
node dist/bench/perf-categories.js --pid "$MP" ${REQS:+--requests "$REQS"} ${NAMES:+--names "$NAMES"} "$OUT/script.txt"
echo "(raw data in $OUT)"
