// The flow figures of `pnpm bench` (bench/run.mjs --only e2e,drain):
//
//   e2e    end-to-end latency from the 202 to the MAS's acceptance of the task,
//          at a steady, open-loop rate (default 200 deliveries/s for 10 s)
//   drain  a backlog of queued tasks (default 10,000) built while the MAS is
//          down, then the time the daemon takes to hand all of it to the MAS
//          once it is back (tasks/s), and the time to the first acceptance
//
// Both run the real daemon (bench/target-gitbridged.mjs: startDaemon with the
// built packages) and the reference MAS (bench/mas-reference-target.mjs:
// startReferenceMas), each in its own child process, on 127.0.0.1. The daemon
// listens on a port reserved beforehand, so that the reference MAS's
// callbacks (running, then completed) reach it as they would in production.
// Deliveries are the same signed pull_request.opened example the ingest
// figure uses, each with a fresh X-GitHub-Delivery; the default routing rules
// make one review_pull_request task of each.
//
// Acceptance times are taken in the MAS process (performance.timeOrigin +
// performance.now() when it creates the task); 202 times in this process, the
// same way. The offset between the two clocks is estimated by IPC ping-pong
// (the sample with the shortest round trip) and subtracted; its uncertainty
// (half that round trip) is printed.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool, request } from 'undici';
import { createBenchDatabase } from './pg.mjs';

export const E2E_GOAL_P99_MS = 50;
export const DRAIN_GOAL_TASKS_PER_S = 1000;
const CALLBACK_SECRET = 'bench-callback-secret';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free port on 127.0.0.1 (closed again at once; the daemon binds it right after). */
function reservePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

/** Reads gitbridged's /metrics into { 'name{labels}': value }. */
export async function scrape(port) {
  const res = await request(`http://127.0.0.1:${port}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await res.body.text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('gitbridge_')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

const queued = (m) => m['gitbridge_tasks{status="queued"}'] ?? 0;
const queueDepth = (m) => m.gitbridge_event_queue_depth ?? 0;

/** Sum of a metric over every label set whose text contains `filter`. */
function sumMetric(m, name, filter = '') {
  let total = 0;
  for (const [k, v] of Object.entries(m)) {
    if ((k === name || k.startsWith(`${name}{`)) && k.includes(filter)) total += v;
  }
  return total;
}

/**
 * Starts the reference MAS, then the daemon pointed at it. `masDown`: the MAS
 * refuses connections until `up()`. `daemonEnv`: extra GITBRIDGE_* settings.
 */
export async function startFlow(ctx, { masDown = false, daemonEnv = {}, masCallbacks = true, label, daemons = 1 }) {
  const mas = await ctx.startChild('mas-reference-target.mjs', {
    env: {
      BENCH_MAS_CALLBACK_SECRET: CALLBACK_SECRET,
      BENCH_MAS_START_DOWN: masDown ? '1' : '0',
      BENCH_MAS_CALLBACKS: masCallbacks ? 'on' : 'off',
    },
  });
  const dir = ctx.tempDir(`gitbridge-bench-${label}-`);
  const dataDir = join(dir, 'data');
  // --store postgres: the daemons share a fresh database (the start-up part keeps its SQLite file for the CLI).
  const database = ctx.opts.store === 'postgres' && label !== 'startup' ? await createBenchDatabase(ctx.root, ctx.opts.pgUrl) : null;
  const env = database ? { ...daemonEnv, GITBRIDGE_DATABASE_URL: database.url } : daemonEnv;
  const started = [];
  for (let n = 0; n < daemons; n++) {
    for (let attempt = 1; ; attempt++) {
      const port = await reservePort();
      try {
        started.push(await ctx.startChild('target-gitbridged.mjs', {
          execArgv: label === 'startup' ? [] : ctx.profArgs(),
          env: {
            BENCH_SECRET: ctx.secret,
            BENCH_ROOT: ctx.root,
            BENCH_DATA_DIR: n === 0 ? dataDir : join(dir, `data-${n}`),
            BENCH_LOG_DIR: join(dir, n === 0 ? 'logs' : `logs-${n}`),
            BENCH_MAS_URL: `http://127.0.0.1:${mas.port}`,
            BENCH_PORT: String(port),
            BENCH_DAEMON_ENV: JSON.stringify(env),
          },
        }));
        break;
      } catch (err) {
        // The reserved port was taken in between: try another one.
        if (attempt >= 3) throw err;
      }
    }
  }
  return { mas, daemon: started[0], daemons: started, dataDir, database };
}

/** Stops the MAS first (cancels its callbacks), then the daemon (clean shutdown). */
export async function stopFlow(ctx, flow) {
  await ctx.stopChild(flow.mas.child).catch(() => flow.mas.child.kill('SIGKILL'));
  const [first, ...others] = flow.daemons;
  for (const d of others) await ctx.stopChild(d.child).catch(() => d.child.kill('SIGKILL'));
  try {
    return await ctx.stopChild(first.child);
  } finally {
    await flow.database?.drop().catch(() => undefined);
  }
}

/**
 * Offset of the MAS child's clock from this process's (child − parent), from
 * the ping-pong with the shortest round trip.
 */
async function clockOffset(ctx, child, samples = 25) {
  let best = null;
  for (let i = 0; i < samples; i++) {
    const t0 = now();
    const { t } = await ctx.ask(child, { type: 'clock' }, 'clock');
    const t1 = now();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: t - (t0 + t1) / 2 };
  }
  return { offsetMs: best.offset, uncertaintyMs: best.rtt / 2 };
}

function webhookHeaders(ctx, deliveryId) {
  return { ...ctx.baseHeaders, 'x-github-delivery': deliveryId };
}

let sent = 0;

/**
 * POSTs one delivery, cycling through `ctx.variants` (pull requests of their
 * own, so that tasks spread over entities as real traffic does); resolves with
 * its status and the time its response head arrived.
 */
async function postDelivery(ctx, pool, deliveryId) {
  const v = ctx.variants[sent++ % ctx.variants.length];
  const headers = { ...webhookHeaders(ctx, deliveryId), 'x-hub-signature-256': v.signature };
  const res = await pool.request({ method: 'POST', path: '/webhook', headers, body: v.body, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const t = now();
  await res.body.dump();
  return { status: res.statusCode, t };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function stats(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { count: v.length, p50Ms: percentile(v, 50), p90Ms: percentile(v, 90), p99Ms: percentile(v, 99), maxMs: v.at(-1) ?? null, minMs: v[0] ?? null };
}

/** Start of a measured window: machine-wide busy CPU and this process's CPU (see closeWindow). */
function openWindow(ctx) {
  return { busy0: ctx.machineBusyMs(), cpu0: process.cpuUsage(), t0: performance.now() };
}

/**
 * CPU used during the window by everything except this process and the
 * children whose `report` replies are given, in cores: other work on the
 * machine that makes the figures noisy. Null where /proc/stat is missing.
 */
function closeWindow(ctx, win, reports) {
  const busy1 = ctx.machineBusyMs();
  if (!win || win.busy0 === null || busy1 === null) return null;
  const c = process.cpuUsage(win.cpu0);
  const wall = performance.now() - win.t0;
  const ours = (c.user + c.system) / 1000 + reports.reduce((n, r) => n + r.cpuMs, 0);
  return Math.max(0, (busy1 - win.busy0 - ours) / wall);
}

/**
 * CPU time used so far by the PostgreSQL server's processes on this machine,
 * ms (Linux /proc; null elsewhere): each one's own time plus that of its
 * children that ended (cutime, cstime), so a backend whose connection a pool
 * closed inside a window still counts, through the postmaster that reaped it.
 */
function postgresCpuMs() {
  try {
    let ticks = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let stat;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const f = stat.slice(close + 2).split(' ');
      // utime, stime, cutime, cstime: fields 14 to 17 of stat (proc(5))
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    }
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Polls `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes (then returns null). */
async function until(check, { everyMs, timeoutMs }) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (performance.now() > deadline) return null;
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- e2e

/**
 * Open-loop load: deliveries are sent on a fixed schedule (rate/s), whatever
 * the answers; a warm-up stream runs first and continues straight into the
 * measured window (only deliveries sent in the window count).
 */
export async function runE2e(ctx) {
  const { rate, durationS, warmupS, settleS } = ctx.opts.e2e;
  const flow = await startFlow(ctx, { label: 'e2e' });
  const { mas, daemon } = flow;
  try {
    const clock = await clockOffset(ctx, mas.child);
    const pool = new Pool(`http://127.0.0.1:${daemon.port}`, { connections: 64, pipelining: 1 });
    const intervalMs = 1000 / rate;
    const warmN = Math.round(warmupS * rate);
    const total = warmN + Math.round(durationS * rate);
    const sent = new Array(total);
    const pending = [];
    ctx.say(`  ${warmupS} s warm-up + ${durationS} s measured at ${rate} deliveries/s (open loop) …`);
    const start = performance.now() + 20;
    let next = 0;
    let marked = null;
    let win = null;
    await new Promise((resolveSchedule) => {
      const pump = () => {
        const t = performance.now();
        while (next < total && start + next * intervalMs <= t) {
          const i = next++;
          if (i === warmN) {
            marked = Promise.all([ctx.ask(daemon.child, { type: 'mark' }, 'marked'), ctx.ask(mas.child, { type: 'mark' }, 'marked')]);
            win = openWindow(ctx);
          }
          const id = randomUUID();
          const tSched = start + i * intervalMs;
          const rec = { id, measured: i >= warmN, tSched: performance.timeOrigin + tSched, lagMs: performance.now() - tSched, status: null, t202: null, error: null };
          sent[i] = rec;
          pending.push(
            postDelivery(ctx, pool, id).then(
              (r) => {
                rec.status = r.status;
                rec.t202 = r.t;
              },
              (err) => {
                rec.error = String(err?.code ?? err?.message ?? err);
              },
            ),
          );
        }
        if (next < total) setTimeout(pump, Math.max(0, start + next * intervalMs - performance.now()));
        else resolveSchedule();
      };
      pump();
    });
    const sendEnd = performance.now();
    const windowStart = performance.timeOrigin + start + warmN * intervalMs;
    const windowEnd = performance.timeOrigin + sendEnd;
    await Promise.all(pending);
    await marked;
    const accepted202 = sent.filter((r) => r.status === 202);
    // Wait until the MAS holds a task for every delivery answered 202 (bounded).
    const settle = await until(async () => {
      const s = await ctx.ask(mas.child, { type: 'stats' }, 'stats');
      return s.created >= accepted202.length ? s : null;
    }, { everyMs: 100, timeoutMs: settleS * 1000 });
    const settledAfterMs = performance.now() - sendEnd;
    const rep = await ctx.ask(daemon.child, { type: 'report' }, 'report');
    const masRep = await ctx.ask(mas.child, { type: 'report' }, 'report');
    const otherCpu = closeWindow(ctx, win, [rep, masRep]);
    const m = await scrape(daemon.port);
    const { entries } = await ctx.ask(mas.child, { type: 'times' }, 'times', 60_000);
    const masStats = await ctx.ask(mas.child, { type: 'stats' }, 'stats');
    await pool.close();

    // delivery id → first acceptance at the MAS, on this process's clock.
    const acceptedAt = new Map();
    for (const [deliveryId, , at] of entries) if (!acceptedAt.has(deliveryId)) acceptedAt.set(deliveryId, at - clock.offsetMs);
    const measured = sent.filter((r) => r.measured);
    const lat = [];
    let notAccepted = 0;
    for (const r of measured) {
      if (r.status !== 202) continue;
      const t1 = acceptedAt.get(r.id);
      if (t1 === undefined) notAccepted++;
      else lat.push(t1 - r.t202);
    }
    const stopped = await stopFlow(ctx, flow);

    // Stage split from the store (millisecond wall-clock times): 202 → task row created → MAS acceptance.
    // The per-stage split reads the SQLite file; on PostgreSQL only the end-to-end figure is given.
    const stages = flow.database ? null : readStages(ctx, stopped.extra?.storePath ?? join(flow.dataDir, 'gitbridge.db'), measured, acceptedAt);

    const statuses = {};
    for (const r of measured) {
      const k = r.status ?? `error:${r.error}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    }
    const lags = measured.map((r) => r.lagMs).sort((a, b) => a - b);
    // How fast the MAS received tasks while deliveries arrived (all tasks, warm-up ones included).
    let inWindow = 0;
    for (const t1 of acceptedAt.values()) if (t1 >= windowStart && t1 < windowEnd) inWindow++;
    return {
      figure: 'e2e',
      rate,
      durationS,
      warmupS,
      sent: measured.length,
      statuses,
      answered202: measured.filter((r) => r.status === 202).length,
      latency: stats(lat),
      notAccepted,
      settled: Boolean(settle),
      settledAfterMs,
      ingest202: stats(measured.filter((r) => r.t202 !== null).map((r) => r.t202 - r.tSched)),
      senderLagMs: { p99: percentile(lags, 99), max: lags.at(-1) ?? null },
      masRateInWindow: (inWindow / (windowEnd - windowStart)) * 1000,
      clock,
      stages,
      daemon: {
        cpu: rep.cpuMs / rep.wallMs,
        elu: rep.elu,
        loopDelayMaxMs: rep.loopDelay.maxMs,
        masAccepted: sumMetric(m, 'gitbridge_mas_submissions_total', 'outcome="accepted"'),
        masAttempts: sumMetric(m, 'gitbridge_mas_submissions_total'),
        callbacksApplied: sumMetric(m, 'gitbridge_mas_callbacks_total', 'outcome="applied"'),
      },
      mas: { cpu: masRep.cpuMs / masRep.wallMs, elu: masRep.elu, created: masStats.created, submissions: masStats.submissions, callbacks: masStats.callbacks, callbackFailures: masStats.callbackFailures },
      otherCpu,
    };
  } catch (err) {
    await stopFlow(ctx, flow).catch(() => undefined);
    throw err;
  }
}

/** Per measured delivery: 202 → task created (store), task created → MAS acceptance. Null if the store cannot be read. */
function readStages(ctx, dbPath, measured, acceptedAt) {
  try {
    const Database = createRequire(join(ctx.root, 'packages/core/package.json'))('better-sqlite3');
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const created = new Map(db.prepare('SELECT delivery_id, created_at FROM tasks').raw().all().map(([d, c]) => [d, Date.parse(c)]));
      const toTask = [];
      const toMas = [];
      for (const r of measured) {
        const c = created.get(r.id);
        const a = acceptedAt.get(r.id);
        if (c === undefined || r.t202 === null) continue;
        toTask.push(c - r.t202);
        if (a !== undefined) toMas.push(a - c);
      }
      return { toTask: stats(toTask), toMas: stats(toMas) };
    } finally {
      db.close();
    }
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
}

// ---------------------------------------------------------------- drain

/** Posts `count` deliveries with `concurrency` requests in flight, spread over the daemons' `ports`; returns status counts and the time it took. */
async function postMany(ctx, ports, count, concurrency) {
  const pools = ports.map((port) => new Pool(`http://127.0.0.1:${port}`, { connections: Math.ceil(concurrency / ports.length), pipelining: 1 }));
  const statuses = {};
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const pool = pools[worker % pools.length];
      while (next < count) {
        next++;
        let k;
        try {
          k = (await postDelivery(ctx, pool, randomUUID())).status;
        } catch (err) {
          k = `error:${err?.code ?? err?.message ?? err}`;
        }
        statuses[k] = (statuses[k] ?? 0) + 1;
      }
    }),
  );
  await Promise.all(pools.map((p) => p.close()));
  return { statuses, ms: performance.now() - t0 };
}

/** GITBRIDGE_MAS_CONCURRENCY's default, from the configuration schema of the daemon under test. */
async function defaultMasConcurrency(ctx) {
  const { CONFIG_SCHEMA } = await import(pathToFileURL(join(ctx.root, 'packages/core/dist/index.js')).href);
  return Number(CONFIG_SCHEMA.find((o) => o.env === 'GITBRIDGE_MAS_CONCURRENCY')?.default);
}

/**
 * The drain of a backlog: `count` deliveries posted while the MAS is down,
 * processed into queued tasks, then the MAS comes up. `settings` defaults to
 * `ctx.opts.drain` (the `drain` part); the `backlog` part passes its own
 * (150,000 deliveries).
 */
export async function runDrain(ctx, { masConcurrency, settings = ctx.opts.drain, label = 'drain' } = {}) {
  const { count, concurrency, timeoutS, masCallbacks } = settings;
  const daemonEnv = { ...(masConcurrency ? { GITBRIDGE_MAS_CONCURRENCY: String(masConcurrency) } : {}), ...(ctx.opts.daemonEnv ?? {}) };
  const daemons = settings.daemons ?? 1;
  const flow = await startFlow(ctx, { masDown: true, daemonEnv, masCallbacks, label, daemons });
  const { mas, daemon } = flow;
  try {
    ctx.say(`  MAS down; posting ${count.toLocaleString('en-US')} deliveries (${concurrency} in flight${daemons > 1 ? `, over ${daemons} daemons` : ''}) …`);
    const posted = await postMany(ctx, flow.daemons.map((d) => d.port), count, concurrency);
    const stored = posted.statuses[202] ?? 0;
    ctx.say(`  ${stored.toLocaleString('en-US')} answered 202 in ${(posted.ms / 1000).toFixed(1)} s; waiting until every delivery is a queued task …`);
    const tQueue0 = performance.now();
    let last = null;
    const ready = await until(async () => {
      last = await scrape(daemon.port);
      return queueDepth(last) === 0 && queued(last) >= stored ? last : null;
    }, { everyMs: 250, timeoutMs: timeoutS * 1000 });
    if (!ready) {
      throw new Error(`backlog not ready within ${timeoutS} s: queue depth ${queueDepth(last)}, queued tasks ${queued(last)} of ${stored}`);
    }
    const processMs = performance.now() - tQueue0;
    // Each daemon's metrics when the MAS comes up (submissions and callbacks are per daemon).
    const befores = await Promise.all(flow.daemons.map((d) => scrape(d.port)));
    const probesWhileDown = befores.reduce((n, b) => n + sumMetric(b, 'gitbridge_mas_submissions_total'), 0);

    ctx.say(`  ${queued(ready).toLocaleString('en-US')} tasks queued (processing took ${(processMs / 1000).toFixed(1)} s after the last 202); MAS up, draining …`);
    for (const d of flow.daemons) await ctx.ask(d.child, { type: 'mark' }, 'marked');
    await ctx.ask(mas.child, { type: 'mark' }, 'marked');
    const win = openWindow(ctx);
    const pg0 = flow.database ? postgresCpuMs() : null;
    const { at: upAt } = await ctx.ask(mas.child, { type: 'up' }, 'up');
    const tUp = performance.now();
    // Daemon side: queued reaches 0 (every task recorded as accepted). Polled every 500 ms
    // (each scrape counts tasks and deliveries by state: ~1% of the daemon's loop at 4/s).
    let queuedZeroMs = null;
    const daemonSide = until(async () => {
      const mm = await scrape(daemon.port);
      if (queued(mm) === 0) {
        queuedZeroMs = performance.now() - tUp;
        return mm;
      }
      return null;
    }, { everyMs: 500, timeoutMs: timeoutS * 1000 });
    // MAS side: every task created (the times themselves are recorded in the MAS).
    const masSide = await until(async () => {
      const s = await ctx.ask(mas.child, { type: 'stats' }, 'stats');
      return s.created >= stored ? s : null;
    }, { everyMs: 100, timeoutMs: timeoutS * 1000 });
    const masRep = await ctx.ask(mas.child, { type: 'report' }, 'report');
    await daemonSide;
    const reps = [];
    for (const d of flow.daemons) reps.push(await ctx.ask(d.child, { type: 'report' }, 'report'));
    const pgCpuMs = pg0 !== null ? postgresCpuMs() - pg0 : null;
    const windowMs = performance.now() - win.t0;
    // PostgreSQL is part of the system measured, not "other processes".
    const otherCpu = closeWindow(ctx, win, [...reps, masRep, ...(pgCpuMs !== null ? [{ cpuMs: pgCpuMs }] : [])]);
    const s = masSide ?? (await ctx.ask(mas.child, { type: 'stats' }, 'stats'));
    const { entries } = await ctx.ask(mas.child, { type: 'times' }, 'times', 60_000);
    // Every daemon's metrics, summed: each submits and applies callbacks.
    const scrapes = await Promise.all(flow.daemons.map((d) => scrape(d.port)));
    await stopFlow(ctx, flow);

    // Acceptances per second after the MAS came up.
    const perSecond = [];
    for (const [, , at] of entries) {
      const sec = Math.floor((at - upAt) / 1000);
      if (sec >= 0) perSecond[sec] = (perSecond[sec] ?? 0) + 1;
    }
    const accepted = s.created;
    const drainMs = s.lastAt !== null ? s.lastAt - upAt : null;
    const firstMs = s.firstAt !== null ? s.firstAt - upAt : null;
    const delta = (name, filter) => scrapes.reduce((n, m, i) => n + sumMetric(m, name, filter) - sumMetric(befores[i], name, filter), 0);
    const dSum = delta('gitbridge_mas_submission_duration_seconds_sum', 'outcome="accepted"');
    const dCount = delta('gitbridge_mas_submission_duration_seconds_count', 'outcome="accepted"');
    // Submissions in flight at most, over all daemons.
    const conc = (masConcurrency ?? (await defaultMasConcurrency(ctx))) * daemons;
    const cpuMs = { daemons: reps.reduce((n, r) => n + r.cpuMs, 0), mas: masRep.cpuMs, postgres: pgCpuMs };
    const meanSubmitMs = dCount ? (dSum * 1000) / dCount : null;
    return {
      figure: 'drain',
      store: flow.database ? 'postgres' : 'sqlite',
      daemons,
      count,
      masConcurrency: masConcurrency ?? null,
      masConcurrencyEffective: conc,
      masCallbacks,
      posted: posted.statuses,
      postMs: posted.ms,
      processMs,
      probesWhileDown,
      accepted,
      complete: accepted >= stored,
      firstAcceptanceMs: firstMs,
      drainMs,
      tasksPerS: drainMs ? (accepted / drainMs) * 1000 : null,
      steadyTasksPerS: s.lastAt !== null && s.firstAt !== null && accepted > 1 ? ((accepted - 1) / (s.lastAt - s.firstAt)) * 1000 : null,
      peakSecond: perSecond.length ? Math.max(...perSecond.filter(Boolean)) : null,
      perSecond: perSecond.map((x) => x ?? 0),
      // From the first acceptance: the wait before it is the circuit breaker's hold
      // (at most a tenth of the outage so far), reported as firstAcceptanceMs.
      perTenSeconds: s.firstAt !== null && s.lastAt !== null ? perWindow(entries.map(([, , at]) => at - s.firstAt), 10_000, s.lastAt - s.firstAt) : [],
      queuedZeroMs,
      meanSubmitMs,
      // Little's law: with `conc` submissions in flight, each taking meanSubmitMs, at most this many per second.
      concurrencyCeilingPerS: meanSubmitMs ? (conc / meanSubmitMs) * 1000 : null,
      // cpu: cores used by all the daemons together; elu: the busiest daemon's event loop.
      daemon: { cpu: cpuMs.daemons / windowMs, elu: Math.max(...reps.map((r) => r.elu)), loopDelayMaxMs: Math.max(...reps.map((r) => r.loopDelay.maxMs)), callbacksApplied: delta('gitbridge_mas_callbacks_total', 'outcome="applied"') },
      mas: { cpu: masRep.cpuMs / masRep.wallMs, elu: masRep.elu, submissions: s.submissions, callbacks: s.callbacks, callbackFailures: s.callbackFailures },
      postgres: pgCpuMs === null ? null : { cpu: pgCpuMs / windowMs },
      // CPU per task accepted, ms, by part of the system (what bounds tasks/s on a machine of N cores).
      cpuPerTaskMs: accepted > 0 ? { daemons: cpuMs.daemons / accepted, mas: cpuMs.mas / accepted, postgres: cpuMs.postgres === null ? null : cpuMs.postgres / accepted } : null,
      otherCpu,
    };
  } catch (err) {
    await stopFlow(ctx, flow).catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------- output

const f1 = (n) => (n == null ? '–' : n.toFixed(1));
const fInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
const pct = (n) => (n == null ? '–' : `${Math.round(n * 100)}%`);

function noisy(r, log) {
  if (r.otherCpu !== null && r.otherCpu > 0.15) {
    log(`  ⚠ other processes used ${pct(r.otherCpu)} of a core during the measurement: numbers are unreliable; rerun on a quiet machine.`);
  }
}

export function e2eGoal(r) {
  return r.latency.p99Ms !== null && r.notAccepted === 0 && r.latency.p99Ms < E2E_GOAL_P99_MS;
}

export function printE2e(r, log = console.log) {
  const l = r.latency;
  log(`\nend-to-end, 202 → MAS acceptance: ${r.rate} deliveries/s open loop, ${r.durationS} s measured (${r.warmupS} s warm-up before)`);
  log(`  deliveries  p50 ms  p90 ms  p99 ms  max ms  not accepted`);
  log(`  ${fInt(l.count).padStart(10)}  ${f1(l.p50Ms).padStart(6)}  ${f1(l.p90Ms).padStart(6)}  ${f1(l.p99Ms).padStart(6)}  ${f1(l.maxMs).padStart(6)}  ${fInt(r.notAccepted).padStart(12)}`);
  log(`  sent ${fInt(r.sent)}, answers ${JSON.stringify(r.statuses)}; ingest (send → 202) p50 ${f1(r.ingest202.p50Ms)} ms, p99 ${f1(r.ingest202.p99Ms)} ms; ` +
    `sender lag p99 ${f1(r.senderLagMs.p99)} ms, max ${f1(r.senderLagMs.max)} ms`);
  log(`  the MAS received ${fInt(r.masRateInWindow)} tasks/s during the window (deliveries arrived at ${r.rate}/s); ` +
    `the last task reached it ${f1(r.settledAfterMs / 1000)} s after the last send`);
  if (r.stages && !r.stages.error) {
    log(`  stages (ms clocks): 202 → task row p50 ${f1(r.stages.toTask.p50Ms)} / p99 ${f1(r.stages.toTask.p99Ms)} ms; ` +
      `task row → MAS p50 ${f1(r.stages.toMas.p50Ms)} / p99 ${f1(r.stages.toMas.p99Ms)} ms`);
  }
  log(`  daemon CPU ${pct(r.daemon.cpu)}, event loop busy ${pct(r.daemon.elu)}, max stall ${f1(r.daemon.loopDelayMaxMs)} ms; ` +
    `MAS: ${fInt(r.mas.created)} tasks, ${fInt(r.mas.callbacks)} callbacks (${fInt(r.mas.callbackFailures)} not 2xx); ` +
    `clock offset ±${r.clock.uncertaintyMs.toFixed(2)} ms` + (r.settled ? '' : `; NOT every task reached the MAS within the wait`));
  noisy(r, log);
}

export function drainGoal(r) {
  return r.complete && r.tasksPerS !== null && r.tasksPerS >= DRAIN_GOAL_TASKS_PER_S;
}

/**
 * Acceptances per second in consecutive windows of `windowMs` after the MAS
 * came up, until the last acceptance (`endMs`): `{fromS, toS, perS}` each; the
 * last window is as long as what is left of the drain.
 */
function perWindow(offsetsMs, windowMs, endMs) {
  if (endMs === null || endMs <= 0) return [];
  const windows = [];
  for (let from = 0; from < endMs; from += windowMs) {
    const to = Math.min(endMs, from + windowMs);
    const n = offsetsMs.filter((t) => t >= from && (t < to || (to === endMs && t <= to))).length;
    windows.push({ fromS: from / 1000, toS: to / 1000, perS: (n / Math.max(1, to - from)) * 1000 });
  }
  return windows;
}

/**
 * The large-backlog goal (issue: a drain that slows as the backlog grows): every
 * 10-s window of the drain, from the first acceptance to the last, at or above
 * the drain goal; the last window is as long as what is left. The time from
 * "MAS up" to the first acceptance is the circuit breaker's hold, which grows
 * with the outage (at most a tenth of it, 60 s at most: circuit-breaker.ts),
 * not with the backlog; it is printed on its own.
 */
export function backlogGoal(r) {
  return r.complete && r.perTenSeconds.length > 0 && r.perTenSeconds.every((w) => w.perS >= DRAIN_GOAL_TASKS_PER_S);
}

export function printBacklog(r, log = console.log) {
  printDrain(r, log);
  log(`  per 10 s from the first acceptance (tasks/s): ${r.perTenSeconds.map((w) => `${w.fromS}-${f1(w.toS)} s: ${fInt(w.perS)}`).join(', ')}`);
  const slowest = r.perTenSeconds.reduce((m, w) => (m === null || w.perS < m.perS ? w : m), null);
  if (slowest) log(`  slowest window ${slowest.fromS}-${f1(slowest.toS)} s: ${fInt(slowest.perS)} tasks/s`);
}

export function printDrain(r, log = console.log) {
  const setting = r.masConcurrency ? `GITBRIDGE_MAS_CONCURRENCY=${r.masConcurrency}` : `default settings (GITBRIDGE_MAS_CONCURRENCY=${r.masConcurrencyEffective})`;
  log(`\nbacklog drain: ${fInt(r.count)} queued tasks, MAS down then up; ${setting}${r.masCallbacks ? '' : ', MAS callbacks off'}; ` +
    `store ${r.store}${r.daemons > 1 ? `, ${r.daemons} daemons` : ''}`);
  log(`  tasks accepted  drain s  tasks/s  steady tasks/s  best 1-s  first acceptance ms  queued=0 seen at s`);
  log(`  ${fInt(r.accepted).padStart(14)}  ${f1(r.drainMs / 1000).padStart(7)}  ${fInt(r.tasksPerS).padStart(7)}  ${fInt(r.steadyTasksPerS).padStart(14)}  ${fInt(r.peakSecond).padStart(8)}  ${f1(r.firstAcceptanceMs).padStart(19)}  ${r.queuedZeroMs == null ? '–'.padStart(17) : (r.queuedZeroMs / 1000).toFixed(1).padStart(17)}`);
  log(`  tasks/s: accepted ÷ (last acceptance − MAS up), both in the MAS's clock; steady: after the first acceptance.`);
  log(`  backlog: ${JSON.stringify(r.posted)} in ${f1(r.postMs / 1000)} s, processed into tasks ${f1(r.processMs / 1000)} s later; ${fInt(r.probesWhileDown)} submission attempts while the MAS was down`);
  log(`  mean accepted submission ${f1(r.meanSubmitMs)} ms → concurrency ceiling ${fInt(r.concurrencyCeilingPerS)} tasks/s (${r.masConcurrencyEffective} in flight); ` +
    `${r.daemons > 1 ? `${r.daemons} daemons' CPU ${pct(r.daemon.cpu)} of a core, busiest event loop ${pct(r.daemon.elu)}` : `daemon CPU ${pct(r.daemon.cpu)}, event loop busy ${pct(r.daemon.elu)}`}; ` +
    `MAS CPU ${pct(r.mas.cpu)}, loop busy ${pct(r.mas.elu)}${r.postgres ? `; PostgreSQL CPU ${pct(r.postgres.cpu)} of a core` : ''}; ` +
    `${fInt(r.daemon.callbacksApplied)} callbacks applied during the drain`);
  if (r.cpuPerTaskMs) {
    const c = r.cpuPerTaskMs;
    const total = c.daemons + c.mas + (c.postgres ?? 0);
    log(`  CPU per accepted task: daemon${r.daemons > 1 ? 's' : ''} ${c.daemons.toFixed(2)} ms, MAS ${c.mas.toFixed(2)} ms` +
      `${c.postgres !== null ? `, PostgreSQL ${c.postgres.toFixed(2)} ms` : ''}; ${total.toFixed(2)} ms in all → at most ${fInt((1000 * cpus().length) / total)} tasks/s on this machine's ${cpus().length} cores`);
  }
  log(`  per second after MAS up: ${r.perSecond.slice(0, 30).map(fInt).join(' ')}${r.perSecond.length > 30 ? ' …' : ''}`);
  noisy(r, log);
}
