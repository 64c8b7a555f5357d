/**
 * The store contract suite (DESIGN §10): written once, run against every
 * engine (store.sqlite.test.ts, store.postgres.test.ts). An engine passes
 * when it behaves the same as every other at every method of the contract.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Claim, ClaimedDelivery, NewDelivery, RedeliveryIntent, Store, TaskDraft } from '../src/index.js';

/** A store under test, and how time passes for it. */
export interface StoreHarness {
  readonly store: Store;
  /**
   * Lets `ms` of the store's clock pass: a ManualClock advances at once; an
   * engine on the database's clock waits in real time (so tests keep `ms` small).
   */
  elapse(ms: number): Promise<void>;
  /** Closes the store and removes what it created (a temp dir, a database). */
  cleanup(): Promise<void>;
}

/** Lease used by the suite, ms: short, so that an engine on real time still runs fast. */
const LEASE = 200;

export const draft = (taskType = 'triage_issue', notify = true): TaskDraft => ({
  rule: `rule-${taskType}`,
  taskType,
  priority: 'normal',
  payload: { type: taskType, priority: 'normal', metadata: { n: 1 }, protocol_version: '2.1' },
  notify: notify ? { channel: '#c', text: `text ${taskType}`, url: null } : null,
});

export const journal = { type: 'issues', action: 'opened', repo: 'o/r', number: 1, timestamp: '2020-01-01T00:00:00Z' };

/** A redelivery request recovery is about to make for `guid`. */
export function intent(guid: string, overrides: Partial<RedeliveryIntent> = {}): RedeliveryIntent {
  return { deliveryId: guid, hook: 'repos/o/r/hooks/42', githubDeliveryId: 1000, event: 'issues', action: 'opened', reason: 'failed', ...overrides };
}

export function newDelivery(id: string, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    deliveryId: id,
    event: 'issues',
    action: 'opened',
    hookId: '42',
    repo: 'o/r',
    repoId: 1,
    installationId: null,
    receivedAt: new Date().toISOString(),
    contentType: 'json',
    headers: { 'x-github-event': 'issues', 'user-agent': 'GitHub-Hookshot/x' },
    body: Buffer.from(`{"id":"${id}"}`),
    signatureSlot: 0,
    sourceIp: '127.0.0.1',
    state: 'queued',
    outcome: null,
    ...overrides,
  };
}

/** Runs the contract suite against an engine. `open` gives a fresh, empty store for each test. */
export function describeStoreContract(engine: string, open: () => Promise<StoreHarness>): void {
  describe(`store contract: ${engine}`, () => {
    let h: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const claimOne = async (): Promise<Claim<ClaimedDelivery>> => {
      const [c] = await store.claimDeliveries(1, LEASE);
      if (!c) throw new Error('nothing to claim');
      return c;
    };
    const ingestAndComplete = async (id: string, drafts: TaskDraft[] = [draft()]) => {
      await store.ingest(newDelivery(id));
      const c = (await store.claimDeliveries(100, LEASE)).find((x) => x.item.deliveryId === id);
      if (!c) throw new Error(`${id} not claimed`);
      return store.completeDelivery(c, { drafts, journal: { ...journal }, repo: 'o/r' });
    };

    describe('ingest', () => {
      it('stores a delivery id once: later ingests of the same id are duplicates', async () => {
        expect(await store.ingest(newDelivery('a'))).toBe('stored');
        expect(await store.ingest(newDelivery('a', { event: 'push' }))).toBe('duplicate');
        expect((await store.getDelivery('a'))?.event).toBe('issues');
      });

      it('the same id ingested twice at once gives one stored and one duplicate', async () => {
        const results = await Promise.all([store.ingest(newDelivery('same')), store.ingest(newDelivery('same'))]);
        expect(results.sort()).toEqual(['duplicate', 'stored']);
        expect(await store.listDeliveries()).toHaveLength(1);
      });

      it('keeps the body byte for byte, headers and fields as given', async () => {
        const body = Buffer.from([0x7b, 0x22, 0xe2, 0x9c, 0x93, 0x22, 0x3a, 0x31, 0x7d, 0x00, 0xff, 0x0a]);
        await store.ingest(newDelivery('b', { body, contentType: 'form', headers: { 'x-github-event': 'issues' } }));
        expect((await store.getDeliveryBody('b'))?.equals(body)).toBe(true);
        expect(await store.getDelivery('b')).toMatchObject({
          deliveryId: 'b', event: 'issues', action: 'opened', hookId: '42', repo: 'o/r', repoId: 1, contentType: 'form',
          headers: { 'x-github-event': 'issues' }, size: body.length, signatureSlot: 0, sourceIp: '127.0.0.1', state: 'queued', attempts: 0, replayOf: null,
        });
        expect(await store.getDelivery('nope')).toBeUndefined();
        expect(await store.getDeliveryBody('nope')).toBeUndefined();
      });

      it('a delivery stored as processed (ping) is never claimed', async () => {
        await store.ingest(newDelivery('ping-1', { event: 'ping', state: 'processed', outcome: 'ping' }));
        expect(await store.claimDeliveries(10, LEASE)).toEqual([]);
        expect(await store.msUntilDue('deliveries')).toBeNull();
      });

      it('wakes the delivery queue after a stored delivery, not after a duplicate', async () => {
        let woken = 0;
        const off = store.onWake('deliveries', () => woken++);
        await store.ingest(newDelivery('w'));
        expect(woken).toBe(1);
        await store.ingest(newDelivery('w'));
        expect(woken).toBe(1);
        off();
        await store.ingest(newDelivery('w2'));
        expect(woken).toBe(1);
      });
    });

    describe('leased queues and claim tokens', () => {
      it('a claim leases the item: nothing to claim during the lease, the same item again after it', async () => {
        await store.ingest(newDelivery('a'));
        const first = await claimOne();
        expect(first.item.attempts).toBe(1);
        expect(first.item.body.toString()).toBe('{"id":"a"}');
        expect(await store.claimDeliveries(10, LEASE)).toEqual([]);
        const due = await store.msUntilDue('deliveries');
        expect(due).toBeGreaterThan(0);
        expect(due).toBeLessThanOrEqual(LEASE);
        await h.elapse(LEASE + 50);
        const again = await claimOne();
        expect(again.item.deliveryId).toBe('a');
        expect(again.item.attempts).toBe(2);
        expect(again.token).not.toBe(first.token);
      });

      it('a stale token can neither complete, fail nor renew; the new holder can', async () => {
        await store.ingest(newDelivery('a'));
        const stale = await claimOne();
        await h.elapse(LEASE + 50);
        const fresh = await claimOne();
        await expect(store.renewDelivery(stale, LEASE)).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await expect(store.completeDelivery(stale, { drafts: [draft()], journal, repo: 'o/r' })).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await expect(store.failDelivery(stale, 'boom', null)).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await store.renewDelivery(fresh, LEASE);
        expect(await store.completeDelivery(fresh, { drafts: [draft()], journal, repo: 'o/r' })).toHaveLength(1);
        expect((await store.getDelivery('a'))?.state).toBe('processed');
      });

      it('a renewed lease keeps the item from other claimers', async () => {
        await store.ingest(newDelivery('a'));
        const c = await claimOne();
        await h.elapse(LEASE / 2);
        await store.renewDelivery(c, LEASE * 3);
        await h.elapse(LEASE);
        expect(await store.claimDeliveries(10, LEASE)).toEqual([]);
      });

      it('two concurrent claimers never get the same item', async () => {
        await Promise.all(Array.from({ length: 60 }, (_, i) => store.ingest(newDelivery(`d${i}`))));
        const batches = await Promise.all(Array.from({ length: 6 }, () => store.claimDeliveries(15, 10_000)));
        const ids = batches.flat().map((c) => c.item.deliveryId);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toHaveLength(60);
      });

      it('forced double processing: the worker whose lease lapsed is refused, one journal entry and one task', async () => {
        await store.ingest(newDelivery('twice'));
        const first = await claimOne();
        await h.elapse(LEASE + 50);
        const second = await claimOne();
        const result = { drafts: [draft()], journal, repo: 'o/r' };
        const [a, b] = await Promise.allSettled([store.completeDelivery(second, result), store.completeDelivery(first, result)]);
        expect(a.status).toBe('fulfilled');
        expect(b).toMatchObject({ status: 'rejected', reason: { code: 'GB_STORE_CLAIM_LOST' } });
        expect((await store.listJournal()).filter((j) => j.deliveryId === 'twice')).toHaveLength(1);
        expect(await store.tasksForDelivery('twice')).toHaveLength(1);
      });

      it('failDelivery: due again after the delay, or dead; a dead delivery can be queued again', async () => {
        await store.ingest(newDelivery('f'));
        await store.failDelivery(await claimOne(), 'parse error', LEASE);
        expect(await store.claimDeliveries(10, LEASE)).toEqual([]);
        expect((await store.getDelivery('f'))?.lastError).toBe('parse error');
        await h.elapse(LEASE + 50);
        await store.failDelivery(await claimOne(), 'parse error again', null);
        expect(await store.getDelivery('f')).toMatchObject({ state: 'dead', outcome: 'dead', attempts: 2 });
        expect(await store.requeueDelivery('f')).toBe(true);
        expect(await store.requeueDelivery('f')).toBe(false);
        expect(await store.requeueDelivery('unknown')).toBe(false);
        const again = await claimOne();
        expect(again.item.attempts).toBe(1);
      });

      it('msUntilDue is null for an empty queue and 0 when an item is due', async () => {
        expect(await store.msUntilDue('deliveries')).toBeNull();
        expect(await store.msUntilDue('tasks')).toBeNull();
        expect(await store.msUntilDue('notifications')).toBeNull();
        await store.ingest(newDelivery('a'));
        expect(await store.msUntilDue('deliveries')).toBe(0);
      });
    });

    describe('processing a delivery', () => {
      it('creates queued tasks with history and notifications, one journal entry, and wakes the task and notification queues', async () => {
        const woken: string[] = [];
        store.onWake('tasks', () => woken.push('tasks'));
        store.onWake('notifications', () => woken.push('notifications'));
        const ids = await ingestAndComplete('p', [draft('a'), draft('b', false)]);
        expect(ids).toHaveLength(2);
        expect(woken.sort()).toEqual(['notifications', 'tasks']);
        const tasks = await store.tasksForDelivery('p');
        expect(tasks.map((t) => [t.taskType, t.status, t.idempotencyKey, t.attempts])).toEqual([['a', 'queued', 'p:a', 0], ['b', 'queued', 'p:b', 0]]);
        expect(tasks[0]!.payload).toEqual(draft('a').payload);
        expect(tasks[0]).toMatchObject({ deliveryId: 'p', rule: 'rule-a', repo: 'o/r', priority: 'normal', taskId: null, result: null });
        expect(await store.taskHistory(tasks[0]!.id)).toMatchObject([{ from: null, to: 'queued', source: 'gitbridge' }]);
        expect((await store.notificationsForDelivery('p')).map((n) => [n.channel, n.text, n.status, n.taskRef])).toEqual([['#c', 'text a', 'pending', tasks[0]!.id]]);
        expect(await store.listJournal()).toMatchObject([{ deliveryId: 'p', type: 'issues', action: 'opened', repo: 'o/r', number: 1, timestamp: '2020-01-01T00:00:00Z' }]);
        expect(await store.getDelivery('p')).toMatchObject({ state: 'processed', outcome: 'tasks' });
      });

      it('no task: the delivery is ignored and still journaled', async () => {
        expect(await ingestAndComplete('i', [])).toEqual([]);
        expect(await store.getDelivery('i')).toMatchObject({ state: 'ignored', outcome: 'ignored', ignoredReason: null });
        expect(await store.listJournal()).toHaveLength(1);
      });

      it('keeps why a delivery was ignored; a delivery with tasks keeps no reason', async () => {
        for (const [id, drafts] of [['why', []], ['made', [draft()]]] as const) {
          await store.ingest(newDelivery(id));
          const [c] = await store.claimDeliveries(1, LEASE);
          await store.completeDelivery(c!, { drafts: [...drafts], journal: { ...journal }, repo: 'o/r', ignoredReason: 'no rule for issues.opened' });
        }
        expect(await store.getDelivery('why')).toMatchObject({ state: 'ignored', ignoredReason: 'no rule for issues.opened' });
        expect(await store.getDelivery('made')).toMatchObject({ state: 'processed', ignoredReason: null });
      });

      it('a delivery stored with notify false makes its tasks but no notification; notify defaults to true', async () => {
        const woken: string[] = [];
        store.onWake('notifications', () => woken.push('notifications'));
        await store.ingest(newDelivery('quiet', { notify: false }));
        await store.ingest(newDelivery('loud'));
        expect(await store.getDelivery('quiet')).toMatchObject({ notify: false });
        expect(await store.getDelivery('loud')).toMatchObject({ notify: true });
        const quiet = (await store.claimDeliveries(10, LEASE)).find((c) => c.item.deliveryId === 'quiet')!;
        expect(quiet.item.notify).toBe(false);
        expect(await store.completeDelivery(quiet, { drafts: [draft('a'), draft('b')], journal: { ...journal }, repo: 'o/r' })).toHaveLength(2);
        expect(await store.notificationsForDelivery('quiet')).toEqual([]);
        expect(await store.claimNotifications(10, LEASE)).toEqual([]);
        expect(woken).toEqual([]);
      });

      it("a replay's journal entry names the delivery it replays; others name none", async () => {
        await ingestAndComplete('orig');
        const build = (o: ClaimedDelivery, id: string) => newDelivery(id, { body: o.body, replayOf: o.deliveryId, notify: false });
        expect(await store.insertReplay('orig', build)).toBe('orig:replay:1');
        const [c] = await store.claimDeliveries(1, LEASE);
        expect(c!.item).toMatchObject({ deliveryId: 'orig:replay:1', replayOf: 'orig', notify: false });
        await store.completeDelivery(c!, { drafts: [draft()], journal: { ...journal }, repo: 'o/r' });
        expect((await store.listJournal()).map((j) => [j.deliveryId, j.replayOf])).toEqual([['orig:replay:1', 'orig'], ['orig', null]]);
        expect(await store.notificationsForDelivery('orig:replay:1')).toEqual([]);
        expect(await store.notificationsForDelivery('orig')).toHaveLength(1);
      });
    });

    describe('the task queue', () => {
      const claimTask = async () => {
        const [c] = await store.claimTasks(1, LEASE);
        if (!c) throw new Error('no task to claim');
        return c;
      };

      it('submitted: pending with the MAS task id, found by either id; a stale claim is refused', async () => {
        await ingestAndComplete('t');
        const c = await claimTask();
        expect(c.item.attempts).toBe(1);
        await store.markTaskSubmitted(c, 'mas-1');
        await expect(store.markTaskSubmitted(c, 'mas-2')).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        const t = await store.getTask('mas-1');
        expect(t).toMatchObject({ id: c.item.id, taskId: 'mas-1', status: 'pending', nextAttemptAt: null });
        expect((await store.getTask(c.item.id))?.taskId).toBe('mas-1');
        expect((await store.taskHistory(c.item.id)).map((x) => x.to)).toEqual(['queued', 'pending']);
        expect(await store.claimTasks(10, LEASE)).toEqual([]);
      });

      it('retry later: due after the delay; a refunded attempt does not count', async () => {
        await ingestAndComplete('t');
        await store.retryTaskLater(await claimTask(), 'MAS answered 503', LEASE);
        expect(await store.claimTasks(10, LEASE)).toEqual([]);
        expect((await store.getTask((await store.tasksForDelivery('t'))[0]!.id))?.lastError).toBe('MAS answered 503');
        await h.elapse(LEASE + 50);
        const second = await claimTask();
        expect(second.item.attempts).toBe(2);
        await store.retryTaskLater(second, 'probe', 0, { refundAttempt: true });
        expect((await claimTask()).item.attempts).toBe(2);
      });

      it('releaseTaskBackoff makes waiting tasks due now, but not tasks under a lease', async () => {
        await ingestAndComplete('t1');
        await ingestAndComplete('t2');
        const [a, b] = await store.claimTasks(2, 60_000);
        await store.retryTaskLater(a!, 'down', 60_000);
        expect(await store.releaseTaskBackoff()).toBe(1);
        const again = await store.claimTasks(10, LEASE);
        expect(again.map((c) => c.item.id)).toEqual([a!.item.id]);
        expect(b).toBeDefined();
      });

      it('endTask: failed or dead with the reason, final', async () => {
        await ingestAndComplete('t');
        const c = await claimTask();
        await store.endTask(c, 'dead', 'retries exhausted', 'gitbridge');
        await expect(store.endTask(c, 'failed', 'again', 'mas')).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        expect(await store.getTask(c.item.id)).toMatchObject({ status: 'dead', lastError: 'retries exhausted' });
        expect((await store.taskHistory(c.item.id)).at(-1)).toMatchObject({ from: 'queued', to: 'dead', source: 'gitbridge', detail: 'retries exhausted' });
      });

      it('renewTask extends a lease; a stale token cannot', async () => {
        await ingestAndComplete('t');
        const c = await claimTask();
        await h.elapse(LEASE + 50);
        const fresh = await claimTask();
        await expect(store.renewTask(c, LEASE)).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await store.renewTask(fresh, LEASE);
      });

      it('a stale token can neither retry later, record a submission nor end the task, and writes nothing', async () => {
        await ingestAndComplete('t');
        const stale = await claimTask();
        await h.elapse(LEASE + 50);
        const fresh = await claimTask();
        await expect(store.retryTaskLater(stale, 'late', 1000)).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await expect(store.markTaskSubmitted(stale, 'mas-stale')).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        await expect(store.endTask(stale, 'dead', 'late', 'gitbridge')).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        expect(await store.getTask(fresh.item.id)).toMatchObject({ status: 'queued', taskId: null, lastError: null });
        expect((await store.taskHistory(fresh.item.id)).map((t) => t.to)).toEqual(['queued']);
        await store.markTaskSubmitted(fresh, 'mas-fresh');
        expect(await store.getTask(fresh.item.id)).toMatchObject({ status: 'pending', taskId: 'mas-fresh' });
      });

      it('retryTask: unknown, refused unless failed or dead, then queued again with a new key once the MAS had it', async () => {
        await ingestAndComplete('t');
        expect(await store.retryTask('nope')).toEqual({ outcome: 'unknown' });
        const c = await claimTask();
        expect(await store.retryTask(c.item.id)).toMatchObject({ outcome: 'refused', task: { status: 'queued' } });
        await store.markTaskSubmitted(c, 'mas-9');
        await store.applyCallback('mas-9', 'failed', { error: 'agent crashed' });
        const r = await store.retryTask('mas-9');
        expect(r).toMatchObject({ outcome: 'retried', task: { status: 'queued', taskId: null, attempts: 0, idempotencyKey: 't:triage_issue:retry:1' } });
        expect((await store.taskHistory(c.item.id)).at(-1)).toMatchObject({ from: 'failed', to: 'queued', source: 'operator' });
        expect((await claimTask()).item.id).toBe(c.item.id);
      });

      it('callbacks move a task forward only; terminal states are final; unknown ids say so', async () => {
        await ingestAndComplete('t');
        const c = await claimTask();
        await store.markTaskSubmitted(c, 'mas-1');
        expect(await store.applyCallback('mas-x', 'running', {})).toEqual({ outcome: 'unknown' });
        expect(await store.applyCallback('mas-1', 'running', {})).toMatchObject({ outcome: 'applied', task: { status: 'running' } });
        expect(await store.applyCallback('mas-1', 'running', {})).toMatchObject({ outcome: 'ignored' });
        const done = await store.applyCallback('mas-1', 'completed', { result: { review: 'ok', n: [1, 2] } });
        expect(done).toMatchObject({ outcome: 'applied', task: { status: 'completed', result: { review: 'ok', n: [1, 2] }, deliveryId: c.item.deliveryId, taskId: 'mas-1' } });
        // The callback's answer does not carry the payload (it is never needed there, and large).
        expect(done).not.toHaveProperty('task.payload');
        expect((await store.getTask('mas-1'))?.payload).toEqual(c.item.payload);
        expect(await store.applyCallback('mas-1', 'failed', { error: 'late' })).toMatchObject({ outcome: 'ignored', task: { status: 'completed' } });
        expect((await store.getTask('mas-1'))?.result).toEqual({ review: 'ok', n: [1, 2] });
        expect((await store.taskHistory(c.item.id)).map((x) => x.to)).toEqual(['queued', 'pending', 'running', 'completed']);
      });

      it('lists tasks newest first, by status, repo, type and time', async () => {
        await ingestAndComplete('t1', [draft('a')]);
        await h.elapse(5);
        await ingestAndComplete('t2', [draft('b')]);
        expect((await store.listTasks()).map((t) => t.deliveryId)).toEqual(['t2', 't1']);
        expect((await store.listTasks({ type: 'a' })).map((t) => t.deliveryId)).toEqual(['t1']);
        expect(await store.listTasks({ repo: 'other/repo' })).toEqual([]);
        expect(await store.listTasks({ status: 'pending' })).toEqual([]);
        expect((await store.listTasks({ limit: 1 })).length).toBe(1);
        expect(await store.listTasks({ since: '2999-01-01T00:00:00.000Z' })).toEqual([]);
      });
    });

    describe('per-entity order of tasks', () => {
      const order = (entity: string, eventAt: string, event = 'pull_request.opened') => ({ entity, eventAt, event });
      const complete = async (id: string, entity: string, eventAt: string, drafts: TaskDraft[] = [draft('review', false)]) => {
        await store.ingest(newDelivery(id));
        const c = (await store.claimDeliveries(100, LEASE)).find((x) => x.item.deliveryId === id)!;
        return store.completeDelivery(c, { drafts, journal, repo: 'o/r', order: order(entity, eventAt) });
      };
      const claimedIds = async () => (await store.claimTasks(50, LEASE)).map((c) => c.item.deliveryId);

      it('only the earliest queued task of an entity is claimed; the next goes when it is accepted, failed or dead', async () => {
        await complete('e1', 'repo:1/pull/1', '2026-01-01T00:00:01.000Z');
        await complete('e2', 'repo:1/pull/1', '2026-01-01T00:00:02.000Z');
        await complete('e3', 'repo:1/pull/1', '2026-01-01T00:00:03.000Z');
        await complete('f1', 'repo:1/pull/2', '2026-01-01T00:00:01.000Z');
        const [e2] = await store.tasksForDelivery('e2');
        expect(e2).toMatchObject({ held: true, entity: 'repo:1/pull/1', event: 'pull_request.opened', eventAt: '2026-01-01T00:00:02.000Z' });
        expect((await store.counts()).tasksHeld).toBe(2);
        const first = await store.claimTasks(50, LEASE);
        expect(first.map((c) => c.item.deliveryId).sort()).toEqual(['e1', 'f1']);
        // A retry later keeps the entity's place: e2 still waits.
        const e1 = first.find((c) => c.item.deliveryId === 'e1')!;
        await store.retryTaskLater(e1, 'MAS answered 503', 0);
        const again = await store.claimTasks(50, LEASE);
        expect(again.map((c) => c.item.deliveryId)).toEqual(['e1']);
        await store.markTaskSubmitted(again[0]!, 'mas-e1');
        const second = await store.claimTasks(50, LEASE);
        expect(second.map((c) => c.item.deliveryId)).toEqual(['e2']);
        await store.endTask(second[0]!, 'failed', 'rejected', 'mas');
        expect(await claimedIds()).toEqual(['e3']);
        expect((await store.counts()).tasksHeld).toBe(0);
      });

      it('two tasks of one delivery for one entity go one after the other', async () => {
        await complete('two', 'repo:1/issue/9', '2026-01-01T00:00:00.000Z', [draft('a', false), draft('b', false)]);
        const [c] = await store.claimTasks(50, LEASE);
        expect(await store.claimTasks(50, LEASE)).toEqual([]);
        await store.markTaskSubmitted(c!, 'mas-a');
        expect((await store.claimTasks(50, LEASE)).map((x) => x.item.taskType)).toEqual(['b']);
      });

      it('an event older than one the MAS already accepted for its entity is claimed marked stale; a newer one is not', async () => {
        await complete('new', 'repo:1/pull/3', '2026-01-01T00:00:05.000Z');
        const [n] = await store.claimTasks(50, LEASE);
        expect(n!.item.stale).toBe(false);
        await store.markTaskSubmitted(n!, 'mas-new');
        await complete('old', 'repo:1/pull/3', '2026-01-01T00:00:01.000Z');
        await complete('newer', 'repo:1/pull/3', '2026-01-01T00:00:09.000Z');
        const [o] = await store.claimTasks(50, LEASE);
        expect(o!.item).toMatchObject({ deliveryId: 'old', stale: true, eventAt: '2026-01-01T00:00:01.000Z' });
        await store.markTaskSubmitted(o!, 'mas-old');
        const [nn] = await store.claimTasks(50, LEASE);
        expect(nn!.item).toMatchObject({ deliveryId: 'newer', stale: false });
      });

      it('an operator retry of an older task waits behind the entity\'s queued head', async () => {
        await complete('r1', 'repo:1/pull/4', '2026-01-01T00:00:01.000Z');
        const [r1] = await store.claimTasks(50, LEASE);
        await store.endTask(r1!, 'dead', 'retries exhausted', 'gitbridge');
        await complete('r2', 'repo:1/pull/4', '2026-01-01T00:00:02.000Z');
        expect((await store.retryTask(r1!.item.id)).outcome).toBe('retried');
        expect((await store.getTask(r1!.item.id))?.held).toBe(true);
        const [head] = await store.claimTasks(50, LEASE);
        expect(head!.item.deliveryId).toBe('r2');
        await store.markTaskSubmitted(head!, 'mas-r2');
        expect((await store.claimTasks(50, LEASE)).map((c) => c.item.deliveryId)).toEqual(['r1']);
      });

      it('expireTasks ends old queued tasks as dead with the reason, never one under a lease, and lets the entity go on', async () => {
        await complete('y1', 'repo:1/pull/6', '2026-01-01T00:00:01.000Z');
        const [leased] = await store.claimTasks(50, 60_000);
        await complete('x1', 'repo:1/pull/5', '2026-01-01T00:00:01.000Z');
        await complete('x2', 'repo:1/pull/5', '2026-01-01T00:00:02.000Z');
        const dead = await store.expireTasks('2999-01-01T00:00:00.000Z', 'older than the maximum age', 100);
        expect(dead.map((t) => t.deliveryId).sort()).toEqual(['x1', 'x2']);
        expect(dead.every((t) => t.status === 'dead' && t.lastError === 'older than the maximum age')).toBe(true);
        expect((await store.taskHistory(dead[0]!.id)).at(-1)).toMatchObject({ from: 'queued', to: 'dead', source: 'gitbridge', detail: 'older than the maximum age' });
        expect((await store.getTask(leased!.item.id))?.status).toBe('queued');
        expect(await store.expireTasks('2000-01-01T00:00:00.000Z', 'old', 100)).toEqual([]);
        await complete('x3', 'repo:1/pull/5', '2026-01-01T00:00:03.000Z');
        expect((await store.claimTasks(50, LEASE)).map((c) => c.item.deliveryId)).toEqual(['x3']);
      });
    });

    describe('the notification outbox', () => {
      it('claims pending notifications; settles them; retries after the delay; a stale claim is refused', async () => {
        await ingestAndComplete('n', [draft('a'), draft('b')]);
        const claims = await store.claimNotifications(10, LEASE);
        expect(claims).toHaveLength(2);
        expect(await store.claimNotifications(10, LEASE)).toEqual([]);
        await store.settleNotification(claims[0]!, 'sent', null, null);
        await store.settleNotification(claims[1]!, 'pending', 'chat service answered 500', LEASE);
        await expect(store.settleNotification(claims[0]!, 'failed', 'x', null)).rejects.toMatchObject({ code: 'GB_STORE_CLAIM_LOST' });
        expect(await store.claimNotifications(10, LEASE)).toEqual([]);
        await h.elapse(LEASE + 50);
        const again = await store.claimNotifications(10, LEASE);
        expect(again.map((c) => [c.item.id, c.item.attempts])).toEqual([[claims[1]!.item.id, 2]]);
        expect((await store.notificationsForDelivery('n')).map((x) => x.status)).toEqual(['sent', 'pending']);
      });
    });

    describe('recovery: redelivery records, checkpoints, heartbeat, gaps', () => {
      it('storedDeliveryIds answers which GUIDs are stored, exactly, for any number of ids', async () => {
        await store.ingest(newDelivery('g-1'));
        await store.ingest(newDelivery('g-2'));
        await store.insertReplay('g-2', (o, id) => newDelivery(id, { body: o.body, replayOf: o.deliveryId }));
        expect(await store.storedDeliveryIds([])).toEqual([]);
        expect((await store.storedDeliveryIds(['g-1', 'g-2', 'g-3', 'g-1'])).sort()).toEqual(['g-1', 'g-2']);
        expect(await store.storedDeliveryIds(['g-2:replay', 'g-3'])).toEqual([]);
        const many = Array.from({ length: 1500 }, (_, i) => `absent-${i}`);
        expect(await store.storedDeliveryIds([...many, 'g-1'])).toEqual(['g-1']);
      });

      it('reserves at most maxRequests requests per GUID, each with its hook, attempt id and reason; settling records the answer', async () => {
        expect(await store.redeliveryRequests(['guid-a'])).toEqual([]);
        const first = await store.reserveRedelivery(intent('guid-a'), 3);
        expect(first).toMatchObject({ deliveryId: 'guid-a', hook: 'repos/o/r/hooks/42', githubDeliveryId: 1000, event: 'issues', action: 'opened', reason: 'failed', requests: 1, outcome: 'pending', detail: null, arrivedAt: null });
        expect(first!.firstRequestedAt).toBe(first!.lastRequestedAt);
        await store.settleRedelivery('guid-a', 'failed', 'GitHub answered 502');
        expect(await store.redeliveryRequests(['guid-a'])).toMatchObject([{ outcome: 'failed', detail: 'GitHub answered 502', requests: 1 }]);
        await h.elapse(10);
        const second = await store.reserveRedelivery(intent('guid-a', { githubDeliveryId: 1001, hook: 'orgs/o/hooks/7', reason: 'answered_elsewhere' }), 3);
        expect(second).toMatchObject({ requests: 2, outcome: 'pending', detail: null, githubDeliveryId: 1001, hook: 'orgs/o/hooks/7', reason: 'answered_elsewhere' });
        expect(second!.lastRequestedAt > second!.firstRequestedAt).toBe(true);
        expect(second!.firstRequestedAt).toBe(first!.firstRequestedAt);
        await store.settleRedelivery('guid-a', 'requested', null);
        expect((await store.reserveRedelivery(intent('guid-a'), 3))?.requests).toBe(3);
        expect(await store.reserveRedelivery(intent('guid-a'), 3)).toBeNull();
        expect(await store.redeliveryRequests(['guid-a'])).toMatchObject([{ requests: 3 }]);
        await store.settleRedelivery('guid-a', 'given_up', 'never arrived');
        expect(await store.redeliveryRequests(['guid-a'])).toMatchObject([{ requests: 3, outcome: 'given_up', detail: 'never arrived' }]);
        expect(await store.reserveRedelivery(intent('guid-b'), 0)).toBeNull();
        expect(await store.redeliveryRequests(['guid-b'])).toEqual([]);
        await store.settleRedelivery('unknown', 'requested', null);
        expect(await store.redeliveryRequests(['unknown'])).toEqual([]);
      });

      it('concurrent reservations never exceed maxRequests', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, () => store.reserveRedelivery(intent('guid-c'), 3)));
        expect(results.filter((r) => r !== null)).toHaveLength(3);
        expect((await store.redeliveryRequests(['guid-c']))[0]?.requests).toBe(3);
      });

      it('marks requested GUIDs as arrived once they are stored, once each, at the time they were received', async () => {
        await store.reserveRedelivery(intent('guid-d'), 3);
        await store.reserveRedelivery(intent('guid-e'), 3);
        expect(await store.markRedeliveriesArrived()).toEqual([]);
        await store.ingest(newDelivery('guid-d', { receivedAt: '2026-03-01T10:00:00.000Z' }));
        await store.ingest(newDelivery('unrequested'));
        const arrived = await store.markRedeliveriesArrived();
        expect(arrived).toMatchObject([{ deliveryId: 'guid-d', arrivedAt: '2026-03-01T10:00:00.000Z' }]);
        expect(await store.markRedeliveriesArrived()).toEqual([]);
        expect((await store.redeliveryRequests(['guid-d', 'guid-e'])).map((r) => [r.deliveryId, r.arrivedAt]).sort()).toEqual([
          ['guid-d', '2026-03-01T10:00:00.000Z'],
          ['guid-e', null],
        ]);
      });

      it('keeps one checkpoint per hook that never moves backwards', async () => {
        expect(await store.recoveryCheckpoint('app')).toBeNull();
        await store.advanceRecoveryCheckpoint('app', '2026-03-01T10:00:00.000Z');
        await store.advanceRecoveryCheckpoint('repos/o/r/hooks/1', '2026-03-01T09:00:00.000Z');
        await store.advanceRecoveryCheckpoint('app', '2026-03-01T08:00:00.000Z');
        expect(await store.recoveryCheckpoint('app')).toBe('2026-03-01T10:00:00.000Z');
        await store.advanceRecoveryCheckpoint('app', '2026-03-01T11:00:00.000Z');
        expect(await store.recoveryCheckpoint('app')).toBe('2026-03-01T11:00:00.000Z');
        expect(await store.recoveryCheckpoint('repos/o/r/hooks/1')).toBe('2026-03-01T09:00:00.000Z');
      });

      it('remembers the last sign of life on the store\'s clock', async () => {
        expect(await store.lastHeartbeat()).toBeNull();
        const first = await store.recordHeartbeat();
        expect(await store.lastHeartbeat()).toBe(first);
        await h.elapse(20);
        const second = await store.recordHeartbeat();
        expect(Date.parse(second) - Date.parse(first)).toBeGreaterThanOrEqual(20);
        expect(await store.lastHeartbeat()).toBe(second);
      });

      it('records a gap once per hook and start; a later end extends it', async () => {
        const gap = { hook: 'app', start: '2026-03-01T00:00:00.000Z', end: '2026-03-03T00:00:00.000Z' };
        expect(await store.recordRecoveryGap(gap)).toBe(true);
        expect(await store.recordRecoveryGap({ ...gap, end: '2026-03-04T00:00:00.000Z' })).toBe(false);
        expect(await store.recordRecoveryGap(gap)).toBe(false);
        expect(await store.recordRecoveryGap({ ...gap, hook: 'orgs/o/hooks/1' })).toBe(true);
      });
    });

    describe('replay, read model, counts and upkeep', () => {
      it('insertReplay stores <id>:replay:<n> with the original bytes, queued; unknown ids give null', async () => {
        const body = Buffer.from('payload=%7B%7D');
        await store.ingest(newDelivery('orig', { body, contentType: 'form' }));
        const build = (o: ClaimedDelivery, id: string) => newDelivery(id, { body: o.body, contentType: o.contentType, headers: o.headers, replayOf: o.deliveryId });
        expect(await store.insertReplay('orig', build)).toBe('orig:replay:1');
        expect(await store.insertReplay('orig', build)).toBe('orig:replay:2');
        expect(await store.insertReplay('nope', build)).toBeNull();
        expect(await store.getDelivery('orig:replay:2')).toMatchObject({ replayOf: 'orig', state: 'queued', contentType: 'form' });
        expect((await store.getDeliveryBody('orig:replay:1'))?.equals(body)).toBe(true);
      });

      it('findDeliveryIds: ids starting with a prefix, sorted, at most limit, without replays; % and _ are plain characters', async () => {
        for (const id of ['abcd1234-0002', 'abcd1234-0001', 'abcd9999', 'zzzz-abcd', 'ab%_x1', 'abXYx1']) await store.ingest(newDelivery(id));
        expect(await store.insertReplay('abcd1234-0001', (o, id) => newDelivery(id, { body: o.body, replayOf: o.deliveryId }))).toBe('abcd1234-0001:replay:1');
        expect(await store.findDeliveryIds('abcd', 10)).toEqual(['abcd1234-0001', 'abcd1234-0002', 'abcd9999']);
        expect(await store.findDeliveryIds('abcd1234', 10)).toEqual(['abcd1234-0001', 'abcd1234-0002']);
        expect(await store.findDeliveryIds('abcd', 2)).toEqual(['abcd1234-0001', 'abcd1234-0002']);
        expect(await store.findDeliveryIds('abcd1234-0002', 10)).toEqual(['abcd1234-0002']);
        expect(await store.findDeliveryIds('ABCD', 10)).toEqual([]);
        expect(await store.findDeliveryIds('abce', 10)).toEqual([]);
        expect(await store.findDeliveryIds('ab%_', 10)).toEqual(['ab%_x1']);
        expect(await store.findDeliveryIds('ab__', 10)).toEqual([]);
        expect(await store.findDeliveryIds('ab%', 10)).toEqual(['ab%_x1']);
      });

      it('findTaskIds: GitBridge ids of tasks whose own id or MAS task id starts with a prefix, sorted, without repeats, min(limit, matches)', async () => {
        await ingestAndComplete('fa', [draft('a'), draft('b'), draft('c')]);
        const tasks = await store.tasksForDelivery('fa');
        const ids = tasks.map((t) => t.id).sort();
        for (const [i, masId] of ['mas-77-a', 'mas-77-b', 'gbt_mas'].entries()) {
          const claim = (await store.claimTasks(10, LEASE)).find((c) => c.item.id === tasks[i]!.id)!;
          await store.markTaskSubmitted(claim, masId);
          // Give the others back (tasks of one entity go one at a time).
          for (const other of (await store.claimTasks(10, LEASE))) await store.retryTaskLater(other, 'later', 0);
        }
        expect(await store.findTaskIds('mas-77', 10)).toEqual([tasks[0]!.id, tasks[1]!.id].sort());
        expect(await store.findTaskIds('mas-77-b', 10)).toEqual([tasks[1]!.id]);
        expect(await store.findTaskIds(tasks[2]!.id.slice(0, 16), 10)).toEqual([tasks[2]!.id]);
        // "gbt_" starts every GitBridge id, and the third task's MAS id too: each task once.
        expect(await store.findTaskIds('gbt_', 10)).toEqual(ids);
        expect(await store.findTaskIds('gbt_', 2)).toHaveLength(2);
        expect(await store.findTaskIds('mas-78', 10)).toEqual([]);
        expect(await store.findTaskIds('mas_77', 10)).toEqual([]);
      });

      it('lists deliveries newest first with filters, and journal entries with filters', async () => {
        await store.ingest(newDelivery('d1', { receivedAt: '2026-01-01T00:00:00.000Z' }));
        await store.ingest(newDelivery('d2', { receivedAt: '2026-01-02T00:00:00.000Z', event: 'push', action: null, repo: 'o/x' }));
        expect((await store.listDeliveries()).map((d) => d.deliveryId)).toEqual(['d2', 'd1']);
        expect((await store.listDeliveries({ event: 'push' })).map((d) => d.deliveryId)).toEqual(['d2']);
        expect((await store.listDeliveries({ repo: 'o/r' })).map((d) => d.deliveryId)).toEqual(['d1']);
        expect((await store.listDeliveries({ since: '2026-01-01T12:00:00.000Z' })).map((d) => d.deliveryId)).toEqual(['d2']);
        expect((await store.listDeliveries({ state: 'queued', limit: 1 })).length).toBe(1);
        await ingestAndComplete('j1');
        expect(await store.listJournal({ type: 'push' })).toEqual([]);
        expect((await store.listJournal({ repo: 'o/r' })).map((j) => j.deliveryId)).toEqual(['j1']);
      });

      it('counts deliveries and tasks by state, every state present', async () => {
        await ingestAndComplete('c1');
        await store.ingest(newDelivery('c2'));
        const counts = await store.counts();
        expect(counts.deliveries).toEqual({ queued: 1, processed: 1, ignored: 0, dead: 0 });
        expect(counts.tasks).toEqual({ queued: 1, pending: 0, running: 0, completed: 0, failed: 0, dead: 0 });
      });

      it('names, for each unfinished status, when its longest-waiting task last moved', async () => {
        expect((await store.counts()).oldestTasks).toEqual({ queued: null, pending: null, running: null });
        // Four deliveries (four entities, so that all four can be claimed at once), one task each.
        for (const id of ['o1', 'o2', 'o3', 'o4']) {
          await ingestAndComplete(id);
          await h.elapse(20);
        }
        const created = (await store.listTasks({ status: 'queued' })).map((t) => t.createdAt).sort();
        expect(created).toHaveLength(4);
        expect((await store.counts()).oldestTasks).toEqual({ queued: created[0], pending: null, running: null });

        // The three oldest reach the MAS one after another.
        const claims = (await store.claimTasks(10, LEASE)).sort((a, b) => a.item.createdAt.localeCompare(b.item.createdAt));
        expect(claims).toHaveLength(4);
        for (const [i, c] of claims.slice(0, 3).entries()) {
          await store.markTaskSubmitted(c, `mas-o-${i}`);
          await h.elapse(20);
        }
        const submitted = await Promise.all([0, 1, 2].map(async (i) => (await store.getTask(`mas-o-${i}`))!));
        let oldest = (await store.counts()).oldestTasks;
        expect(oldest.pending).toBe(submitted[0]!.updatedAt);
        expect(oldest.running).toBeNull();
        // The one left to submit is the youngest task.
        expect(oldest.queued).toBe(created[3]);

        // The MAS says the first is running, then speaks of the third: the second is the one it has been silent about longest.
        await store.applyCallback('mas-o-0', 'running', {});
        await h.elapse(20);
        await store.applyCallback('mas-o-2', 'running', {});
        oldest = (await store.counts()).oldestTasks;
        expect(oldest.pending).toBe(submitted[1]!.updatedAt);
        expect(oldest.running).toBe((await store.getTask('mas-o-0'))!.updatedAt);
        expect(oldest.queued).toBe(created[3]);

        for (const i of [0, 1, 2]) await store.applyCallback(`mas-o-${i}`, 'completed', {});
        expect((await store.counts()).oldestTasks).toEqual({ queued: created[3], pending: null, running: null });
      });

      it('purge deletes old finished deliveries with their tasks, keeps the queued, the unfinished and the journal', async () => {
        const old = '2020-01-01T00:00:00.000Z';
        await store.ingest(newDelivery('old-done', { receivedAt: old }));
        await store.ingest(newDelivery('old-queued', { receivedAt: old }));
        const claims = await store.claimDeliveries(10, LEASE);
        const done = claims.find((c) => c.item.deliveryId === 'old-done')!;
        await store.completeDelivery(done, { drafts: [draft()], journal, repo: 'o/r' });
        await store.failDelivery(claims.find((c) => c.item.deliveryId === 'old-queued')!, 'x', 0);
        const before = '2021-01-01T00:00:00.000Z';
        expect(await store.purge(before, 10)).toBe(0); // its task is still queued
        const [t] = await store.claimTasks(1, LEASE);
        await store.endTask(t!, 'failed', 'rejected', 'mas');
        expect(await store.purge(before, 10)).toBe(1);
        expect(await store.getDelivery('old-done')).toBeUndefined();
        expect(await store.getDeliveryBody('old-done')).toBeUndefined();
        expect(await store.tasksForDelivery('old-done')).toEqual([]);
        expect(await store.getDelivery('old-queued')).toBeDefined();
        expect(await store.listJournal()).toHaveLength(1);
      });

      it('runExclusive runs one holder at a time and releases when done (or when it throws)', async () => {
        let release!: () => void;
        let started!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const running = new Promise<void>((r) => (started = r));
        const first = store.runExclusive('job', async () => {
          started();
          await held;
          return 1;
        });
        // Taking the lock is a round trip on some engines: wait until the first holder runs.
        await running;
        expect(await store.runExclusive('job', async () => 2)).toEqual({ ran: false });
        expect(await store.runExclusive('other-job', async () => 3)).toEqual({ ran: true, value: 3 });
        release();
        expect(await first).toEqual({ ran: true, value: 1 });
        await expect(store.runExclusive('job', async () => Promise.reject(new Error('job failed')))).rejects.toThrow('job failed');
        expect(await store.runExclusive('job', async () => 4)).toEqual({ ran: true, value: 4 });
      });

      it('purge also deletes redelivery records and gaps older than the cut, and keeps newer ones', async () => {
        await store.reserveRedelivery(intent('old-guid'), 3);
        await store.recordRecoveryGap({ hook: 'app', start: '2020-01-01T00:00:00.000Z', end: '2020-01-02T00:00:00.000Z' });
        const cut = new Date(Date.parse((await store.redeliveryRequests(['old-guid']))[0]!.lastRequestedAt) + 1).toISOString();
        await h.elapse(10);
        await store.reserveRedelivery(intent('new-guid'), 3);
        await store.purge(cut, 10);
        expect((await store.redeliveryRequests(['old-guid', 'new-guid'])).map((r) => r.deliveryId)).toEqual(['new-guid']);
        // The old gap is gone: recording it again makes a new one.
        expect(await store.recordRecoveryGap({ hook: 'app', start: '2020-01-01T00:00:00.000Z', end: '2020-01-02T00:00:00.000Z' })).toBe(true);
      });

      it('shares settings: undefined until stored, the last value stored wins', async () => {
        expect(await store.getSetting('hook-ranges')).toBeUndefined();
        await store.putSetting('hook-ranges', '{"hooks":["192.30.252.0/22"]}');
        await store.putSetting('other', 'x');
        await store.putSetting('hook-ranges', '{"hooks":["140.82.112.0/20"]}');
        expect(await store.getSetting('hook-ranges')).toBe('{"hooks":["140.82.112.0/20"]}');
        expect(await store.getSetting('other')).toBe('x');
      });

      it('is healthy, knows its schema version, and flush commits what is queued', async () => {
        expect(await store.health()).toEqual({ writable: true });
        expect(await store.schemaVersion()).toBeGreaterThan(0);
        const id = randomUUID();
        await store.ingest(newDelivery(id));
        await store.flush();
        expect((await store.getDelivery(id))?.deliveryId).toBe(id);
      });
    });
  });
}
