// Target (c): gitbridged's real ingest: startDaemon() with the built
// packages (run `pnpm run build` first; `pnpm bench` does). Signature check,
// parse, rate limit, group commit to SQLite, 202, and the workers running
// behind it (routing rules → tasks → the stub MAS), as in production.
// Also the daemon of the end-to-end, drain and start-up figures (bench/flow.mjs,
// bench/startup.mjs): BENCH_PORT picks the port (so that the default callback
// URL, http://127.0.0.1:<port>/mas/callback, reaches it), BENCH_DAEMON_ENV (a
// JSON object of GITBRIDGE_* variables) overrides settings such as
// GITBRIDGE_MAS_CONCURRENCY.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serveTarget } from './ipc.mjs';

// BENCH_ROOT (run.mjs --root): a patched, built copy of the repository to measure instead.
const ROOT = process.env.BENCH_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const { startDaemon } = await import(pathToFileURL(join(ROOT, 'packages/daemon/dist/index.js')).href);
const { loadConfig } = await import(pathToFileURL(join(ROOT, 'packages/core/dist/index.js')).href);

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const config = loadConfig({
  env: {
    GITBRIDGE_PORT: process.env.BENCH_PORT ?? '0',
    GITBRIDGE_HOST: '127.0.0.1',
    GITBRIDGE_WEBHOOK_SECRET: need('BENCH_SECRET'),
    GITBRIDGE_MAS_CALLBACK_SECRET: 'bench-callback-secret',
    GITBRIDGE_MAS_URL: need('BENCH_MAS_URL'),
    GITBRIDGE_DATA_DIR: need('BENCH_DATA_DIR'),
    GITBRIDGE_LOG_DIR: need('BENCH_LOG_DIR'),
    GITBRIDGE_META_REFRESH_S: '0',
    GITBRIDGE_LOG_STDOUT: 'false',
    GITBRIDGE_LOG_LEVEL: 'warn',
    GITBRIDGE_RATE_LIMIT: '100000000',
    GITBRIDGE_SHUTDOWN_GRACE_MS: '2000',
    ...JSON.parse(process.env.BENCH_DAEMON_ENV || '{}'),
  },
});
const daemon = await startDaemon(config);

/** Sums a metric's values, optionally only those whose labels match `where`. */
async function metric(name, where = {}, suffix = '') {
  const m = daemon.metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  let total = 0;
  for (const v of values) {
    if (suffix && v.metricName !== name + suffix) continue;
    if (Object.entries(where).every(([k, x]) => v.labels?.[k] === x)) total += v.value;
  }
  return total;
}

async function snapshot() {
  return {
    // Answered 202 (counted by the daemon right before it sends the 202).
    accepted: await metric('gitbridge_webhook_events_total', { status: 'accepted' }),
    duplicates: await metric('gitbridge_webhook_events_total', { status: 'duplicate' }),
    commits: await metric('gitbridge_store_commit_batch_size', {}, '_count'),
    committedRows: await metric('gitbridge_store_commit_batch_size', {}, '_sum'),
    commitSeconds: await metric('gitbridge_store_commit_duration_seconds', {}, '_sum'),
    processed: await metric('gitbridge_delivery_processing_total'),
    masAccepted: await metric('gitbridge_mas_submissions_total', { outcome: 'accepted' }),
    masFailed: (await metric('gitbridge_mas_submissions_total')) - (await metric('gitbridge_mas_submissions_total', { outcome: 'accepted' })),
  };
}

serveTarget({
  port: daemon.port,
  report: snapshot,
  stop: async () => {
    // Counted after the stop: requests still in flight when the load generator
    // stopped are answered (and counted) during the graceful stop.
    await daemon.stop();
    return { ...(await snapshot()), storePath: daemon.store.location ?? daemon.store.path };
  },
});
