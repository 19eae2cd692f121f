#!/usr/bin/env node
/**
 * mithril-proxy serve [--config FILE] | check-config --config FILE
 * `serve` without a file (and without MITHRIL_CONFIG) runs the built-in demo.
 */
import { parseArgs } from 'node:util';
import { offLoopbackProblem, reloadAuthProblem } from './config/auth-schema.js';
import { demoConfig } from './config/demo.js';
import { type LoadResult, formatProblems, loadConfigFile } from './config/load.js';
import type { ProxyConfig } from './config/types.js';
import { createLogger } from './observability/log.js';
import { type ProxyHandle, startProxy } from './proxy.js';

const USAGE = `usage:
  mithril-proxy serve [--config FILE]        serve FILE (or $MITHRIL_CONFIG, or the built-in demo)
  mithril-proxy check-config --config FILE   validate FILE; exit 1 with one line per problem
options: --port N, --host H override listen.* (handy for the demo)`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function resolveConfig(file: string | undefined, overrides: { port?: number; host?: string }): Promise<ProxyConfig> {
  if (!file) {
    try {
      return demoConfig(overrides);
    } catch (err) {
      // Only an override can make the demo invalid (e.g. --host 0.0.0.0: off loopback without auth).
      fail(`mithril-proxy: ${(err as Error).message}`, 1);
    }
  }
  const r: LoadResult = await loadConfigFile(file);
  if (!r.ok) fail(formatProblems(r.problems), 1);
  const cfg = r.config;
  if (overrides.port !== undefined) cfg.listen.port = overrides.port;
  if (overrides.host !== undefined) {
    cfg.listen.host = overrides.host;
    // The file was validated with its own listen.host; the override must meet the same rule.
    const a = cfg.auth;
    const problem = offLoopbackProblem(overrides.host, { clients: Object.keys(a.clients).length, jwt: a.jwt !== null, anonymous: a.anonymous });
    if (problem !== null) fail(`--host: ${problem}`, 1);
  }
  return cfg;
}

async function serve(config: ProxyConfig, file: string | undefined): Promise<void> {
  const log = createLogger(config.logLevel, { thread: 'main' });
  let proxy: ProxyHandle;
  try {
    proxy = await startProxy(config, { log });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'failed to start');
    fail(`mithril-proxy: ${(err as Error).message}`, 1);
  }
  process.stderr.write(`mithril-proxy listening on ${proxy.url} (${[...Object.keys(config.destinations), ...Object.keys(config.virtualServers)].map((d) => `${proxy.url}/${d}/mcp`).join(', ')})\n`);
  let signals = 0;
  const stop = (sig: string): void => {
    if (++signals > 1) {
      // A second signal: the operator wants out now. Children still die with us (exit hook).
      process.exit(130);
    }
    log.info({ signal: sig }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    proxy.close().then(() => process.exit(0), () => process.exit(1));
  };
  // SIGHUP re-reads the file: destinations whose connection settings changed lose their upstream
  // sessions; a file with problems is refused and the running config stays.
  process.on('SIGHUP', () => {
    if (!file) return void log.warn('SIGHUP ignored: serving the built-in demo, there is no file to reload');
    void loadConfigFile(file).then(async (r) => {
      if (!r.ok) return void log.error({ problems: r.problems }, 'config reload refused: the file has problems');
      const exposed = reloadAuthProblem(config.listen.host, r.config.auth);
      if (exposed !== null) return void log.error({ problems: [`listen.host: ${exposed}`] }, 'config reload refused: the file has problems');
      await proxy.reload(r.config);
    }, (err: unknown) => log.error({ err: (err as Error).message }, 'config reload failed'));
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('exit', () => proxy.supervisor.killAllChildrenSync());
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const cmd = positionals[0] ?? 'serve';
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const file = values.config ?? process.env.MITHRIL_CONFIG;
  const overrides: { port?: number; host?: string } = {};
  if (values.port !== undefined) {
    const p = Number(values.port);
    if (!Number.isInteger(p) || p < 0 || p > 65535) fail(`--port must be an integer 0..65535`);
    overrides.port = p;
  }
  if (values.host !== undefined) overrides.host = values.host;
  switch (cmd) {
    case 'serve':
      return serve(await resolveConfig(file, overrides), file);
    case 'check-config': {
      if (!file) fail('check-config needs --config FILE (or MITHRIL_CONFIG)');
      const r = await loadConfigFile(file);
      if (!r.ok) {
        process.stdout.write(`${formatProblems(r.problems)}\n`);
        process.exit(1);
      }
      process.stdout.write(`ok: ${Object.keys(r.config.destinations).length} destination(s)\n`);
      return;
    }
    default:
      fail(USAGE);
  }
}

main().catch((err: unknown) => fail(`mithril-proxy: ${(err as Error).stack ?? String(err)}`, 1));
