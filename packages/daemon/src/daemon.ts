import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import {
  FailOpenRateLimiter,
  GroupCommitter,
  TransactionBatcher,
  IpAllowlist,
  MemoryRateLimiter,
  RedisRateLimiter,
  Store,
  compileRules,
  createLoggers,
  createMetrics,
  currentHooksSnapshot,
  defaultRules,
  fetchHooksSnapshot,
  writeHooksSnapshot,
  type Config,
  type Loggers,
  type Metrics,
  type RateLimiter,
} from '@gitbridge/core';
import { buildServer } from './server.js';
import { Workers } from './workers.js';

/** A running daemon. */
export interface Daemon {
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly loggers: Loggers;
  /**
   * Reopens the log files and reloads the hook ranges snapshot from the data
   * directory (after `gitbridge meta sync`). The daemon's main calls it on SIGHUP.
   */
  reload(): void;
  /**
   * Graceful stop: new deliveries get 503 with `Retry-After`, requests in
   * flight finish, queued commits are flushed, in-flight MAS submissions get
   * up to `graceMs` (default config.shutdownGraceMs), then the store closes.
   */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@link startDaemon} beyond the config. */
export interface StartOptions {
  /** Redis key prefix for rate-limit counters (tests use a random one). */
  readonly redisPrefix?: string;
  /** Write logs synchronously (tests that read log files right away). */
  readonly syncLogs?: boolean;
}

/**
 * Opens the store, builds the server and the workers, and listens on
 * `config.host:config.port`.
 *
 * @throws GitBridgeError `GB_RULES_INVALID`; SqliteError when the store cannot open; Error on listen failure (EADDRINUSE)
 */
export async function startDaemon(config: Config, options: StartOptions = {}): Promise<Daemon> {
  const rules = compileRules(config.rules ?? defaultRules());
  const loggers = createLoggers({ logDir: config.logDir, level: config.logLevel, stdout: config.logStdout, sync: options.syncLogs ?? false });
  await loggers.ready();
  const { log } = loggers;
  let checkpointWarnedAt = 0;
  const store = Store.open(config.dataDir, {
    backgroundCheckpoint: true,
    synchronous: config.storeSynchronous,
    onCheckpointError(err) {
      // At most once a minute: a full disk fails every checkpoint, ten times a second.
      if (Date.now() - checkpointWarnedAt < 60_000) return;
      checkpointWarnedAt = Date.now();
      log.warn({ err }, 'WAL checkpoint failed: the -wal file keeps growing until checkpoints succeed again');
    },
  });
  const metrics = createMetrics({ store });
  // Post-ingest writes (task updates, callbacks, completions) share transactions.
  const writes = new TransactionBatcher(store.db, { gate: store.gate });
  const committer = new GroupCommitter(store, {
    onCommit(size, ms) {
      metrics.storeCommitBatch.observe(size);
      metrics.storeCommitDuration.observe(ms / 1000);
    },
  });

  let redis: Redis | undefined;
  let inner: RateLimiter;
  if (config.redisUrl) {
    redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500, lazyConnect: false });
    let warned = 0;
    redis.on('error', (err) => {
      // ioredis reconnects by itself; say so once a minute at most.
      if (Date.now() - warned > 60_000) {
        warned = Date.now();
        log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'Redis unavailable: rate limiting fails open');
      }
    });
    inner = new RedisRateLimiter(redis, options.redisPrefix ? { prefix: options.redisPrefix } : {});
  } else {
    inner = new MemoryRateLimiter();
  }
  const limiter = new FailOpenRateLimiter(inner, (err) => {
    metrics.rateLimiterErrors.inc();
    log.warn({ err: { message: (err as Error).message } }, 'rate limiter failed: request allowed (fail open)');
  });

  // The configured allowlist and GitHub's ranges alone are rebuilt together
  // whenever the hook ranges change (start-up, periodic refresh, SIGHUP).
  let allowlist!: IpAllowlist;
  let githubRanges!: IpAllowlist;
  const applyHooks = (hooks: readonly string[]) => {
    allowlist = new IpAllowlist(config.ipAllowlist, hooks);
    githubRanges = new IpAllowlist(['github'], hooks);
  };
  const snapshot = currentHooksSnapshot(config.dataDir);
  applyHooks(snapshot.hooks);
  log.info({ hooksSnapshot: snapshot.snapshot_date, source: snapshot.source, ranges: allowlist.ranges.length }, 'IP allowlist loaded');
  let refreshTimer: NodeJS.Timeout | undefined;
  if (config.metaRefreshS > 0 && config.ipAllowlist.some((e) => e.toLowerCase() === 'github')) {
    const refresh = async () => {
      try {
        const fresh = await fetchHooksSnapshot(config.metaUrl);
        // The daemon may have stopped (and closed its logs) while the fetch ran.
        if (lifecycle.draining) return;
        writeHooksSnapshot(config.dataDir, fresh);
        applyHooks(fresh.hooks);
        metrics.ipRangesRefresh.inc({ outcome: 'success' });
        log.info({ ranges: fresh.hooks.length }, 'GitHub hook ranges refreshed');
      } catch (err) {
        if (lifecycle.draining) return;
        metrics.ipRangesRefresh.inc({ outcome: 'failure' });
        log.warn({ err: { message: (err as Error).message } }, 'GitHub hook ranges refresh failed: keeping the last good list');
      }
    };
    refreshTimer = setInterval(() => void refresh(), config.metaRefreshS * 1000);
    refreshTimer.unref();
    setTimeout(() => void refresh(), Math.min(5_000, config.metaRefreshS * 1000)).unref();
  }

  let retentionTimer: NodeJS.Timeout | undefined;
  if (config.retentionDays > 0) {
    // Batches of 100 deliveries, each after the write gate is open and a
    // turn of the event loop, so that ingest keeps going during a big purge.
    let purging = false;
    const purge = async () => {
      if (purging || lifecycle.draining) return;
      purging = true;
      const before = new Date(Date.now() - config.retentionDays * 86_400_000).toISOString();
      let deleted = 0;
      try {
        for (;;) {
          await new Promise<void>((r) => setImmediate(() => store.gate.whenOpen(r)));
          if (lifecycle.draining) break;
          const n = store.purgeBatch(before, 100);
          deleted += n;
          if (n < 100) break;
        }
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'retention purge failed; will try again');
      } finally {
        purging = false;
        if (deleted > 0) log.info({ deleted, before }, 'retention: old deliveries deleted');
      }
    };
    retentionTimer = setInterval(() => void purge(), 3_600_000);
    retentionTimer.unref();
    setTimeout(() => void purge(), 60_000).unref();
  }

  // Ingest is busy when deliveries are arriving AND the event loop is nearly
  // saturated: only then do the workers yield to it. At ordinary rates (a few
  // hundred deliveries/s) the loop has room, and throttling the workers would
  // only add latency between the 202 and the MAS.
  let lastAcceptedAt = -Infinity;
  let loopUtilization = 0;
  let elu = performance.eventLoopUtilization();
  const eluTimer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    loopUtilization = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
  }, 100);
  eluTimer.unref();
  const workers = new Workers({
    config, store, writes, rules, metrics, log,
    ingestBusy: () => loopUtilization > 0.95 && performance.now() - lastAcceptedAt < 100,
  });
  const lifecycle = { draining: false };
  const app = buildServer({
    config,
    store,
    committer,
    writes,
    limiter,
    allowlist: () => allowlist,
    githubRanges: () => githubRanges,
    metrics,
    loggers,
    lifecycle,
    onAccepted: () => {
      lastAcceptedAt = performance.now();
      workers.kick();
    },
    ...(redis ? { ready: async () => redis.status === 'ready' } : {}),
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  workers.start();
  log.info({ port, host: config.host, mas: config.masUrl, redis: Boolean(config.redisUrl), rules: rules.length }, 'gitbridged listening');

  let stopping: Promise<void> | undefined;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    store,
    metrics,
    loggers,
    reload() {
      loggers.reopen();
      try {
        const fresh = currentHooksSnapshot(config.dataDir);
        applyHooks(fresh.hooks);
        log.info({ hooksSnapshot: fresh.snapshot_date, ranges: allowlist.ranges.length }, 'reloaded: log files reopened, IP allowlist reloaded');
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'reload: keeping the current IP allowlist');
      }
    },
    stop(graceMs = config.shutdownGraceMs) {
      stopping ??= (async () => {
        lifecycle.draining = true;
        log.info('shutting down: draining');
        // Keep answering 503 + Retry-After for a moment (a load balancer sees
        // the daemon go unready) before the listener closes.
        await new Promise((r) => setTimeout(r, Math.min(1000, Math.floor(graceMs / 4))));
        if (refreshTimer) clearInterval(refreshTimer);
        if (retentionTimer) clearInterval(retentionTimer);
        clearInterval(eluTimer);
        await app.close();
        committer.flush();
        await workers.stop(graceMs);
        writes.flush();
        await limiter.close();
        redis?.disconnect();
        store.close();
        log.info('stopped');
        loggers.close();
      })();
      return stopping;
    },
  };
}
