import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import {
  FailOpenRateLimiter,
  IpAllowlist,
  MemoryRateLimiter,
  ProxyGuard,
  RedisRateLimiter,
  compileRules,
  configWarnings,
  createIngest,
  createLoggers,
  createMetrics,
  currentHooksSnapshot,
  defaultRules,
  gitHubClientFromConfig,
  newestHooksSnapshot,
  storedHooksSnapshot,
  openStore,
  systemClock,
  type Clock,
  type Config,
  type GitHubClient,
  type Loggers,
  type Metrics,
  type HooksSnapshot,
  type RateLimiter,
  type Store,
} from '@gitbridge/core';
import { settledWithin } from '@gitbridge/core/util';
import { startHookRanges } from './jobs/hook-ranges.js';
import { startHeartbeat, startRecovery } from './jobs/recovery.js';
import { startRetention } from './jobs/retention.js';
import { buildServer } from './server.js';
import type { WorkerPolicy } from './workers/context.js';
import { Workers } from './workers/workers.js';

/**
 * Deliveries a second above which ingest counts as busy (with a busy event
 * loop): far above what most GitHub organisations send (tens a second), well
 * below what one daemon ingests (thousands).
 */
const INGEST_BUSY_RATE = 500;

/** A running daemon. */
export interface Daemon {
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly port: number;
  /** The management listener (`GITBRIDGE_ADMIN_PORT`), which alone serves `/metrics` and `/admin/*`; undefined without one. */
  readonly adminApp: FastifyInstance | undefined;
  /** `http://adminHost:adminPort` of the management listener, or undefined. */
  readonly adminUrl: string | undefined;
  /** The port the management listener bound, or undefined. */
  readonly adminPort: number | undefined;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly loggers: Loggers;
  /** The callback URL given to the MAS: `<GITBRIDGE_PUBLIC_URL or http://127.0.0.1:<bound port>>/mas/callback`. */
  readonly callbackUrl: string;
  /**
   * Reopens the log files and reloads the hook ranges snapshot (the data
   * directory's after `gitbridge meta sync`, or the store's when it is newer).
   * The daemon's main calls it on SIGHUP.
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
  /** The clock of the store, workers, breaker and jobs (tests: a ManualClock). Default the system clock. */
  readonly clock?: Clock;
  /** Jitter source of every backoff (tests). */
  readonly random?: () => number;
  /** Overrides of the workers' policy numbers (tests). */
  readonly policy?: Partial<WorkerPolicy>;
  /** How often to reload the hook ranges another node shared in the store, ms (default a minute; tests). */
  readonly hookRangesReloadMs?: number;
}

/** `http://host:port` for a bound address; a wildcard host is reached through 127.0.0.1. */
function listenerUrl(app: FastifyInstance, host: string, fallbackPort: number): { url: string; port: number } {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : fallbackPort;
  const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { url: `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`, port };
}

/**
 * Closes the fastify listeners: no new connections, idle ones closed. When
 * requests are still open after `ms`, their connections are closed too (a
 * request whose body never finished was never answered 202, so nothing
 * accepted is lost). Resolves when every listener has closed.
 * @returns how many connections were still open at `ms` (0 when they all ended by themselves)
 */
async function closeListeners(apps: readonly (FastifyInstance | undefined)[], ms: number): Promise<number> {
  const live = apps.filter((a): a is FastifyInstance => a !== undefined);
  const closed = Promise.all(live.map((a) => a.close()));
  if (await settledWithin(closed, ms)) return 0;
  let cut = 0;
  for (const a of live) {
    cut += await new Promise<number>((resolve) => a.server.getConnections((err, n) => resolve(err ? 0 : n)));
    a.server.closeAllConnections();
  }
  await closed;
  return cut;
}

/** A gate that opens at most once per `periodMs` of wall-clock time: true when a repeated warning may be logged now. */
function oncePer(periodMs: number): () => boolean {
  let last = -Infinity;
  return () => {
    const now = Date.now();
    if (now - last < periodMs) return false;
    last = now;
    return true;
  };
}

/**
 * Opens the store, builds the ingest path, the server and the workers, and
 * listens on `config.host:config.port` (and, with `config.adminPort`, the
 * management listener on `config.adminHost:config.adminPort`).
 *
 * @throws GitBridgeError `GB_RULES_INVALID`, `GB_LOG_UNAVAILABLE`, `GB_STORE_*` when the store cannot open; Error on listen failure (EADDRINUSE)
 */
export async function startDaemon(config: Config, options: StartOptions = {}): Promise<Daemon> {
  const clock = options.clock ?? systemClock;
  const rules = compileRules(config.rules ?? defaultRules());
  const loggers = createLoggers({ logDir: config.logDir, level: config.logLevel, stdout: config.logStdout, sync: options.syncLogs ?? false });
  await loggers.ready();
  const { log, security } = loggers;
  // Recovery's client is built before the store opens: an unreadable or
  // invalid App key fails the start here.
  let github: GitHubClient | undefined;
  if (config.recoverHooks.length > 0 && config.recoverIntervalS > 0) {
    try {
      github = gitHubClientFromConfig(config, { clock, log });
    } catch (err) {
      loggers.close();
      throw err;
    }
  }
  // Warnings of failures that repeat many times a second while they last: at most one per period (wall-clock ms).
  const connectionWarning = oncePer(10_000);
  const checkpointWarning = oncePer(60_000);
  const redisWarning = oncePer(60_000);
  let metrics: Metrics | undefined;
  let store: Store;
  try {
    store = await openStore({
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      poolMax: config.databasePoolMax,
      access: 'owner',
      clock,
      onConnectionError(err) {
        // An outage breaks every pooled connection at once.
        if (connectionWarning()) log.warn({ err }, 'database connection lost: reconnecting (webhooks get 503 until it is back)');
      },
      synchronous: config.storeSynchronous,
      onCheckpointError(err) {
        // A full disk fails every checkpoint, ten times a second.
        if (checkpointWarning()) log.warn({ err }, 'WAL checkpoint failed: the -wal file keeps growing until checkpoints succeed again');
      },
      onIngestCommit(size, ms) {
        metrics?.storeCommitBatch.observe(size);
        metrics?.storeCommitDuration.observe(ms / 1000);
      },
    });
  } catch (err) {
    loggers.close();
    throw err;
  }
  metrics = createMetrics({ store, clock });
  if (store.engine === 'postgres' && !config.redisUrl) {
    log.warn('several daemons may share this PostgreSQL store, but without GITBRIDGE_REDIS_URL the rate limits are counted per node: set GITBRIDGE_REDIS_URL to share them');
  }

  let redis: Redis | undefined;
  let inner: RateLimiter;
  if (config.redisUrl) {
    redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500, lazyConnect: false });
    redis.on('error', (err) => {
      // ioredis reconnects by itself.
      if (redisWarning()) log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'Redis unavailable: rate limiting fails open');
    });
    inner = new RedisRateLimiter(redis, options.redisPrefix ? { prefix: options.redisPrefix } : {});
  } else {
    inner = new MemoryRateLimiter({ now: () => clock.now() });
  }
  const limiter = new FailOpenRateLimiter(inner, (err) => {
    metrics.rateLimiterErrors.inc();
    log.warn({ err: { message: (err as Error).message } }, 'rate limiter failed: request allowed (fail open)');
  });

  // The configured allowlist and GitHub's ranges alone are rebuilt together
  // whenever the hook ranges change (start-up, periodic refresh, SIGHUP).
  // The newest of the data directory's snapshot (or the shipped one) and
  // the one another node shared in the store.
  let allowlist!: IpAllowlist;
  let githubRanges!: IpAllowlist;
  let hooksInForce!: HooksSnapshot;
  const applyHooks = (snapshot: HooksSnapshot) => {
    hooksInForce = snapshot;
    allowlist = new IpAllowlist(config.ipAllowlist, snapshot.hooks);
    githubRanges = new IpAllowlist(['github'], snapshot.hooks);
  };
  const loadHooks = async () => newestHooksSnapshot(currentHooksSnapshot(config.dataDir), await storedHooksSnapshot(store).catch(() => undefined));
  const snapshot = await loadHooks();
  applyHooks(snapshot);
  log.info({ hooksSnapshot: snapshot.snapshot_date, source: snapshot.source, ranges: allowlist.ranges.length }, 'IP allowlist loaded');

  const lifecycle = { draining: false };
  const stopping = () => lifecycle.draining;
  const stops: (() => void)[] = [];
  if (config.ipAllowlist.some((e) => e.toLowerCase() === 'github')) {
    stops.push(startHookRanges({
      metaUrl: config.metaUrl, dataDir: config.dataDir, store, refreshS: config.metaRefreshS, clock, log, metrics, stopping,
      current: () => hooksInForce,
      apply: applyHooks,
      ...(options.hookRangesReloadMs !== undefined ? { reloadEveryMs: options.hookRangesReloadMs } : {}),
    }));
  }
  if (config.retentionDays > 0) stops.push(startRetention({ store, clock, log, retentionDays: config.retentionDays, stopping }));
  // The last sign of life before this start bounds how far back the first recovery pass reaches.
  const lastAlive = await store.lastHeartbeat();
  await store.recordHeartbeat();
  stops.push(startHeartbeat({ store, clock, log, stopping }));
  if (github) stops.push(startRecovery({ store, client: github, clock, log, security, metrics, config, lastAlive, stopping }));

  // Ingest is busy when deliveries arrive fast (INGEST_BUSY_RATE or more a
  // second over the last 100 ms) AND the event loop is mostly busy: only then
  // do the workers yield to it, and the queue absorbs the burst. At ordinary
  // rates the loop has room, and throttling the workers would only add
  // latency between the 202 and the MAS.
  let acceptedInWindow = 0;
  let ingestRate = 0;
  let loopUtilization = 0;
  let elu = performance.eventLoopUtilization();
  const eluTimer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    loopUtilization = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
    ingestRate = acceptedInWindow * 10;
    acceptedInWindow = 0;
  }, 100);
  eluTimer.unref();
  let callbackUrl = config.publicUrl ? `${config.publicUrl}/mas/callback` : '';
  const workers = new Workers({
    config, store, rules, metrics, log, clock,
    ...(options.random ? { random: options.random } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ingestBusy: () => ingestRate >= INGEST_BUSY_RATE && loopUtilization > 0.8,
    callbackUrl: () => callbackUrl,
  });
  const proxyGuard = new ProxyGuard(config.trustProxy, loggers);
  const ingest = createIngest({
    config, store, limiter, metrics, log, security, clock, proxyGuard,
    allowlist: () => allowlist,
    githubRanges: () => githubRanges,
    draining: stopping,
    onAccepted: () => {
      acceptedInWindow++;
    },
  });
  const serverDeps = {
    config,
    store,
    ingest,
    metrics,
    loggers,
    proxyGuard,
    draining: stopping,
    ...(redis ? { ready: async () => redis.status === 'ready' } : {}),
  };
  const split = config.adminPort !== undefined;
  const app = buildServer(serverDeps, split ? 'public' : 'all');
  const adminApp = split ? buildServer(serverDeps, 'management') : undefined;
  try {
    await app.listen({ port: config.port, host: config.host });
    await adminApp?.listen({ port: config.adminPort!, host: config.adminHost });
  } catch (err) {
    // Nothing was served yet: give back what was opened, so that the caller's error is the only trace.
    await app.close();
    await adminApp?.close();
    for (const s of stops) s();
    clearInterval(eluTimer);
    await limiter.close();
    redis?.disconnect();
    await store.close();
    loggers.close();
    throw err;
  }
  const { url, port } = listenerUrl(app, config.host, config.port);
  const admin = adminApp ? listenerUrl(adminApp, config.adminHost, config.adminPort!) : undefined;
  // The default public URL is known only now: the port actually bound (`--port 0`).
  callbackUrl ||= `http://127.0.0.1:${port}/mas/callback`;
  workers.start();
  log.info({ port, host: config.host, mas: config.masUrl, callbackUrl, store: store.engine, storeLocation: store.location, redis: Boolean(config.redisUrl), rules: rules.length }, 'gitbridged listening');
  if (admin) log.info({ adminPort: admin.port, adminHost: config.adminHost }, 'management listener: /metrics and /admin/* are served here only');
  for (const warning of configWarnings(config)) log.warn({ kind: 'config_warning' }, warning);

  let stopped: Promise<void> | undefined;
  return {
    app,
    url,
    port,
    adminApp,
    adminUrl: admin?.url,
    adminPort: admin?.port,
    store,
    metrics,
    loggers,
    callbackUrl,
    reload() {
      loggers.reopen();
      try {
        // The data directory's file now (`meta sync` just wrote it), then the store's if it is newer.
        applyHooks(newestHooksSnapshot(currentHooksSnapshot(config.dataDir), hooksInForce));
        log.info({ hooksSnapshot: hooksInForce.snapshot_date, ranges: allowlist.ranges.length }, 'reloaded: log files reopened, IP allowlist reloaded');
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'reload: keeping the current IP allowlist');
      }
      loadHooks().then((fresh) => {
        if (fresh !== hooksInForce && newestHooksSnapshot(hooksInForce, fresh) === fresh) applyHooks(fresh);
      }, () => undefined);
    },
    stop(graceMs = config.shutdownGraceMs) {
      stopped ??= (async () => {
        // Everything before the store's close fits in graceMs; closing the store takes at most ~2 s more.
        const deadline = performance.now() + graceMs;
        const left = () => Math.max(0, Math.floor(deadline - performance.now()));
        lifecycle.draining = true;
        log.info('shutting down: draining');
        // Keep answering 503 + Retry-After for a moment (a load balancer sees
        // the daemon go unready) before the listener closes.
        await new Promise((r) => setTimeout(r, Math.min(1000, Math.floor(graceMs / 4))));
        for (const s of stops) s();
        clearInterval(eluTimer);
        // Requests still open are given until half the grace period: Node stops
        // timing out requests once its server closes, so one client sending a
        // byte a second would otherwise hold the shutdown until the forced exit.
        const cut = await closeListeners([app, adminApp], Math.max(250, Math.floor(left() / 2)));
        if (cut > 0) log.warn({ connections: cut }, 'shutting down: closed connections whose requests were still open');
        await store.flush();
        const running = await workers.stop(left());
        if (running > 0) log.warn({ submissions: running }, 'shutting down: grace period over with MAS submissions still running; their tasks are submitted again (same Idempotency-Key) when their lease ends');
        await limiter.close();
        redis?.disconnect();
        // The last sign of life: a pass after this downtime reaches back to here
        // (at most 1 s: a database that went silent must not hold the stop).
        await settledWithin(store.recordHeartbeat(), 1000);
        await store.close();
        log.info('stopped');
        loggers.close();
      })();
      return stopped;
    },
  };
}
