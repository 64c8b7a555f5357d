import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { advanceUntil, realDelay } from './helpers/clock.js';
import { CALLBACK_SECRET, postDelivery, scrape, startCallbackDaemon, tempDir, waitFor } from './helpers/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startScriptedMas, type ScriptedMas } from './helpers/scripted-mas.js';

const seed = JSON.parse(readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url), 'utf8')) as Record<string, any>;

/** A pull_request delivery for PR `number` of the seed's repository, with the action and the pull request's own updated_at. */
function pr(number: number, action: string, updatedAt: string, repoId = seed.repository.id as number): string {
  return JSON.stringify({
    ...seed,
    action,
    number,
    repository: { ...seed.repository, id: repoId },
    pull_request: { ...seed.pull_request, number, state: action === 'closed' ? 'closed' : 'open', updated_at: updatedAt },
  });
}

/** Rules that also turn `pull_request.closed` into a task (the shipped ones do not). */
const RULES = JSON.stringify({
  rules: [
    { name: 'pr', event: 'pull_request', actions: ['opened', 'closed'], task_type: 'review_pull_request', priority: 'high', metadata: { pr: 'pull_request.number', action: 'action' } },
  ],
});

/** What each test started, stopped before the next test (daemons on one database would take each other's work). */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The reference MAS, calling back and completing within 5 ms; closed after the test. */
async function referenceMas(): Promise<ReferenceMas> {
  const mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 5, completeAfterMs: 5 });
  cleanups.push(() => mas.close());
  return mas;
}

describe('tasks in the order things happened', () => {

  /** A daemon on a ManualClock with the PR rules, against `masUrl`. */
  async function daemonFor(masUrl: string, clock: ManualClock, env: Record<string, string> = {}, pollMs = 1000): Promise<Daemon> {
    const tmp = tempDir();
    writeFileSync(`${tmp.dir}/rules.json`, RULES);
    const { daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: masUrl, GITBRIDGE_CONFIG: `${tmp.dir}/rules.json`, ...env }, { clock, random: () => 0.5, policy: { pollMs } });
    cleanups.push(() => tmp.cleanup(), () => daemon.stop(200));
    return daemon;
  }
  async function scriptedMas(answer: Parameters<typeof startScriptedMas>[0], clock: ManualClock): Promise<ScriptedMas> {
    const mas = await startScriptedMas(answer, () => clock.now());
    cleanups.push(() => mas.close());
    return mas;
  }

  it('overtaking: the first submission of "opened" gets 503 Retry-After: 1, "closed" arrives; the MAS receives opened before closed', async () => {
    const clock = new ManualClock();
    const mas = await referenceMas();
    const daemon = await daemonFor(mas.url, clock);
    mas.failureModes.failNext(1, 503, { retryAfterS: 1 });
    const opened = await postDelivery(daemon.url, 'pull_request', pr(101, 'opened', '2026-03-01T10:00:00Z'));
    await waitFor(() => mas.submissions.length === 1, 5000, 'the first (failing) submission');
    const closed = await postDelivery(daemon.url, 'pull_request', pr(101, 'closed', '2026-03-01T10:05:00Z'));
    const held = await waitFor(async () => (await daemon.store.tasksForDelivery(closed.deliveryId))[0], 5000, 'the closed task');
    expect(held).toMatchObject({ held: true, entity: 'repo:1296269/pull/101', event: 'pull_request.closed' });
    // Without time passing, nothing overtakes.
    await realDelay(200);
    expect(mas.submissions.map((s) => s.delivery_id)).toEqual([opened.deliveryId]);
    await advanceUntil(clock, () => mas.tasks.length === 2, { maxMs: 5000, what: 'both tasks accepted' });
    const accepted = mas.submissions.filter((s) => s.status_code === 201);
    expect(accepted.map((s) => s.delivery_id)).toEqual([opened.deliveryId, closed.deliveryId]);
    expect(accepted.map((s) => s.ordering?.event)).toEqual(['pull_request.opened', 'pull_request.closed']);
    expect(accepted.map((s) => s.ordering?.stale)).toEqual([false, false]);
    // The retry waited out the Retry-After on the store's clock.
    const first = mas.submissions[0]!;
    expect(first.status_code).toBe(503);
  });

  it('newest first: both submitted in arrival order, the late older event marked stale with its own event_at', async () => {
    const clock = new ManualClock();
    const mas = await referenceMas();
    const daemon = await daemonFor(mas.url, clock);
    const closed = await postDelivery(daemon.url, 'pull_request', pr(102, 'closed', '2026-03-01T11:00:00Z'));
    await waitFor(() => mas.tasks.length === 1, 5000, 'closed accepted');
    const opened = await postDelivery(daemon.url, 'pull_request', pr(102, 'opened', '2026-03-01T10:00:00Z'));
    await waitFor(() => mas.tasks.length === 2, 5000, 'opened accepted');
    expect(mas.tasks.map((t) => [t.delivery_id, t.ordering?.event, t.ordering?.event_at, t.ordering?.stale, t.ordering?.entity])).toEqual([
      [closed.deliveryId, 'pull_request.closed', '2026-03-01T11:00:00.000Z', false, 'repo:1296269/pull/102'],
      [opened.deliveryId, 'pull_request.opened', '2026-03-01T10:00:00.000Z', true, 'repo:1296269/pull/102'],
    ]);
    // Counted once the daemon has the MAS's answer (the MAS records the task before it answers).
    await waitFor(async () => /^gitbridge_mas_stale_submissions_total 1$/m.test(await scrape(daemon.url)), 5000, 'the stale submission counted');
  });

  it('deliveries for 100 entities while one entity\'s task is retrying: the 99 others go without waiting, the retrying entity\'s next task waits', async () => {
    const clock = new ManualClock();
    let badKey = '';
    const mas = await scriptedMas((r) => (r.key === badKey ? { status: 500 } : { status: 201 }), clock);
    const daemon = await daemonFor(mas.url, clock);
    const bad = await postDelivery(daemon.url, 'pull_request', pr(200, 'opened', '2026-03-01T10:00:00Z'));
    badKey = `${bad.deliveryId}:review_pull_request`;
    await waitFor(() => mas.requests.some((r) => r.key === badKey), 5000, 'the failing submission');
    const behind = await postDelivery(daemon.url, 'pull_request', pr(200, 'closed', '2026-03-01T10:01:00Z'));
    const others = await Promise.all(Array.from({ length: 99 }, (_, i) => postDelivery(daemon.url, 'pull_request', pr(201 + i, 'opened', '2026-03-01T10:00:00Z'))));
    // No manual time passes: the 99 need none.
    const before = clock.now();
    await waitFor(() => others.every((o) => mas.requests.some((r) => r.key === `${o.deliveryId}:review_pull_request`)), 15_000, 'the 99 other entities submitted');
    expect(clock.now()).toBe(before);
    expect(mas.requests.filter((r) => r.key === badKey)).toHaveLength(1);
    expect(mas.requests.some((r) => r.key.startsWith(behind.deliveryId))).toBe(false);
    expect((await daemon.store.tasksForDelivery(behind.deliveryId))[0]?.held).toBe(true);
    expect(await scrape(daemon.url)).toMatch(/^gitbridge_tasks_held_for_order 1$/m);
  }, 30_000);

  it('a MAS that rejects one task with 500 while accepting others: that task spends its attempts and is dead after GITBRIDGE_MAS_MAX_ATTEMPTS', async () => {
    const clock = new ManualClock();
    let badKey = '';
    const mas = await scriptedMas((r) => (r.key === badKey ? { status: 500 } : { status: 201 }), clock);
    const daemon = await daemonFor(mas.url, clock, { GITBRIDGE_MAS_MAX_ATTEMPTS: '3' });
    const bad = await postDelivery(daemon.url, 'pull_request', pr(300, 'opened', '2026-03-01T10:00:00Z'));
    badKey = `${bad.deliveryId}:review_pull_request`;
    let n = 0;
    await advanceUntil(clock, async () => {
      // Others keep arriving and are accepted meanwhile.
      await postDelivery(daemon.url, 'pull_request', pr(400 + n++, 'opened', '2026-03-01T10:00:00Z'));
      return (await daemon.store.tasksForDelivery(bad.deliveryId))[0]?.status === 'dead';
    }, { maxMs: 60_000, stepMs: 500, what: 'the bad task dead' });
    const task = (await daemon.store.tasksForDelivery(bad.deliveryId))[0]!;
    expect(task).toMatchObject({ status: 'dead', attempts: 3 });
    expect(task.lastError).toMatch(/^retries exhausted after 3 attempts: MAS answered 500/);
    expect(mas.requests.filter((r) => r.key === badKey)).toHaveLength(3);
    const metrics = await scrape(daemon.url);
    expect(metrics).toMatch(/^gitbridge_tasks_dead_total\{reason="retries_exhausted"\} 1$/m);
    const { tasks } = await daemon.store.counts();
    const accepted = tasks.pending + tasks.running + tasks.completed;
    expect(accepted).toBeGreaterThanOrEqual(n - 1);
  }, 30_000);

  it('a MAS that hangs for every request: probes back off to a minute apart, no attempts spent, dead at the maximum age', async () => {
    const clock = new ManualClock();
    const mas = await scriptedMas(() => 'hang', clock);
    const daemon = await daemonFor(mas.url, clock, { GITBRIDGE_MAS_TIMEOUT_MS: '150', GITBRIDGE_MAS_MAX_ATTEMPTS: '3', GITBRIDGE_TASK_MAX_AGE_S: '900' }, 60_000);
    const a = await postDelivery(daemon.url, 'pull_request', pr(500, 'opened', '2026-03-01T10:00:00Z'));
    const b = await postDelivery(daemon.url, 'pull_request', pr(501, 'opened', '2026-03-01T10:00:00Z'));
    // Drive the clock: each step waits for the hanging request to time out (real time), then jumps to the next timer.
    const deadline = clock.now() + 1_000_000;
    const errors = new Set<string | null>();
    const bothDead = async () => (await Promise.all([a, b].map(async (d) => (await daemon.store.tasksForDelivery(d.deliveryId))[0]?.status))).every((s) => s === 'dead');
    while (!(await bothDead())) {
      if (clock.now() > deadline) throw new Error('tasks never died');
      await waitFor(() => mas.open() === 0, 5000, 'hanging requests timed out');
      await realDelay(20);
      errors.add((await daemon.store.tasksForDelivery(a.deliveryId))[0]?.lastError ?? null);
      const next = clock.nextAt();
      await clock.advance(next === null ? 1000 : Math.max(1, next - clock.now()));
    }
    const times = mas.requests.map((r) => r.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Probes back off: the gaps grow, and late in the outage they are about a minute (never less than half the cap).
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(60_000);
    expect(gaps.slice(-3).every((g) => g >= 30_000)).toBe(true);
    // About one probe a minute once the outage is long: at most 10 in its last 5 minutes.
    expect(times.filter((t) => t > times.at(-1)! - 300_000).length).toBeLessThanOrEqual(10);
    for (const d of [a, b]) {
      const t = (await daemon.store.tasksForDelivery(d.deliveryId))[0]!;
      expect(t.attempts).toBeLessThanOrEqual(2);
      expect(t.lastError).toMatch(/^max_age: not accepted by the MAS within GITBRIDGE_TASK_MAX_AGE_S \(900 s\)/);
      const history = await daemon.store.taskHistory(t.id);
      expect(history.at(-1)).toMatchObject({ from: 'queued', to: 'dead', source: 'gitbridge' });
    }
    // Failed attempts were recorded in words, never an internal number.
    expect(errors).toContain('MAS unreachable: timeout after 150 ms');
    const metrics = await scrape(daemon.url);
    expect(metrics).toMatch(/^gitbridge_tasks\{status="dead"\} 2$/m);
    expect(metrics).toMatch(/^gitbridge_tasks_dead_total\{reason="max_age"\} 2$/m);
  }, 60_000);
});

describe('tasks in the order things happened, two daemons on one PostgreSQL store', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('gitbridge_ordering');
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Two daemons with the PR rules on the test's database, each giving the MAS its own callback URL. */
  async function twoDaemons(masUrl: string): Promise<[Daemon, Daemon]> {
    const daemons: Daemon[] = [];
    for (let i = 0; i < 2; i++) {
      const tmp = tempDir();
      writeFileSync(`${tmp.dir}/rules.json`, RULES);
      const { daemon } = await startCallbackDaemon(tmp.dir, {
        GITBRIDGE_MAS_URL: masUrl, GITBRIDGE_CONFIG: `${tmp.dir}/rules.json`, GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_DATABASE_POOL_MAX: '3',
      }, { policy: { pollMs: 200 } });
      cleanups.push(() => tmp.cleanup(), () => daemon.stop(200));
      daemons.push(daemon);
    }
    return daemons as [Daemon, Daemon];
  }

  it('an entity\'s first submission retried (503 Retry-After: 1) while its next event arrives at the other node: the MAS receives them in order, whichever node claims them', async () => {
    const mas = await referenceMas();
    const [a, b] = await twoDaemons(mas.url);
    mas.failureModes.failNext(1, 503, { retryAfterS: 1 });
    const opened = await postDelivery(a.url, 'pull_request', pr(601, 'opened', '2026-03-01T10:00:00Z'));
    await waitFor(() => mas.submissions.length === 1, 5000, 'the first (failing) submission');
    const closed = await postDelivery(b.url, 'pull_request', pr(601, 'closed', '2026-03-01T10:05:00Z'));
    const held = await waitFor(async () => (await b.store.tasksForDelivery(closed.deliveryId))[0], 5000, 'the closed task');
    expect(held).toMatchObject({ held: true, entity: 'repo:1296269/pull/601' });
    await waitFor(() => mas.tasks.length === 2, 15_000, 'both tasks accepted');
    const accepted = mas.submissions.filter((s) => s.status_code === 201);
    expect(accepted.map((s) => s.delivery_id)).toEqual([opened.deliveryId, closed.deliveryId]);
    expect(accepted.map((s) => s.ordering?.stale)).toEqual([false, false]);
    expect(mas.submissions[0]).toMatchObject({ delivery_id: opened.deliveryId, status_code: 503 });
  }, 30_000);

  it('many events of a few entities arriving at both nodes at once: per entity, the MAS receives them in arrival order at the store', async () => {
    const mas = await referenceMas();
    const daemons = await twoDaemons(mas.url);
    // MAS hiccups: some first submissions are retried while later events of the same entity wait.
    mas.failureModes.failNext(4, 503, { retryAfterS: 1 });
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      postDelivery(daemons[i % 2]!.url, 'pull_request', pr(700 + (i % 3), i % 2 ? 'closed' : 'opened', `2026-03-01T10:${String(i).padStart(2, '0')}:00Z`))));
    expect(sent.every((s) => s.status === 202)).toBe(true);
    const store = daemons[0]!.store;
    await waitFor(async () => mas.tasks.length === 30 && (await store.counts()).tasks.queued === 0, 20_000, 'every task accepted and recorded');
    for (let e = 0; e < 3; e++) {
      const entity = `repo:1296269/pull/${700 + e}`;
      // Creation order at the store (one delivery each): the order the MAS must see.
      const created = (await store.listTasks({ limit: 100 })).filter((t) => t.entity === entity).reverse();
      const histories = await Promise.all(created.map(async (t) => (await store.taskHistory(t.id)).find((h) => h.to === 'pending')!.at));
      expect([...histories].sort(), entity).toEqual(histories);
      const masOrder = mas.tasks.filter((t) => t.ordering?.entity === entity).map((t) => t.delivery_id);
      expect(masOrder, entity).toEqual(created.map((t) => t.deliveryId));
    }
  }, 40_000);
});
