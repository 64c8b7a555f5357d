import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, SqliteStore } from '@gitbridge/core';
import type { NewDelivery, TaskDraft } from '@gitbridge/core';
import { runCli, tempDir } from './helpers.js';
import { delivery as fixtureDelivery, draft as fixtureDraft } from './store-fixture.js';

// Two GUIDs that share their first 8 characters (as the log view shows them), and one that does not.
const PR = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
const TWIN_A = '5f1e0c2a-0000-4000-8000-00000000000a';
const TWIN_B = '5f1e0c2a-1111-4000-8000-00000000000b';
const LONG_REPO = 'a-very-long-organisation-name-for-tables/an-even-longer-repository-name-than-that';
const LONG_ERROR = 'MAS unreachable: connect ECONNREFUSED 10.20.30.40:8081 after 12 attempts over three days and one hour';

/** A stored delivery of the long repository (store-fixture's, with this file's repository and body). */
const delivery = (id: string, event: string, atMs: number): NewDelivery => fixtureDelivery(id, event, 'opened', LONG_REPO, atMs, '{"action":"opened"}');
const draft = (taskType: string): TaskDraft => fixtureDraft(taskType, 'normal', `rule-${taskType}`);

let dir: string;
let taskIds: string[];
const cli = (...args: string[]) => runCli([...args, '--data-dir', dir]);

/**
 * A store with three deliveries (two share their first 8 characters), a
 * replay of the first, and three tasks: one accepted by the MAS, one dead
 * with a long error, one queued.
 */
beforeAll(async () => {
  dir = tempDir('gitbridge-ids-');
  const clock = new ManualClock(Date.parse('2025-03-01T10:00:00.000Z'));
  const store = SqliteStore.open(dir, { clock });
  try {
    for (const [i, id] of [PR, TWIN_A, TWIN_B].entries()) await store.ingest(delivery(id, i === 0 ? 'pull_request' : 'issues', clock.now() + i));
    await store.insertReplay(PR, (o, id) => ({ ...delivery(id, o.event, clock.now() + 10), body: o.body, replayOf: o.deliveryId }));
    const claims = await store.claimDeliveries(10, 60_000);
    const pr = claims.find((c) => c.item.deliveryId === PR)!;
    taskIds = await store.completeDelivery(pr, {
      drafts: [draft('review_pull_request_with_a_long_task_type'), draft('triage'), draft('notify_team')],
      journal: { type: 'pull_request', action: 'opened', repo: LONG_REPO, number: 1, timestamp: '2011-01-26T19:01:12Z' },
      repo: LONG_REPO,
    });
    const [first] = await store.claimTasks(1, 60_000);
    await store.markTaskSubmitted(first!, 'mas_task_8842');
    const [second] = await store.claimTasks(1, 60_000);
    await store.endTask(second!, 'dead', LONG_ERROR, 'gitbridge');
  } finally {
    await store.close();
  }
});

describe('ids a person can type', () => {
  it('deliveries show takes the 8 characters the log view shows, and a replay as <prefix>:replay:<n>', async () => {
    const logViewId = PR.slice(0, 8);
    const [short, json, replay] = await Promise.all([cli('deliveries', 'show', logViewId), cli('deliveries', 'show', logViewId, '--json'), cli('deliveries', 'show', `${logViewId}:replay:1`, '--json')]);
    expect(short.exitCode, short.stderr).toBe(0);
    expect(short.stdout).toMatch(new RegExp(`^delivery:\\s+${PR}$`, 'm'));
    expect((JSON.parse(json.stdout) as { delivery_id: string }).delivery_id).toBe(PR);
    expect(JSON.parse(replay.stdout)).toMatchObject({ delivery_id: `${PR}:replay:1`, replay_of: PR });
  });

  it('an ambiguous prefix names the ids it matches (exit 1); one under 4 characters is refused (exit 2); none matching is not found', async () => {
    const [twins, tooShort, none] = await Promise.all([cli('deliveries', 'show', '5f1e0c2a'), cli('deliveries', 'show', '5f1'), cli('deliveries', 'show', 'ffffffff')]);
    expect(twins.exitCode).toBe(1);
    expect(twins.stderr).toContain(`gitbridge: delivery id prefix 5f1e0c2a is ambiguous: ${TWIN_A}, ${TWIN_B}`);
    expect(twins.stderr).toMatch(/hint: give more characters/);
    expect(tooShort.exitCode).toBe(2);
    expect(tooShort.stderr).toContain('a prefix needs at least 4 characters');
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain('no delivery ffffffff');
    // One more character settles it.
    expect((await cli('deliveries', 'show', TWIN_B.slice(0, 10), '--json')).exitCode).toBe(0);
  });

  it('tasks show and tasks retry take an 8-character prefix of the GitBridge id or of the MAS task id', async () => {
    // "gbt_" plus 4: unique among three tasks (pick one whose 8 characters no other task shares).
    const unique = taskIds.find((id) => taskIds.filter((o) => o.slice(0, 8) === id.slice(0, 8)).length === 1)!;
    const [byGbt, byMas] = await Promise.all([cli('tasks', 'show', unique.slice(0, 8), '--json'), cli('tasks', 'show', 'mas_task', '--json')]);
    expect(byGbt.exitCode, byGbt.stderr).toBe(0);
    expect((JSON.parse(byGbt.stdout) as { task: { id: string } }).task.id).toBe(unique);
    expect((JSON.parse(byMas.stdout) as { task: { id: string; task_id: string } }).task).toMatchObject({ id: taskIds[0], task_id: 'mas_task_8842' });
    const dead = taskIds[1]!;
    const retried = await cli('tasks', 'retry', dead.slice(0, 12));
    expect(retried.exitCode, retried.stderr).toBe(0);
    expect(retried.stdout).toContain(`task ${dead} queued again`);
    const all = await cli('tasks', 'show', 'gbt_');
    expect(all.exitCode).toBe(1);
    expect(all.stderr).toContain('task id prefix gbt_ is ambiguous');
  });

  it('tables fit 100 columns, with ids shortened to what the commands take back; --wide prints everything', async () => {
    const runs = await Promise.all([cli('tasks', 'ls'), cli('deliveries', 'ls'), cli('journal', 'ls'), cli('deliveries', 'show', PR)]);
    for (const r of runs) {
      expect(r.exitCode, r.stderr).toBe(0);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    }
    const [tasks, deliveries] = runs;
    expect(tasks!.stdout).toContain('…');
    expect(tasks!.stdout).not.toContain(LONG_ERROR);
    expect(deliveries!.stdout).toContain(`${PR.slice(0, 8)}:replay:1 `);
    // An id as the table shows it works as an argument.
    const shownTaskId = tasks!.stdout.split('\n')[1]!.split(/\s+/)[0]!;
    expect(shownTaskId).toMatch(/^gbt_[0-9a-f]{8}$/);
    expect((await cli('tasks', 'show', shownTaskId)).exitCode).toBe(0);

    const wide = await Promise.all([cli('tasks', 'ls', '--wide'), cli('deliveries', 'ls', '--wide'), cli('journal', 'ls', '--wide')]);
    for (const id of taskIds) expect(wide[0]!.stdout).toContain(id);
    expect(wide[0]!.stdout).toContain(LONG_ERROR);
    expect(wide[0]!.stdout).toContain(LONG_REPO);
    expect(wide[1]!.stdout).toContain(`${PR}:replay:1`);
    expect(wide[1]!.stdout.split('\n')[0]).toContain('OUTCOME');
    expect(wide[2]!.stdout).toContain(PR);
    expect(Math.max(...wide[0]!.stdout.split('\n').map((l) => l.length))).toBeGreaterThan(100);
  });
});
