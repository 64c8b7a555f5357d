import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, SCHEMA_VERSION, SqliteStore } from '@gitbridge/core';
import type { Claim, ClaimedDelivery, JournalEntry, NewDelivery, Store, TaskDraft } from '@gitbridge/core';
import { D1, D2, D3, T0, populateStore } from './store-fixture.js';
import { withRawDb, type RawDb } from '../../../test/helpers/sqlite.js';
import { runCli, tempDir } from './helpers.js';

/** A SQLite store filled by {@link populateStore}, dated from T0 by a ManualClock. The caller closes it (as after a daemon stop) or keeps it open (as while the daemon runs). */
async function buildStore(dir: string): Promise<{ reviewId: string; triageId: string; deployId: string; store: Store }> {
  // The store's clock dates what it records (processing, task creation, transitions).
  const clock = new ManualClock(T0);
  const store = SqliteStore.open(dir, { clock });
  return { ...(await populateStore(store, (ms) => clock.advance(ms))), store };
}

let dir: string;
let ids: { reviewId: string; triageId: string; deployId: string };
const inDir = (...args: string[]) => runCli([...args, '--data-dir', dir]);

beforeAll(async () => {
  dir = tempDir('gitbridge-store-');
  const built = await buildStore(dir);
  await built.store.close();
  ids = built;
});

const REQUIRED_TASK_KEYS = ['task_id', 'id', 'status', 'task_type', 'priority', 'github_event_id', 'repo', 'created_at', 'updated_at', 'attempts', 'last_error'];

describe('tasks ls', () => {
  it('--json lists every task, newest first, with the documented fields', async () => {
    const run = await inDir('tasks', 'ls', '--json');
    expect(run.exitCode).toBe(0);
    const tasks = JSON.parse(run.stdout) as Record<string, unknown>[];
    expect(tasks).toHaveLength(3);
    for (const t of tasks) for (const k of REQUIRED_TASK_KEYS) expect(t).toHaveProperty(k);
    // Newest first: created_at descending, then insertion order descending.
    expect(tasks.map((t) => t.task_type)).toEqual(['notify_team', 'triage_issue', 'review_pull_request']);
    const review = tasks.find((t) => t.id === ids.reviewId)!;
    // One claim, one submission attempt: the MAS accepted it at the first.
    expect(review).toMatchObject({ task_id: 'mas_task_8842', status: 'pending', priority: 'high', github_event_id: D1, repo: 'octocat/Hello-World', attempts: 1, last_error: null });
    const triage = tasks.find((t) => t.id === ids.triageId)!;
    expect(triage).toMatchObject({ task_id: null, status: 'dead', github_event_id: D2, last_error: 'MAS unreachable after 12 attempts' });
  });

  it('filters by --status, --repo, --type, --since and --limit', async () => {
    const ls = async (...args: string[]) => {
      const r = await inDir('tasks', 'ls', '--json', ...args);
      expect(r.exitCode).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }[]).map((t) => t.id).sort();
    };
    const [dead, repo, type, since, future, limited] = await Promise.all([
      ls('--status', 'dead'),
      ls('--repo', 'octocat/Hello-World'),
      ls('--type', 'notify_team'),
      ls('--since', '2025-03-01T10:30:00Z'),
      ls('--since', '2099-01-01'),
      ls('--limit', '1'),
    ]);
    expect(dead).toEqual([ids.triageId]);
    expect(repo).toEqual([ids.reviewId]);
    expect(type).toEqual([ids.deployId]);
    expect(since).toEqual([ids.triageId, ids.deployId].sort());
    expect(future).toEqual([]);
    expect(limited).toHaveLength(1);
  });

  it('prints an aligned table by default; --wide adds priority and attempts', async () => {
    const [run, wide] = await Promise.all([inDir('tasks', 'ls'), inDir('tasks', 'ls', '--wide')]);
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+TYPE\s+REPO\s+CREATED\s+MAS TASK\s+LAST ERROR$/);
    expect(lines).toHaveLength(4);
    const statusCol = lines[0]!.indexOf('STATUS');
    for (const line of lines.slice(1)) expect(line.slice(statusCol)).toMatch(/^(queued|pending|dead)\s/);
    expect(run.stdout).toContain('mas_task_8842');
    expect(wide.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+TYPE\s+PRIORITY\s+REPO\s+ATTEMPTS\s+CREATED\s+MAS TASK\s+LAST ERROR$/);
    expect(wide.stdout).toContain(ids.reviewId);
  });

  it('rejects a bad --status, --since or --limit with exit 2', async () => {
    const runs = await Promise.all([inDir('tasks', 'ls', '--status', 'lost'), inDir('tasks', 'ls', '--since', 'yesterday'), inDir('tasks', 'ls', '--limit', '0')]);
    expect(runs.map((r) => r.exitCode)).toEqual([2, 2, 2]);
  });

  it('reads GITBRIDGE_DATA_DIR when --data-dir is not given', async () => {
    const run = await runCli(['tasks', 'ls', '--json'], { GITBRIDGE_DATA_DIR: dir });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout)).toHaveLength(3);
  });

  it('reads the store while a writer (the daemon) has it open', async () => {
    const live = tempDir('gitbridge-live-');
    const { store } = await buildStore(live);
    try {
      const run = await runCli(['tasks', 'ls', '--json', '--data-dir', live]);
      expect(run.exitCode).toBe(0);
      expect(JSON.parse(run.stdout)).toHaveLength(3);
    } finally {
      await store.close();
    }
  });
});

describe('tasks show', () => {
  it('finds a task by GitBridge id and by MAS task id, with its delivery and full history', async () => {
    const [byId, byMas] = await Promise.all([inDir('tasks', 'show', ids.reviewId, '--json'), inDir('tasks', 'show', 'mas_task_8842', '--json')]);
    expect(byId.exitCode).toBe(0);
    expect(byMas.exitCode).toBe(0);
    const a = JSON.parse(byId.stdout) as { task: { id: string; payload: { type: string } }; delivery: Record<string, unknown>; history: { from: string | null; to: string; source: string }[] };
    expect(JSON.parse(byMas.stdout)).toEqual(a);
    expect(a.task.id).toBe(ids.reviewId);
    expect(a.task.payload.type).toBe('review_pull_request');
    expect(a.delivery).toMatchObject({ delivery_id: D1, event: 'pull_request', action: 'opened', repo: 'octocat/Hello-World', state: 'processed', outcome: 'tasks' });
    expect(a.history.map((h) => [h.from, h.to, h.source])).toEqual([
      [null, 'queued', 'gitbridge'],
      ['queued', 'pending', 'mas'],
    ]);
  });

  it('prints a readable view by default', async () => {
    const run = await inDir('tasks', 'show', ids.triageId);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+dead$/m);
    expect(run.stdout).toContain('History');
    expect(run.stdout).toContain('MAS unreachable after 12 attempts');
    expect(run.stdout).toContain(D2);
  });

  it('exits 1 for an unknown task', async () => {
    const run = await inDir('tasks', 'show', 'gbt_nope');
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('no task gbt_nope');
  });
});

describe('tasks retry', () => {
  it('requeues a dead task (writable store) and refuses a task that is not failed or dead', async () => {
    const own = tempDir('gitbridge-retry-');
    const built = await buildStore(own);
    await built.store.close();
    const retry = await runCli(['tasks', 'retry', built.triageId, '--data-dir', own]);
    expect(retry.exitCode).toBe(0);
    expect(retry.stdout).toContain(`task ${built.triageId} queued again`);
    const check = SqliteStore.open(own, { readonly: true });
    try {
      expect(await check.getTask(built.triageId)).toMatchObject({ status: 'queued', attempts: 0 });
      expect((await check.taskHistory(built.triageId)).at(-1)).toMatchObject({ from: 'dead', to: 'queued', source: 'operator' });
    } finally {
      await check.close();
    }
    const refused = await runCli(['tasks', 'retry', 'mas_task_8842', '--data-dir', own]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('is pending: only failed or dead tasks can be retried');
  });

  it('never creates a store: exit 4 when there is none', async () => {
    const empty = tempDir('gitbridge-empty-');
    const run = await runCli(['tasks', 'retry', 'gbt_x', '--data-dir', empty]);
    expect(run.exitCode).toBe(4);
    expect(existsSync(join(empty, 'gitbridge.db'))).toBe(false);
  });
});

describe('deliveries', () => {
  it('show --json gives event, action, repo, state, size, headers without signatures, and the tasks produced', async () => {
    const run = await inDir('deliveries', 'show', D2, '--json');
    expect(run.exitCode).toBe(0);
    const d = JSON.parse(run.stdout) as Record<string, any>;
    expect(d).toMatchObject({ delivery_id: D2, event: 'issues', action: 'opened', repo: 'acme/widgets', state: 'processed', outcome: 'tasks' });
    expect(d.size).toBe(Buffer.byteLength('{"action":"opened","issue":{"number":7}}'));
    expect(d.headers['x-github-event']).toBe('issues');
    expect(Object.keys(d.headers).some((k) => /signature/i.test(k))).toBe(false);
    expect(run.stdout).not.toContain('deadbeef');
    expect((d.tasks as { id: string }[]).map((t) => t.id).sort()).toEqual([ids.triageId, ids.deployId].sort());
  });

  it('show prints a readable view without signatures; unknown id exits 1', async () => {
    const [run, missing] = await Promise.all([inDir('deliveries', 'show', D1), inDir('deliveries', 'show', 'no-such-delivery')]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^event:\s+pull_request$/m);
    expect(run.stdout).toContain('x-github-delivery: ' + D1);
    expect(run.stdout).toContain(ids.reviewId.slice(0, 12));
    expect(run.stdout).not.toMatch(/signature-256|deadbeef/);
    expect(missing.exitCode).toBe(1);
  });

  it('ls lists deliveries newest first', async () => {
    const [json, table] = await Promise.all([inDir('deliveries', 'ls', '--json'), inDir('deliveries', 'ls', '--limit', '2')]);
    expect(json.exitCode).toBe(0);
    const rows = JSON.parse(json.stdout) as { delivery_id: string; state: string; headers?: unknown }[];
    expect(rows.map((r) => r.delivery_id)).toEqual([D3, D2, D1]);
    expect(rows[0]).not.toHaveProperty('headers');
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(table.stdout).toMatch(/^DELIVERY\s+EVENT/);
  });
});

describe('journal ls', () => {
  it('lists the journal entries', async () => {
    const run = await inDir('journal', 'ls', '--json');
    expect(run.exitCode).toBe(0);
    const rows = JSON.parse(run.stdout) as { type: string; repo: string; number: number; timestamp: string; delivery_id: string }[];
    expect(rows.map((r) => [r.type, r.repo, r.number, r.delivery_id])).toEqual([
      ['issues', 'acme/widgets', 7, D2],
      ['pull_request', 'octocat/Hello-World', 1, D1],
    ]);
    expect(rows[0]!.timestamp).toBe('2011-01-26T19:01:12Z');
  });
});

describe('a missing or unreadable store', () => {
  it('exits 4 with a clear message, for every store command', async () => {
    const empty = tempDir('gitbridge-empty-');
    const runs = await Promise.all([
      runCli(['tasks', 'ls', '--data-dir', empty]),
      runCli(['tasks', 'show', 'x', '--data-dir', empty]),
      runCli(['deliveries', 'ls'], { GITBRIDGE_DATA_DIR: join(empty, 'nope') }),
      runCli(['deliveries', 'show', 'x', '--data-dir', empty]),
      runCli(['journal', 'ls', '--data-dir', empty]),
    ]);
    expect(runs.map((r) => r.exitCode)).toEqual([4, 4, 4, 4, 4]);
    expect(runs[0]!.stderr).toContain(`No GitBridge store at ${join(empty, 'gitbridge.db')}`);
    expect(runs[2]!.stderr).toContain(`No GitBridge store at ${join(empty, 'nope', 'gitbridge.db')}`);
    for (const r of runs) expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(empty, 'nope'))).toBe(false);
  });

  it('defaults to ./data', async () => {
    const cwd = tempDir('gitbridge-cwd-');
    const run = await runCli(['tasks', 'ls'], {}, cwd);
    expect(run.exitCode).toBe(4);
    expect(run.stderr).toContain(`No GitBridge store at ${join(cwd, 'data', 'gitbridge.db')}`);
  });

  it('exits 4 with what to do when the store is older or newer than this gitbridge', async () => {
    const old = tempDir('gitbridge-old-');
    await SqliteStore.open(old).close();
    const schemaVersion = (db: RawDb) => (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v;
    const { olderVersion, newerVersion, neededVersion } = withRawDb(old, (db) => {
      // Versions need not be contiguous (a number may be reserved): what this code needs is the newest.
      const neededVersion = schemaVersion(db);
      db.exec('DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)');
      const olderVersion = schemaVersion(db);
      db.exec(`INSERT INTO schema_migrations VALUES (${olderVersion + 5}, 'from the future', 'x')`);
      const newerVersion = schemaVersion(db);
      db.exec(`DELETE FROM schema_migrations WHERE version = ${newerVersion}`);
      return { olderVersion, newerVersion, neededVersion };
    });
    const older = await runCli(['deliveries', 'ls', '--data-dir', old]);
    expect(older.exitCode).toBe(4);
    expect(older.stderr).toContain(`has schema version ${olderVersion}; this GitBridge needs ${neededVersion}`);
    expect(older.stderr).toContain('start gitbridged of this version once');

    withRawDb(old, (db) => db.exec(`INSERT INTO schema_migrations VALUES (${newerVersion}, 'from the future', 'x')`));
    const newer = await runCli(['tasks', 'ls', '--data-dir', old]);
    expect(newer.exitCode).toBe(4);
    expect(newer.stderr).toContain(`has schema version ${newerVersion}, newer than this GitBridge knows`);
  });

  it('exits 4 when the file is not a GitBridge store', async () => {
    const bad = tempDir('gitbridge-bad-');
    writeFileSync(join(bad, 'gitbridge.db'), 'this is not a database, just some text that is long enough'.repeat(20));
    const run = await runCli(['tasks', 'ls', '--data-dir', bad]);
    expect(run.exitCode).toBe(4);
    expect(run.stderr).toContain('cannot read the store');
  });
});
