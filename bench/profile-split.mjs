#!/usr/bin/env node
// Splits the CPU profiles of a bench run into where the time went, in µs per
// answered request, over the measured window only (warm-up, start-up and
// shutdown are cut off). bench/FINDINGS-floor.md was written with it.
//
//   node bench/run.mjs --targets floor,gitbridged --rounds 2 --cpu-prof DIR --json > run.json
//   node bench/profile-split.mjs run.json DIR ["bucket name" to split further]
//
// Every sample of the event-loop thread is put in one bucket: walking its
// stack from the root, the first frame that belongs to an "owner" (the
// workers, the group commit, logging, metrics, the rate limiter, …) decides;
// a sample with no owner is put by its leaf frame (fastify, node's HTTP and
// sockets, GC, idle, …). Other threads (the checkpointers) are summed per
// thread. Sampling adds overhead of its own (≈ +50% CPU per request for
// gitbridged, less for the floor): compare shares and differences, and take
// absolute costs from a run without --cpu-prof.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [runFile, profDir, detail] = process.argv.slice(2);
if (!runFile || !profDir) {
  console.error('usage: node bench/profile-split.mjs RUN.json PROFILE_DIR');
  process.exit(2);
}
const run = JSON.parse(readFileSync(runFile, 'utf8'));

const has = (cf, ...parts) => parts.some((p) => cf.url.includes(p));
/** Checked on the leaf before any owner: the socket write of a response, wherever it is called from. */
const FIRST = [
  ['socket writes (responses, MAS requests)', (cf) => ['writev', 'writeLatin1String', 'writeUtf8String', 'writeBuffer', 'writeAsciiString'].includes(cf.functionName) && cf.url === ''],
];
const GROUP_COMMIT = 'core/dist/store/sqlite/group-commit.js';
/** Lines (0-based, as V8 profiles count them) where GroupCommitter and TransactionBatcher start in the built group-commit.js. */
const [COMMITTER_LINE, BATCHER_LINE] = (() => {
  const lines = readFileSync(new URL('../packages/core/dist/store/sqlite/group-commit.js', import.meta.url), 'utf8').split('\n');
  return ['class GroupCommitter', 'class TransactionBatcher'].map((c) => lines.findIndex((l) => l.includes(c)));
})();
/** Owners, checked from the root of the stack down: the first match takes the sample. */
const OWNERS = [
  ['checkpointer (event-loop side)', (cf) => has(cf, 'core/dist/store/sqlite/checkpointer.js')],
  ['workers (claim, map, complete, submit)', (cf) => has(cf, 'daemon/dist/workers/', 'core/dist/mas/', 'core/dist/notify/', 'core/dist/routing/')],
  // group-commit.js: TurnQueue (both committers' flush), then GroupCommitter, then TransactionBatcher (line numbers
  // read from the built file): the TurnQueue frames are skipped, the committer under them decides.
  ['post-ingest write batch (TransactionBatcher)', (cf) => has(cf, GROUP_COMMIT) && cf.lineNumber >= BATCHER_LINE],
  ['group commit: INSERTs + COMMIT', (cf) => (has(cf, GROUP_COMMIT) && cf.lineNumber >= COMMITTER_LINE && cf.lineNumber < BATCHER_LINE) || cf.functionName === '#insertBatch' ||
    (has(cf, 'bench/target-floor.mjs', 'bench/target-calib.mjs') && ['flush', 'insertAll'].includes(cf.functionName))],
  ['logging (pino)', (cf) => has(cf, '/pino', 'sonic-boom', '@pinojs', 'core/dist/logging.js')],
  ['metrics (prom-client)', (cf) => has(cf, 'prom-client', 'core/dist/metrics.js')],
  ['rate limiter', (cf) => has(cf, 'core/dist/webhook/rate-limit.js')],
  ['allowlist, client address', (cf) => has(cf, 'core/dist/webhook/ip-allowlist.js')],
  ['HMAC-SHA256', (cf) => has(cf, 'core/dist/webhook/signature.js', 'node:internal/crypto') || ['timingSafeEqual', 'createHmac'].includes(cf.functionName)],
  ['JSON.parse, payload checks', (cf) => has(cf, 'core/dist/webhook/delivery.js', 'core/dist/ingest/')],
  ['undici (MAS client)', (cf) => has(cf, '/undici')],
];
/** Leaf buckets, for samples no owner took. */
const LEAVES = [
  ['idle', (cf) => cf.functionName === '(idle)'],
  ['GC', (cf) => cf.functionName === '(garbage collector)'],
  ['(program): V8/native, unattributed', (cf) => cf.functionName === '(program)'],
  ['fastify (routing, hooks, body, reply)', (cf) => has(cf, '/fastify', 'find-my-way', 'avvio', 'fast-json-stringify', 'light-my-request', 'toad-cache', 'fast-content-type-parse', 'process-warning', 'rfdc', 'fast-querystring', 'fast-decode-uri', 'ret/', 'safe-regex2')],
  ['gitbridged route code (server.js)', (cf) => has(cf, 'daemon/dist/server.js', 'daemon/dist/routes/')],
  ['request handler (floor: JSON.parse, headers)', (cf) => has(cf, 'bench/target-floor.mjs', 'bench/target-calib.mjs')],
  ['node HTTP, sockets, streams', (cf) => cf.url.startsWith('node:') || ['utf8Write', 'latin1Write', 'slice', 'close', 'shutdown', 'readStart', 'readStop'].includes(cf.functionName)],
  ['bench IPC / instrumentation', (cf) => has(cf, 'bench/ipc.mjs')],
];

function split(profile, window) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const buckets = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window.startUs || t > window.endUs)) continue;
    // The time until the next sample belongs to this one.
    const d = profile.timeDeltas[i + 1] ?? 0;
    const stack = [];
    for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) stack.push(byId.get(id).callFrame);
    stack.reverse();
    let bucket = FIRST.find(([, m]) => m(stack[stack.length - 1]))?.[0];
    for (const cf of bucket ? [] : stack) {
      const o = OWNERS.find(([, m]) => m(cf));
      if (o) {
        bucket = o[0];
        break;
      }
    }
    if (!bucket) {
      const leaf = stack[stack.length - 1];
      bucket = LEAVES.find(([, m]) => m(leaf))?.[0] ?? `other JS (${leaf.url.replace(/.*node_modules\/(\.pnpm\/)?/, '').split('/')[0] || leaf.functionName})`;
    }
    // DETAIL (third argument): a bucket name to split further by leaf function and its nearest caller outside node:.
    if (detail && bucket === detail) {
      const leaf = stack[stack.length - 1];
      const caller = [...stack].reverse().find((cf) => !cf.url.startsWith('node:') && cf.url !== '');
      bucket = `${detail} › ${leaf.functionName || '(anon)'} ${leaf.url.replace(/.*node_modules\//, '')}:${leaf.lineNumber} ‹ ${caller ? `${caller.functionName || '(anon)'} ${caller.url.replace(/.*node_modules\/(\.pnpm\/)?/, '').replace(/.*\/packages\//, '')}` : '–'}`;
    }
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + d);
    total += d;
  }
  return { buckets, total };
}

const dirs = readdirSync(profDir);
for (const r of run.runs) {
  const name = `${r.target.replace(/[^A-Za-z0-9_=-]+/g, '_')}-round${r.round}`;
  if (!dirs.includes(name)) continue;
  const files = readdirSync(join(profDir, name)).filter((f) => f.endsWith('.cpuprofile')).sort();
  console.log(`\n${r.target} round ${r.round}: ${Math.round(r.reqPerSec)} req/s, ${r.requests} requests in the measured window` +
    ` (${(r.targetWindow.endUs - r.targetWindow.startUs) / 1e6} s)`);
  for (const f of files) {
    const thread = Number(f.split('.')[4]);
    const { buckets, total } = split(JSON.parse(readFileSync(join(profDir, name, f), 'utf8')), r.targetWindow);
    const rows = [...buckets].sort((a, b) => b[1] - a[1]);
    const busy = total - (buckets.get('idle') ?? 0);
    console.log(`  ${thread === 0 ? 'event loop' : `thread ${thread}`}: ${(busy / r.requests).toFixed(1)} µs/req busy (${(100 * busy / total).toFixed(0)}% of the window)`);
    for (const [k, v] of rows) {
      if (k === 'idle') continue;
      if (thread !== 0 && v / r.requests < 1) continue;
      console.log(`    ${(v / r.requests).toFixed(1).padStart(7)} µs/req  ${(100 * v / busy).toFixed(1).padStart(5)}%  ${k}`);
    }
  }
}
