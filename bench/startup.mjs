// The CLI start-up figure of `pnpm bench` (bench/run.mjs --only startup):
// wall time of `node bin/gitbridge tasks ls --data-dir <store>` against a
// store holding ~100 tasks, next to `node -e 0` (the floor: starting Node
// itself) and `node bin/gitbridge --version` (the CLI without the store).
//
// The store is made the way production makes one: the real daemon
// (bench/target-gitbridged.mjs) receives N signed pull_request.opened
// deliveries and hands their tasks to the reference MAS, whose callbacks
// complete them; the daemon is then stopped cleanly. Each command then runs
// `runs` times, in rounds that rotate the order of the three commands (no
// command always runs right after another), after one discarded warm-up
// round; the wall time of each spawnSync is taken with process.hrtime.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { scrape, startFlow, stopFlow } from './flow.mjs';

export const STARTUP_GOAL_RATIO = 4;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function makeStore(ctx, tasks) {
  const flow = await startFlow(ctx, { label: 'startup' });
  try {
    const pool = new Pool(`http://127.0.0.1:${flow.daemon.port}`, { connections: 8 });
    let next = 0;
    const statuses = {};
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < tasks) {
          next++;
          const res = await pool.request({ method: 'POST', path: '/webhook', headers: { ...ctx.baseHeaders, 'x-github-delivery': randomUUID() }, body: ctx.body });
          await res.body.dump();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        }
      }),
    );
    await pool.close();
    if (statuses[202] !== tasks) throw new Error(`store set-up: answers ${JSON.stringify(statuses)}, expected ${tasks} × 202`);
    // Every task accepted by the MAS, then let its callbacks (running, completed: ~250 ms) land.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const m = await scrape(flow.daemon.port);
      const total = Object.entries(m).filter(([k]) => k.startsWith('gitbridge_tasks{')).reduce((n, [, v]) => n + v, 0);
      if (total >= tasks && (m['gitbridge_tasks{status="queued"}'] ?? 0) === 0 && (m['gitbridge_tasks{status="pending"}'] ?? 0) === 0 && (m['gitbridge_tasks{status="running"}'] ?? 0) === 0) break;
      if (Date.now() > deadline) throw new Error(`store set-up: tasks not completed within 60 s (${JSON.stringify(m)})`);
      await sleep(200);
    }
  } finally {
    await stopFlow(ctx, flow);
  }
  return flow.dataDir;
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

export async function runStartup(ctx) {
  const { runs, tasks } = ctx.opts.startup;
  ctx.say(`  making a store with ${tasks} tasks (daemon + reference MAS) …`);
  const dataDir = await makeStore(ctx, tasks);

  // The CLI reads GITBRIDGE_* (e.g. GITBRIDGE_DATA_DIR): keep the caller's out of it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GITBRIDGE_')));
  const bin = join(ctx.root, 'bin/gitbridge');
  const commands = [
    { key: 'node', label: 'node -e 0', args: ['-e', '0'] },
    { key: 'tasksLs', label: 'gitbridge tasks ls', args: [bin, 'tasks', 'ls', '--data-dir', dataDir] },
    { key: 'version', label: 'gitbridge --version', args: [bin, '--version'] },
  ];
  const once = (c) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { cwd: ctx.root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${c.label} exited with ${r.status ?? r.signal}: ${String(r.stderr).slice(0, 500)}`);
    return { ms, stdout: String(r.stdout) };
  };

  // Sanity: the listing shows the tasks.
  const listed = once(commands[1]).stdout.split('\n').filter((l) => l.includes('gbt_')).length;
  ctx.say(`  ${runs} runs of each command (rotating order, after 1 warm-up round); tasks ls lists ${listed} tasks …`);
  for (const c of commands) once(c);
  const times = Object.fromEntries(commands.map((c) => [c.key, []]));
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < commands.length; j++) {
      const c = commands[(i + j) % commands.length];
      times[c.key].push(once(c).ms);
    }
  }
  const summary = (xs) => ({ medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) });
  const node = summary(times.node);
  const tasksLs = summary(times.tasksLs);
  const version = summary(times.version);
  return {
    figure: 'startup',
    runs,
    tasksInStore: tasks,
    tasksListed: listed,
    node,
    tasksLs,
    version,
    ratio: tasksLs.medianMs / node.medianMs,
    versionRatio: version.medianMs / node.medianMs,
    times,
  };
}

export function startupGoal(r) {
  return r.ratio < STARTUP_GOAL_RATIO;
}

export function printStartup(r, log = console.log) {
  const f = (n) => n.toFixed(1);
  log(`\nCLI start-up: ${r.runs} runs each, alternating; store with ${r.tasksInStore} tasks (${r.tasksListed} listed)`);
  log(`  command                median ms  min ms  max ms  vs node -e 0`);
  for (const [label, s] of [['node -e 0', r.node], ['gitbridge tasks ls', r.tasksLs], ['gitbridge --version', r.version]]) {
    log(`  ${label.padEnd(21)}  ${f(s.medianMs).padStart(9)}  ${f(s.minMs).padStart(6)}  ${f(s.maxMs).padStart(6)}  ${(s.medianMs / r.node.medianMs).toFixed(2).padStart(11)}×`);
  }
}
