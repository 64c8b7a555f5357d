#!/usr/bin/env node
// Benchmark: `pnpm bench` (= `pnpm run build && node bench/run.mjs`). Five
// parts, all run by default, selectable with --only (docs/benchmarks.md):
//
//   ingest   the four receivers below (this file)
//   e2e      202 → MAS acceptance latency at a steady open-loop rate (bench/flow.mjs)
//   drain    a 10,000-task backlog handed to a MAS that comes back (bench/flow.mjs)
//   backlog  the same with a 150,000-task backlog, reported per 10 s (bench/flow.mjs)
//   startup  `gitbridge tasks ls` start-up vs `node -e 0` (bench/startup.mjs)
//
// Ingest: in one run and one process tree, loads four webhook receivers with the
// same signed `pull_request.opened` delivery (the real ~21 KB example from
// @octokit/webhooks-examples) and prints req/s, p50 and p99 of each, and
// their ratio to @octokit/webhooks' node middleware:
//
//   fastify     bare fastify, buffer body parser, answers 202 (the ceiling)
//   octokit     @octokit/webhooks createNodeMiddleware on node:http (the yardstick)
//   floor       the least a durable ingest can do: HMAC, JSON.parse, one
//               group-committed INSERT of the body into SQLite, 202 (no features)
//   gitbridged  the real daemon (startDaemon): verify, parse, rate-limit,
//               group-commit to SQLite, then 202; workers run behind it
//
// Each target runs in its own child process (fork), so the load generator
// (autocannon, in this process) never shares an event loop with a server.
// Every request carries a fresh X-GitHub-Delivery (gitbridged answers 200
// "duplicate" to a repeated id and stores nothing). After the gitbridged run
// the SQLite file is opened and every 202 is checked against a stored row.
//
// Not part of the test suite. Binds 127.0.0.1 only; bounded in time; cleans
// up its children and temp dirs.
//
// Usage: node bench/run.mjs [--only ingest,e2e,drain,startup] [--duration S]
//          [--warmup S] [--connections N] [--rounds N]
//          [--targets fastify,octokit,floor,gitbridged] [--json] [--cpu-prof [DIR]]
//          [--root DIR] [--e2e-* …] [--drain-* …] [--startup-* …]   (see --help)

import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { runE2e, runDrain, printE2e, printDrain, printBacklog, e2eGoal, drainGoal, backlogGoal, E2E_GOAL_P99_MS, DRAIN_GOAL_TASKS_PER_S } from './flow.mjs';
import { runStartup, printStartup, startupGoal, STARTUP_GOAL_RATIO } from './startup.mjs';
import { createBenchDatabase, DEFAULT_PG_URL } from './pg.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '..');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- options

const USAGE = `usage: node bench/run.mjs [options]
  --only LIST         comma-separated subset of ingest,e2e,drain,backlog,startup (default all;
                      --targets without --only means --only ingest, as before)
  --json              print the results as JSON instead of tables
  --cpu-prof [DIR]    write V8 CPU profiles of the daemon to DIR, one file per daemon
                      process (the gitbridged ingest target, the e2e and drain daemons),
                      and of the floor/calib targets (in DIR/<target>-round<N>/)
                      (default: a new directory under the OS temp dir; kept)
  --store S           sqlite (default) or postgres: the store of the e2e, drain and backlog daemons (a fresh
                      database on --pg-url's server, dropped afterwards; the start-up part stays on SQLite)
  --pg-url URL        the PostgreSQL server for --store postgres and the gitbridged-pg ingest target
                      (default postgres://postgres@127.0.0.1:5432/postgres)
  --root DIR          take gitbridged from DIR/packages/{core,daemon}/dist instead
                      of this checkout (A/B of a patched, built copy)

ingest (bare fastify vs @octokit/webhooks vs a minimal durable ingest vs gitbridged, closed loop):
  --duration S        measured run per target, seconds (default 10)
  --warmup S          warm-up run per target, seconds (default 3)
  --connections N     autocannon connections (default 32)
  --rounds N          repeat the whole sequence N times and report medians
                      (default 1; use 3+ on a shared or noisy machine)
  --targets LIST      comma-separated subset of fastify,octokit,floor,gitbridged,gitbridged-pg (default: all but
                      gitbridged-pg, the daemon on a fresh PostgreSQL database of --pg-url's server),
                      run in the order given; \`calib\` (not in the default set) is an
                      independently written floor used to check \`floor\` (bench/FINDINGS-floor.md)

e2e (202 → MAS acceptance, open loop, real daemon + reference MAS):
  --e2e-rate N        deliveries per second (default 200)
  --e2e-duration S    measured window, seconds (default 10)
  --e2e-warmup S      load at the same rate before the window, seconds (default 2)

drain (backlog built while the MAS is down, then drained):
  --drain-count N               deliveries in the backlog (default 10000)
  --drain-concurrency N         requests in flight while posting them (default 32)
  --drain-mas-concurrency LIST  GITBRIDGE_MAS_CONCURRENCY values, one drain each;
                                "default" = the daemon's default (default: default)
  --drain-callbacks on|off      reference MAS callbacks during the drain (default on)
  --drain-timeout S             bound on each wait of the drain, seconds (default 180)
  --drain-daemons N             daemons sharing the store (--store postgres), deliveries spread over them (default 1)

backlog (the drain of a large backlog, rates per 10 s; the issue's 150,000-delivery soak):
  --backlog-count N             deliveries in the backlog (default 150000)
  --backlog-timeout S           bound on each wait, seconds (default 600)
  --backlog-daemons N           daemons sharing the store (--store postgres) (default 1)

startup (CLI start-up):
  --startup-runs N    runs of each command (default 25)
  --startup-tasks N   tasks in the store that tasks ls reads (default 100)

  -h, --help          this text`;

const ALL_TARGETS = ['fastify', 'octokit', 'floor', 'gitbridged'];
// Not run by default: `calib`, a floor written independently of target-floor.mjs
// to check it (bench/FINDINGS-floor.md). Runs where it is listed in --targets.
const KNOWN_TARGETS = ['fastify', 'octokit', 'calib', 'floor', 'gitbridged', 'gitbridged-pg'];
const ALL_PARTS = ['ingest', 'e2e', 'drain', 'backlog', 'startup'];
const LABELS = {
  fastify: 'bare fastify (202)',
  octokit: '@octokit/webhooks middleware',
  calib: 'independent minimal durable ingest (calibration)',
  floor: 'minimal durable ingest (HMAC, parse, one INSERT)',
  gitbridged: 'gitbridged (durable ingest)',
  'gitbridged-pg': 'gitbridged on PostgreSQL (durable ingest)',
};
const GOAL_RATIO = 0.8;
const GOAL_P99_MS = 25;
const GOAL_FLOOR_RATIO = 0.9;
const GOAL_PG_RATIO = 0.5;
const GOAL_PG_P99_MS = 50;

function parseArgs(argv) {
  const o = {
    only: ALL_PARTS, duration: 10, warmup: 3, connections: 32, rounds: 1, targets: ALL_TARGETS, json: false, cpuProf: null, root: ROOT,
    store: 'sqlite', pgUrl: DEFAULT_PG_URL,
    e2e: { rate: 200, durationS: 10, warmupS: 2, settleS: 60 },
    drain: { count: 10_000, concurrency: 32, masConcurrency: [null], masCallbacks: true, timeoutS: 180, daemons: 1 },
    backlog: { count: 150_000, concurrency: 32, masCallbacks: true, timeoutS: 600, daemons: 1 },
    startup: { runs: 25, tasks: 100 },
  };
  let targetsGiven = false;
  let onlyGiven = false;
  const list = (name, v, allowed) => {
    const l = String(v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const bad = l.filter((t) => !allowed.includes(t));
    if (l.length === 0 || bad.length) fail(`${name} takes a subset of ${allowed.join(',')}`);
    return allowed.filter((t) => l.includes(t));
  };
  // --targets also takes variants of a target for experiments, `floor:FLOOR_PAGE=65536:FLOOR_CKPT=auto`:
  // the same target file with those environment variables set; for gitbridged only GITBRIDGE_* settings
  // (`gitbridged:GITBRIDGE_LOG_LEVEL=info`) and BENCH_ROOT (a patched, built copy, as --root).
  const targetList = (name, v) => {
    const l = String(v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    for (const t of l) {
      const [base, ...vars] = t.split(':');
      const badVar = (x) => !/^[A-Z][A-Z0-9_]*=[^:,]*$/.test(x) || (base.startsWith('gitbridged') && !/^(GITBRIDGE_[A-Z0-9_]+|BENCH_ROOT)=/.test(x));
      if (!KNOWN_TARGETS.includes(base) || vars.some(badVar)) {
        fail(`${name} takes a subset of ${KNOWN_TARGETS.join(',')} in any order, or variants such as floor:FLOOR_PAGE=65536 (got ${t})`);
      }
    }
    if (l.length === 0) fail(`${name} takes a subset of ${KNOWN_TARGETS.join(',')}`);
    return [...new Set(l)];
  };
  const num = (name, v, min) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) fail(`${name} must be a number ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline;
    if (a.startsWith('--') && a.includes('=')) [a, inline] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    const value = () => inline ?? argv[++i];
    switch (a) {
      case '--duration': o.duration = num(a, value(), 1); break;
      case '--warmup': o.warmup = num(a, value(), 0); break;
      case '--connections': o.connections = Math.floor(num(a, value(), 1)); break;
      case '--rounds': o.rounds = Math.floor(num(a, value(), 1)); break;
      case '--root': o.root = resolve(String(value() ?? '')); break;
      case '--targets': o.targets = targetList(a, value()); targetsGiven = true; break;
      case '--only': o.only = list(a, value(), ALL_PARTS); onlyGiven = true; break;
      case '--e2e-rate': o.e2e.rate = num(a, value(), 1); break;
      case '--e2e-duration': o.e2e.durationS = num(a, value(), 1); break;
      case '--e2e-warmup': o.e2e.warmupS = num(a, value(), 0); break;
      case '--drain-count': o.drain.count = Math.floor(num(a, value(), 1)); break;
      case '--drain-concurrency': o.drain.concurrency = Math.floor(num(a, value(), 1)); break;
      case '--drain-timeout': o.drain.timeoutS = num(a, value(), 10); break;
      case '--backlog-count': o.backlog.count = Math.floor(num(a, value(), 1)); break;
      case '--drain-daemons': o.drain.daemons = Math.floor(num(a, value(), 1)); break;
      case '--store': {
        const v = String(value() ?? '');
        if (v !== 'sqlite' && v !== 'postgres') fail(`${a} takes sqlite or postgres`);
        o.store = v;
        break;
      }
      case '--pg-url': o.pgUrl = String(value() ?? ''); break;
      case '--backlog-timeout': o.backlog.timeoutS = num(a, value(), 10); break;
      case '--backlog-daemons': o.backlog.daemons = Math.floor(num(a, value(), 1)); break;
      case '--drain-mas-concurrency':
        o.drain.masConcurrency = String(value() ?? '').split(',').map((x) => x.trim()).filter(Boolean)
          .map((x) => (x === 'default' ? null : Math.floor(num(a, x, 1))));
        if (o.drain.masConcurrency.length === 0) fail(`${a} takes a list of numbers or "default"`);
        break;
      case '--drain-callbacks': {
        const v = String(value() ?? '');
        if (v !== 'on' && v !== 'off') fail(`${a} takes on or off`);
        o.drain.masCallbacks = v === 'on';
        break;
      }
      case '--startup-runs': o.startup.runs = Math.floor(num(a, value(), 3)); break;
      case '--startup-tasks': o.startup.tasks = Math.floor(num(a, value(), 1)); break;
      case '--json': o.json = true; break;
      case '--cpu-prof':
        if (inline !== undefined) o.cpuProf = resolve(inline);
        else if (argv[i + 1] && !argv[i + 1].startsWith('-')) o.cpuProf = resolve(argv[++i]);
        else o.cpuProf = '';
        break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: fail(`unknown argument ${a}\n${USAGE}`);
    }
  }
  // `--targets` without `--only` keeps its old meaning: those ingest targets, nothing else.
  if (targetsGiven && !onlyGiven) o.only = ['ingest'];
  // Two daemons on one SQLite file would be two writers on one disk, not a deployment GitBridge supports.
  if (o.store !== 'postgres' && (o.drain.daemons > 1 || o.backlog.daemons > 1)) fail('--drain-daemons and --backlog-daemons above 1 need --store postgres');
  return o;
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const say = opts.json ? (...a) => console.error(...a) : (...a) => console.log(...a);

// ---------------------------------------------------------------- resources & cleanup

const children = new Set();
const tempDirs = new Set();
let cleanedUp = false;

function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`bench: ${sig}: stopping`);
    cleanup();
    process.exit(130);
  });
}

// Hard bound on the whole run: startup, warm-up and measured runs, shutdowns.
const has = (part) => opts.only.includes(part);
const budgetS = 30 +
  (has('ingest') ? opts.rounds * opts.targets.length * (opts.warmup + opts.duration + 60) : 0) +
  (has('e2e') ? opts.e2e.warmupS + opts.e2e.durationS + opts.e2e.settleS + 90 : 0) +
  (has('drain') ? opts.drain.masConcurrency.length * (3 * opts.drain.timeoutS + 60) : 0) +
  (has('backlog') ? 3 * opts.backlog.timeoutS + 60 : 0) +
  (has('startup') ? 120 + opts.startup.runs * 3 * 5 : 0);
const watchdog = setTimeout(() => {
  console.error(`bench: did not finish within ${budgetS} s: aborting`);
  cleanup();
  process.exit(3);
}, budgetS * 1000);
watchdog.unref();

/**
 * node flags that write a CPU profile of a daemon child (--cpu-prof), or none; with `name`, into the
 * subdirectory `name` (each thread writes its own file: CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile,
 * the event loop's has thread id 0).
 */
function profArgs(name) {
  if (opts.cpuProf === null) return [];
  opts.cpuProfDir ??= opts.cpuProf || mkdtempSync(join(tmpdir(), 'gitbridge-bench-prof-'));
  const dir = name ? join(opts.cpuProfDir, name) : opts.cpuProfDir;
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Forks `file` and waits for its `{type:'ready', port}` message. */
function startChild(file, { env = {}, execArgv = [], timeoutMs = 30_000 } = {}) {
  const child = fork(join(HERE, file), [], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolveReady({ child, port: m.port });
      }
    };
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before it was ready (code ${code}, signal ${signal})`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Sends `msg` to a child and waits for the reply of type `replyType`. */
function ask(child, msg, replyType, timeoutMs = 15_000) {
  return new Promise((resolveReply, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${replyType} reply to ${msg.type} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m) => {
      if (m?.type === replyType) done(null, m);
      else if (m?.type === 'error') done(new Error(`target failed: ${m.message}`));
    };
    const onExit = (code, signal) => done(new Error(`target exited (code ${code}, signal ${signal}) while waiting for ${replyType}`));
    function done(err, m) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolveReply(m);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(msg);
  });
}

/** Stops a target gracefully (its `stop` reply), then waits for it to exit; SIGKILL as a last resort. */
async function stopChild(child, timeoutMs = 15_000) {
  let reply;
  try {
    reply = await ask(child, { type: 'stop' }, 'stopped', timeoutMs);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
  return reply;
}

// ---------------------------------------------------------------- payload

const SECRET = `bench-${randomUUID()}`;
const { sign } = await import(pathToFileURL(join(ROOT, 'packages/core/dist/webhook/signature.js')).href);

function loadPayload() {
  const examples = require('@octokit/webhooks-examples');
  const pr = examples.find((e) => e.name === 'pull_request');
  const opened = pr?.examples.find((x) => x.action === 'opened');
  if (!opened) throw new Error('@octokit/webhooks-examples has no pull_request.opened example');
  return Buffer.from(JSON.stringify(opened), 'utf8');
}

const BODY = loadPayload();
const payloadJson = JSON.parse(BODY.toString('utf8'));
const SIGNATURE = sign(SECRET, BODY);
/**
 * The flow parts (e2e, drain, backlog) send deliveries of ENTITIES different
 * pull requests (the same payload with another number), signed once each:
 * GitBridge submits the tasks of one pull request one after the other (per-entity
 * order), so a backlog of one pull request's events measures one entity's round
 * trips, not the drain (docs/benchmarks.md).
 */
const ENTITIES = 1000;
const VARIANTS = Array.from({ length: ENTITIES }, (_, i) => {
  const body = Buffer.from(JSON.stringify({ ...payloadJson, number: i + 1, pull_request: { ...payloadJson.pull_request, number: i + 1 } }), 'utf8');
  return { body, signature: sign(SECRET, body) };
});
const BASE_HEADERS = {
  'content-type': 'application/json',
  'user-agent': 'GitHub-Hookshot/bench',
  'x-github-event': 'pull_request',
  'x-github-hook-id': '1',
  'x-github-hook-installation-target-type': 'repository',
  'x-github-hook-installation-target-id': String(payloadJson.repository?.id ?? 1),
  'x-hub-signature-256': SIGNATURE,
};

// ---------------------------------------------------------------- load

/**
 * One autocannon run. Every request gets a fresh X-GitHub-Delivery (the
 * signature covers only the body, so one signature serves all). `onAccepted`
 * receives each 202's body.
 */
function load(port, durationS, { onAccepted } = {}) {
  const request = {
    method: 'POST',
    path: '/webhook',
    headers: BASE_HEADERS,
    body: BODY,
    setupRequest(req) {
      req.headers['x-github-delivery'] = randomUUID();
      return req;
    },
  };
  if (onAccepted) {
    request.onResponse = (status, body) => {
      if (status === 202) onAccepted(body);
    };
  }
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: opts.connections,
    pipelining: 1,
    duration: durationS,
    timeout: 10,
    requests: [request],
  });
}

function summarize(result) {
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return {
    reqPerSec: result.requests.average,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    durationS: result.duration,
  };
}

// ---------------------------------------------------------------- CPU accounting

/** Busy CPU time of the whole machine so far, ms (Linux /proc/stat; null elsewhere). */
function machineBusyMs() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
    return (busy * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

async function masCpuMs(mas) {
  if (!mas) return 0;
  return (await ask(mas.child, { type: 'cpu' }, 'cpu')).cpuMs;
}

// ---------------------------------------------------------------- targets

async function runTarget(name, mas, round) {
  const env = { BENCH_SECRET: SECRET };
  // A variant (`floor:FLOOR_PAGE=65536`): the target file, with those environment variables.
  const [base, ...vars] = name.split(':');
  const given = Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  const execArgv = [];
  let dataDir;
  let database = null;
  const daemonTarget = base === 'gitbridged' || base === 'gitbridged-pg';
  if (daemonTarget) {
    const dir = tempDir('gitbridge-bench-');
    dataDir = join(dir, 'data');
    Object.assign(env, { BENCH_ROOT: given.BENCH_ROOT ?? opts.root, BENCH_DATA_DIR: dataDir, BENCH_LOG_DIR: join(dir, 'logs'), BENCH_MAS_URL: `http://127.0.0.1:${mas.port}` });
    const daemonEnv = Object.fromEntries(Object.entries(given).filter(([k]) => k.startsWith('GITBRIDGE_')));
    // gitbridged-pg: the same daemon on a fresh PostgreSQL database (--pg-url's server).
    if (base === 'gitbridged-pg') {
      database = await createBenchDatabase(opts.root, opts.pgUrl);
      daemonEnv.GITBRIDGE_DATABASE_URL = database.url;
    }
    if (Object.keys(daemonEnv).length) env.BENCH_DAEMON_ENV = JSON.stringify({ ...JSON.parse(process.env.BENCH_DAEMON_ENV || '{}'), ...daemonEnv });
  } else {
    Object.assign(env, given);
  }
  // The daemon, and the floor targets to compare it with (one profile per target and round).
  if (daemonTarget || base === 'floor' || base === 'calib') execArgv.push(...profArgs(`${name.replace(/[^A-Za-z0-9_=-]+/g, '_')}-round${round}`));
  say(`\n▶ ${name}: ${LABELS[base]}${opts.rounds > 1 ? ` (round ${round}/${opts.rounds})` : ''}`);
  const { child, port } = await startChild(`target-${daemonTarget ? 'gitbridged' : base}.mjs`, { env, execArgv });

  // Every 202 received, by delivery id (gitbridged only): checked against the store afterwards.
  const acked = daemonTarget ? new Set() : null;
  const onAccepted = acked
    ? (body) => {
        try {
          acked.add(JSON.parse(body).delivery_id);
        } catch {
          acked.add(`unparseable:${acked.size}`);
        }
      }
    : undefined;

  let warm = null;
  if (opts.warmup > 0) {
    say(`  warm-up ${opts.warmup} s …`);
    warm = summarize(await load(port, opts.warmup, { onAccepted }));
  }
  say(`  measuring ${opts.duration} s …`);
  await ask(child, { type: 'mark' }, 'marked');
  const mas0 = await masCpuMs(mas);
  const busy0 = machineBusyMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const measured = summarize(await load(port, opts.duration, { onAccepted }));
  const wallMs = performance.now() - t0;
  const cpu1 = process.cpuUsage(cpu0);
  const busy1 = machineBusyMs();
  const rep = await ask(child, { type: 'report' }, 'report');
  const masMs = (await masCpuMs(mas)) - mas0;
  const stopped = await stopChild(child);

  const loadgenMs = (cpu1.user + cpu1.system) / 1000;
  const out = {
    target: name,
    label: LABELS[name.split(':')[0]],
    round,
    ...measured,
    warmup: warm,
    // CPU, in cores (1 = one core fully busy), over the measured window.
    targetCpu: rep.cpuMs / rep.wallMs,
    targetEventLoopUtilization: rep.elu,
    // How long timers fired late on the target's event loop (5 ms resolution): stalls show here.
    targetLoopDelay: rep.loopDelay,
    // The measured window on the clock of the target's CPU profile (µs), to cut a --cpu-prof profile to it.
    targetWindow: rep.window,
    loadGeneratorCpu: loadgenMs / wallMs,
    masStubCpu: daemonTarget ? masMs / wallMs : 0,
    // Cost per answered request, robust to a busy machine: CPU time of the target
    // process (all threads), and time its event loop was busy (includes synchronous I/O waits).
    cpuUsPerReq: measured.requests ? (rep.cpuMs * 1000) / measured.requests : null,
    loopUsPerReq: measured.requests ? (rep.elu * rep.wallMs * 1000) / measured.requests : null,
    // Everything else on the machine (other processes): makes a run noisy.
    otherCpu: busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0 - loadgenMs - rep.cpuMs * (wallMs / rep.wallMs) - masMs) / wallMs),
  };

  if (base === 'floor' || base === 'calib') out.store = { ...(stopped.extra ?? {}), measured: rep.extra ?? null };
  if (daemonTarget) {
    const extra = stopped.extra ?? {};
    out.daemon = {
      accepted: extra.accepted,
      duplicates: extra.duplicates,
      groupCommits: extra.commits,
      avgBatch: extra.commits ? extra.committedRows / extra.commits : null,
      avgCommitMs: extra.commits ? (extra.commitSeconds * 1000) / extra.commits : null,
      processedByWorker: extra.processed,
      masAccepted: extra.masAccepted,
      masFailed: extra.masFailed,
    };
    if (database) {
      out.integrity = integrity(await database.storedIds(), acked, extra.accepted);
      await database.drop();
    } else {
      out.integrity = verifyStore(extra.storePath ?? join(dataDir, 'gitbridge.db'), acked, extra.accepted);
    }
  }
  return out;
}

/**
 * Opens the daemon's SQLite file (after a clean stop) and checks that every
 * 202 the load generator received has a committed row, and that the store
 * holds exactly as many deliveries as the daemon answered 202.
 */
function verifyStore(dbPath, acked, serverAccepted) {
  const coreRequire = createRequire(join(opts.root, 'packages/core/package.json'));
  const Database = coreRequire('better-sqlite3');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return integrity(new Set(db.prepare('SELECT delivery_id FROM deliveries').pluck().all()), acked, serverAccepted);
  } finally {
    db.close();
  }
}

/** Every 202 the load generator received has its stored row, and the store holds as many deliveries as the daemon answered 202. */
function integrity(ids, acked, serverAccepted) {
  let missing = 0;
  for (const id of acked) if (!ids.has(id)) missing++;
  return {
    stored: ids.size,
    // 202s the daemon sent (its own counter, incremented right before each 202).
    answered202: serverAccepted,
    // 202s the load generator read (warm-up + measured); a few fewer than
    // answered202 because autocannon stops with responses in flight.
    received202: acked.size,
    received202WithoutRow: missing,
    ok: missing === 0 && ids.size === serverAccepted,
  };
}

// ---------------------------------------------------------------- aggregation & output

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);

/** One row per target: medians over the rounds (the single round when --rounds 1). */
function aggregate(name, runs, octokitRuns, floorRuns = []) {
  // Ratio to octokit (and to the floor) per round (both measured minutes apart on the same machine), then the median.
  const ratiosTo = (refRuns) => refRuns.length
    ? runs.map((r) => {
        const o = refRuns.find((x) => x.round === r.round);
        return o ? r.reqPerSec / o.reqPerSec : null;
      })
    : [];
  return {
    ratioToOctokit: median(ratiosTo(octokitRuns)),
    ratioToFloor: median(ratiosTo(floorRuns)),
    target: name,
    label: LABELS[name.split(':')[0]],
    rounds: runs.length,
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    non2xx: sum(runs.map((r) => r.non2xx)),
    errors: sum(runs.map((r) => r.errors)),
    timeouts: sum(runs.map((r) => r.timeouts)),
    targetCpu: median(runs.map((r) => r.targetCpu)),
    cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
    loopUsPerReq: median(runs.map((r) => r.loopUsPerReq)),
    loopDelayMaxMs: median(runs.map((r) => r.targetLoopDelay?.maxMs)),
    loadGeneratorCpu: median(runs.map((r) => r.loadGeneratorCpu)),
    otherCpu: median(runs.map((r) => r.otherCpu)),
    reqPerSecByRound: runs.map((r) => Math.round(r.reqPerSec)),
  };
}

const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
const fmtMs = (n) => (n == null ? '–' : n.toFixed(n < 10 ? 2 : 1));
const pct = (n) => (n == null ? '–' : `${Math.round(n * 100)}%`);

function table(rows) {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'vs octokit', 'vs floor', 'CPU µs/req', 'loop µs/req', 'max stall ms', 'target CPU', 'loadgen CPU', 'other CPU'];
  const body = rows.map((r) => [
    r.target,
    fmtInt(r.reqPerSec),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmtInt(r.non2xx + r.errors + r.timeouts),
    r.ratioToOctokit == null ? 'n/a' : `${r.ratioToOctokit.toFixed(2)}×`,
    r.ratioToFloor == null ? 'n/a' : `${r.ratioToFloor.toFixed(2)}×`,
    fmtInt(r.cpuUsPerReq),
    fmtInt(r.loopUsPerReq),
    fmtMs(r.loopDelayMaxMs),
    pct(r.targetCpu),
    pct(r.loadGeneratorCpu),
    pct(r.otherCpu),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------- main

/** The ingest part: the targets, their table and goal lines. */
async function ingestPart() {
  let mas = null;
  if (opts.targets.some((t) => t.startsWith('gitbridged'))) mas = await startChild('mas-stub.mjs');

  const runs = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const name of opts.targets) runs.push(await runTarget(name, mas, round));
  }
  if (mas) mas.child.kill('SIGTERM');

  const octokitRuns = runs.filter((r) => r.target === 'octokit');
  const floorRuns = runs.filter((r) => r.target === 'floor');
  const rows = opts.targets.map((name) => aggregate(name, runs.filter((r) => r.target === name), octokitRuns, floorRuns));
  const octokit = rows.find((r) => r.target === 'octokit');
  const gb = rows.find((r) => r.target === 'gitbridged');
  const floor = rows.find((r) => r.target === 'floor');
  const gbPg = rows.find((r) => r.target === 'gitbridged-pg');
  const gbRuns = runs.filter((r) => r.target.split(':')[0].startsWith('gitbridged'));

  const failures = [];
  for (const r of runs) {
    if (r.non2xx + r.errors + r.timeouts > 0) {
      failures.push(`${r.target} (round ${r.round}): ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts (statuses ${JSON.stringify(r.statuses)})`);
    } else if (r.target.split(':')[0].startsWith('gitbridged')) {
      const not202 = Object.entries(r.statuses).filter(([s]) => s !== '202').reduce((n, [, c]) => n + c, 0);
      if (not202 > 0) failures.push(`${r.target} (round ${r.round}): ${not202} answers other than 202 (statuses ${JSON.stringify(r.statuses)})`);
    }
    if (r.integrity && !r.integrity.ok) failures.push(`${r.target} (round ${r.round}) store check failed: ${JSON.stringify(r.integrity)}`);
  }
  const integrityOk = gbRuns.every((r) => r.integrity.ok);
  const goals = gb && octokit
    ? {
        ratio: gb.ratioToOctokit,
        throughput: gb.ratioToOctokit >= GOAL_RATIO ? 'PASS' : 'MISS',
        p99: gb.p99Ms < GOAL_P99_MS ? 'PASS' : 'MISS',
        committedBefore202: integrityOk ? 'PASS' : 'FAIL',
      }
    : null;
  const noisy = rows.some((r) => r.otherCpu !== null && r.otherCpu > 0.15);

  const print = () => {
    console.log(`\n${table(rows)}`);
    console.log([
      '  req/s: autocannon average of per-second samples; p50/p99: request latency; vs octokit / vs floor: req/s ÷',
      '  octokit\'s / the floor\'s req/s in the same round (median of the per-round ratios with --rounds).',
      '  CPU µs/req: CPU time of the target process (all its threads) per answered request. loop µs/req: time its',
      '  event loop was busy per request (CPU and synchronous I/O); 1e6 / loop µs/req is what one event loop can',
      '  sustain. Both hold up on a busy machine better than req/s does. max stall: longest event-loop delay seen.',
      '  target/loadgen/other CPU: cores used (100% = one core) by the target, by autocannon, and by everything',
      '  else on the machine during the measured run.' + (opts.rounds > 1 ? ' Medians over the rounds; req/s per round:' : ''),
    ].join('\n'));
    if (opts.rounds > 1) for (const r of rows) console.log(`    ${r.target.padEnd(10)} ${r.reqPerSecByRound.map(fmtInt).join('  ')}`);
    if (noisy) console.log('\n  ⚠ other processes used more than 15% of a core during a run: numbers are unreliable; rerun on a quiet machine or with --rounds 3.');
    for (const r of runs.filter((x) => x.store)) {
      const st = r.store;
      console.log(`\n${r.target}${opts.rounds > 1 ? ` (round ${r.round})` : ''}: ${fmtInt(st.rows)} rows in ${fmtInt(st.commits)} commits` +
        `${st.commits ? ` (${(st.rows / st.commits).toFixed(1)} per commit)` : ''}` +
        `${st.walMaxBytes != null ? `, largest WAL ${(st.walMaxBytes / 2 ** 20).toFixed(1)} MB` : ''}` +
        `${st.ckpt ? `, checkpoint thread: ${fmtInt(st.ckpt.passes)} passes, ${fmtInt(st.ckpt.ms)} ms in checkpoints, ` +
          `largest WAL ${fmtInt(st.ckpt.maxLogFrames)} frames, ${fmtInt(st.ckpt.holds)} commit holds (${fmtInt(st.ckpt.holdMs)} ms total, ${fmtMs(st.ckpt.maxHoldMs)} ms max)` : ''}`);
    }
    for (const r of gbRuns) {
      const d = r.daemon;
      const i = r.integrity;
      const tag = opts.rounds > 1 ? ` (round ${r.round})` : '';
      console.log(`\n${r.target}${tag}: ${fmtInt(d.groupCommits)} group commits, ${d.avgBatch?.toFixed(1) ?? '–'} deliveries per commit on average, ${fmtMs(d.avgCommitMs)} ms per commit; ` +
        `the worker processed ${fmtInt(d.processedByWorker)} deliveries, the MAS stub accepted ${fmtInt(d.masAccepted)} tasks (${fmtInt(d.masFailed)} failed; stub CPU ${pct(r.masStubCpu)})`);
      console.log(`store check, ${r.target}${tag}: ${fmtInt(i.stored)} deliveries stored, ${fmtInt(i.answered202)} answered 202 by the daemon, ` +
        `${fmtInt(i.received202)} 202s received by the load generator (warm-up + measured), ${fmtInt(i.received202WithoutRow)} of them without a stored row → ${i.ok ? 'OK' : 'FAILED'}`);
    }
  };
  const goalLines = goals
    ? [
        `  ${goals.throughput}  ingest throughput: gitbridged ${fmtInt(gb.reqPerSec)} req/s, ${goals.ratio.toFixed(2)}× octokit (goal ≥ ${GOAL_RATIO}×)`,
        `  ${goals.p99}  ingest latency: gitbridged p99 ${fmtMs(gb.p99Ms)} ms (goal < ${GOAL_P99_MS} ms)`,
        `  ${goals.committedBefore202}  durability: every 202 has a committed row`,
        ...(floor ? [`  info  the minimal durable ingest (floor) reached ${floor.ratioToOctokit.toFixed(2)}× octokit`] : []),
      ]
    : [];
  // Per-round ratio to the floor (median), measured in the same run (issue: ≥ 0.9× with p99 ≤ 25 ms).
  if (gb && floor) {
    goalLines.push(`  ${gb.ratioToFloor >= GOAL_FLOOR_RATIO && gb.p99Ms <= GOAL_P99_MS ? 'PASS' : 'MISS'}  vs the floor: gitbridged reached ` +
      `${gb.ratioToFloor.toFixed(2)}× the floor (${fmtInt(floor.reqPerSec)} req/s, p99 ${fmtMs(floor.p99Ms)} ms) with p99 ${fmtMs(gb.p99Ms)} ms ` +
      `(goal ≥ ${GOAL_FLOOR_RATIO}× with p99 ≤ ${GOAL_P99_MS} ms)`);
  }
  // PostgreSQL against SQLite in the same run (issue: ≥ 0.5× with p99 ≤ 50 ms), per-round ratio, median.
  if (gb && gbPg) {
    const ratios = [];
    for (let round = 1; round <= opts.rounds; round++) {
      const a = runs.find((r) => r.target === 'gitbridged-pg' && r.round === round);
      const b = runs.find((r) => r.target === 'gitbridged' && r.round === round);
      if (a && b && b.reqPerSec) ratios.push(a.reqPerSec / b.reqPerSec);
    }
    const ratio = median(ratios);
    goalLines.push(`  ${ratio >= GOAL_PG_RATIO && gbPg.p99Ms <= GOAL_PG_P99_MS ? 'PASS' : 'MISS'}  PostgreSQL: one daemon ingests ${fmtInt(gbPg.reqPerSec)} req/s, ` +
      `${ratio.toFixed(2)}× the SQLite daemon, p99 ${fmtMs(gbPg.p99Ms)} ms (goal ≥ ${GOAL_PG_RATIO}× with p99 ≤ ${GOAL_PG_P99_MS} ms)`);
  }
  return { failures, noisy, goals, rows, runs, print, goalLines };
}

/** What bench/flow.mjs and bench/startup.mjs need from this file. */
const ctx = {
  root: opts.root,
  opts,
  say,
  startChild,
  ask,
  stopChild,
  tempDir,
  machineBusyMs,
  profArgs,
  secret: SECRET,
  body: BODY,
  baseHeaders: BASE_HEADERS,
  variants: VARIANTS,
};

async function main() {
  const meta = {
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    payload: `pull_request.opened, ${BODY.length} bytes`,
    parts: opts.only,
    connections: opts.connections,
    warmupS: opts.warmup,
    durationS: opts.duration,
    rounds: opts.rounds,
    gitbridgeRoot: opts.root,
  };
  say(`gitbridge bench — node ${meta.node}, ${meta.cpus}; parts: ${opts.only.join(', ')}`);
  say(`payload: ${meta.payload}`);
  if (has('ingest')) {
    say(`ingest: autocannon ${meta.connections} connections, ${meta.warmupS} s warm-up + ${meta.durationS} s measured per target` +
      (opts.rounds > 1 ? `, ${opts.rounds} rounds (medians)` : ''));
  }
  if (opts.root !== ROOT) say(`gitbridged from ${opts.root}`);

  const failures = [];
  const out = { meta };
  const printers = [];
  const goalLines = [];

  if (has('ingest')) {
    const ing = await ingestPart();
    failures.push(...ing.failures);
    Object.assign(out, { noisy: ing.noisy, goals: ing.goals, summary: ing.rows, cpuProfileDir: opts.cpuProfDir ?? null, runs: ing.runs });
    printers.push(ing.print);
    goalLines.push(...ing.goalLines);
  }

  // The flow parts: an exception ends the part (recorded as a failure), not the run.
  const part = async (name, fn) => {
    try {
      return await fn();
    } catch (err) {
      failures.push(`${name}: ${err?.stack ?? err}`);
      return null;
    }
  };

  if (has('e2e')) {
    say(`\n▶ e2e: 202 → MAS acceptance (daemon + reference MAS)`);
    const r = await part('e2e', () => runE2e(ctx));
    if (r) {
      out.e2e = r;
      const bad = r.sent - (r.statuses[202] ?? 0);
      if (bad > 0) failures.push(`e2e: ${bad} answers other than 202 (${JSON.stringify(r.statuses)})`);
      printers.push(() => printE2e(r));
      goalLines.push(`  ${e2eGoal(r) ? 'PASS' : 'MISS'}  end-to-end: p99 ${fmtMs(r.latency.p99Ms)} ms from 202 to MAS acceptance at ${r.rate}/s` +
        `${r.notAccepted ? ` (${fmtInt(r.notAccepted)} not accepted within ${opts.e2e.settleS} s)` : ''} (goal < ${E2E_GOAL_P99_MS} ms)`);
    }
  }

  if (has('drain')) {
    out.drain = [];
    for (const c of opts.drain.masConcurrency) {
      say(`\n▶ drain: ${fmtInt(opts.drain.count)}-task backlog, GITBRIDGE_MAS_CONCURRENCY=${c ?? 'default'}, store ${opts.store}${opts.drain.daemons > 1 ? `, ${opts.drain.daemons} daemons` : ''}`);
      const r = await part(`drain (concurrency ${c ?? 'default'})`, () => runDrain(ctx, { masConcurrency: c }));
      if (!r) continue;
      out.drain.push(r);
      const bad = opts.drain.count - (r.posted[202] ?? 0);
      if (bad > 0) failures.push(`drain: ${bad} answers other than 202 while building the backlog (${JSON.stringify(r.posted)})`);
      if (!r.complete) failures.push(`drain (concurrency ${c ?? 'default'}): only ${r.accepted} tasks accepted within ${opts.drain.timeoutS} s`);
      printers.push(() => printDrain(r));
      goalLines.push(`  ${drainGoal(r) ? 'PASS' : 'MISS'}  backlog drain: ${fmtInt(r.tasksPerS)} tasks/s with ${c ? `GITBRIDGE_MAS_CONCURRENCY=${c}` : 'default settings'}, ` +
        `first acceptance ${fmtMs(r.firstAcceptanceMs)} ms after the MAS came up (goal ≥ ${fmtInt(DRAIN_GOAL_TASKS_PER_S)} tasks/s)`);
    }
  }

  if (has('backlog')) {
    say(`\n▶ backlog: ${fmtInt(opts.backlog.count)}-task backlog drained, rates per 10 s, store ${opts.store}${opts.backlog.daemons > 1 ? `, ${opts.backlog.daemons} daemons` : ''}`);
    const r = await part('backlog', () => runDrain(ctx, { settings: opts.backlog, label: 'backlog' }));
    if (r) {
      out.backlog = r;
      const bad = opts.backlog.count - (r.posted[202] ?? 0);
      if (bad > 0) failures.push(`backlog: ${bad} answers other than 202 while building it (${JSON.stringify(r.posted)})`);
      if (!r.complete) failures.push(`backlog: only ${r.accepted} tasks accepted within ${opts.backlog.timeoutS} s`);
      printers.push(() => printBacklog(r));
      const slowest = r.perTenSeconds.length ? Math.min(...r.perTenSeconds.map((w) => w.perS)) : null;
      goalLines.push(`  ${backlogGoal(r) ? 'PASS' : 'MISS'}  ${fmtInt(r.count)}-task backlog: ${fmtInt(r.steadyTasksPerS)} tasks/s from the first acceptance ` +
        `(${fmtMs(r.firstAcceptanceMs)} ms after the MAS came up), slowest 10-s window ${fmtInt(slowest)} tasks/s ` +
        `(goal ≥ ${fmtInt(DRAIN_GOAL_TASKS_PER_S)} tasks/s in every window)`);
    }
  }

  if (has('startup')) {
    say(`\n▶ startup: gitbridge tasks ls vs node -e 0`);
    const r = await part('startup', () => runStartup(ctx));
    if (r) {
      out.startup = r;
      printers.push(() => printStartup(r));
      goalLines.push(`  ${startupGoal(r) ? 'PASS' : 'MISS'}  CLI start-up: tasks ls ${fmtMs(r.tasksLs.medianMs)} ms median, ` +
        `${r.ratio.toFixed(2)}× node -e 0 (${fmtMs(r.node.medianMs)} ms) (goal < ${STARTUP_GOAL_RATIO}×)`);
    }
  }

  const valid = failures.length === 0;
  if (opts.json) {
    console.log(JSON.stringify({ ...out, valid, failures }, null, 2));
  } else {
    for (const p of printers) p();
    if (opts.cpuProfDir) console.log(`\nCPU profile(s) of the daemon (gitbridged target, e2e, drain) and of the floor targets: ${opts.cpuProfDir}`);
    if (goalLines.length) console.log(`\ngoal check (informational):\n${goalLines.join('\n')}`);
    if (!valid) console.log(`\nINVALID RUN:\n  ${failures.join('\n  ')}`);
  }
  return valid ? 0 : 1;
}

let code;
try {
  code = await main();
} catch (err) {
  console.error(`bench: ${err?.stack ?? err}`);
  code = 1;
}
cleanup();
process.exit(code);
