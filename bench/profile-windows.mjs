#!/usr/bin/env node
// Splits a V8 CPU profile of the daemon into windows of time (10 s by default)
// and prints, per window, how busy the thread was (ms) and the share of that
// busy time spent inside the store's hot methods: the three claims, the
// next-due query (msUntilDue) and the transitions of a drain. Used for
// issue 15: on a 150,000-task backlog those shares stay flat from the first
// window to the last, i.e. their cost does not depend on the backlog's size.
//
//   node bench/run.mjs --only backlog --cpu-prof DIR
//   node bench/profile-windows.mjs DIR/CPU.…cpuprofile [WINDOW_S]
//
// A sample counts for a method when any frame of its stack lies inside that
// method of the built SQLite store (packages/core/dist/store/sqlite/
// sqlite-store.js), found by line number: the statements run in closures that
// the group commit calls, so their frames carry the enclosing method's lines,
// not its name. (The PostgreSQL store's methods await their queries, so their
// cost is off the daemon's stack; read its plans instead: the contract tests
// EXPLAIN every claim and next-due query.) Sampling adds overhead: compare
// shares between windows, not absolute costs with an unprofiled run.
import { readFileSync } from 'node:fs';

const [file, windowArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-windows.mjs PROFILE.cpuprofile [WINDOW_S]');
  process.exit(2);
}
const windowUs = Number(windowArg ?? 10) * 1e6;
const STORE = 'core/dist/store/sqlite/sqlite-store.js';
const METHODS = ['claimDeliveries', 'completeDelivery', 'claimTasks', 'markTaskSubmitted', 'applyCallback', 'claimNotifications', 'msUntilDue', 'ingest'];

/** [0-based line, method name] of each method of the built store's class, in order. */
const starts = [];
readFileSync(new URL(`../packages/${STORE}`, import.meta.url), 'utf8').split('\n').forEach((line, i) => {
  const m = /^ {4}(?:async )?(#?[A-Za-z]+)\(/.exec(line);
  if (m) starts.push([i, m[1]]);
});
const methodAt = (line) => {
  let name = null;
  for (const [i, n] of starts) { if (i > line) break; name = n; }
  return name;
};

const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

/** For a node: whether it is idle, and the hot methods on its stack (memoised). */
const memo = new Map();
function classify(id) {
  let c = memo.get(id);
  if (c) return c;
  const n = nodes.get(id);
  const up = parentOf.has(id) ? classify(parentOf.get(id)) : { methods: [] };
  const methods = [...up.methods];
  if (n.callFrame.url.endsWith(STORE)) {
    const m = methodAt(n.callFrame.lineNumber);
    if (METHODS.includes(m) && !methods.includes(m)) methods.push(m);
  }
  c = { idle: n.callFrame.functionName === '(idle)', methods };
  memo.set(id, c);
  return c;
}

const windows = new Map();
let t = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  const w = Math.floor(t / windowUs);
  let row = windows.get(w);
  if (!row) windows.set(w, (row = { busyMs: 0, ms: Object.fromEntries(METHODS.map((m) => [m, 0])) }));
  const c = classify(profile.samples[i]);
  if (c.idle) continue;
  // A sample stands for the time until the next one.
  const dtMs = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i]) / 1000;
  row.busyMs += dtMs;
  for (const m of c.methods) row.ms[m] += dtMs;
}

const s = windowUs / 1e6;
console.log(['window s', 'busy ms', ...METHODS.map((m) => `${m} %`)].join('\t'));
for (const [w, row] of [...windows].sort((a, b) => a[0] - b[0])) {
  const share = (m) => (row.busyMs ? (100 * row.ms[m]) / row.busyMs : 0).toFixed(1);
  console.log([`${w * s}-${(w + 1) * s}`, row.busyMs.toFixed(0), ...METHODS.map(share)].join('\t'));
}
