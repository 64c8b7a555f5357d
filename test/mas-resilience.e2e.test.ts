import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { advanceBy, advanceUntil, realDelay } from './helpers/clock.js';
import { CALLBACK_SECRET, tempDir, postDelivery, scrape, startCallbackDaemon, startRecorder, pullRequestOpened, waitFor } from './helpers/index.js';


// Outages run on a ManualClock: the daemon's retries, backoff and breaker wait
// in the test's time, so 30 s of refusal take no real 30 s.
describe('task delivery to a MAS that fails', () => {
  let mas: ReferenceMas;
  let daemon: Daemon;
  const clock = new ManualClock();
  const tmp = tempDir();

  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url }, { clock }));
  });
  afterEach(() => mas.failureModes.reset());
  afterAll(async () => {
    await daemon.stop();
    await mas.close();
    tmp.cleanup();
  });

  it('MAS refusing connections for 30 s while 100 deliveries arrive: all 202 at once, then every task submitted exactly once', async () => {
    void mas.failureModes.refuseConnections(3_600_000);
    // All answered while the daemon's clock stands still: ingest never waits on the MAS
    // (a 202 that did would wait for ever here, as no retry or backoff can elapse).
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => postDelivery(daemon.url, 'pull_request', pullRequestOpened(10_000 + i))));
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(202));
    const ids = new Set(results.map((r) => r.deliveryId));

    // 30 s of the daemon's time with the MAS refusing, then it listens again.
    await advanceBy(clock, 30_000, 1000);
    expect(mas.tasks.filter((t) => t.delivery_id !== null && ids.has(t.delivery_id))).toHaveLength(0);
    mas.failureModes.reset();
    await advanceUntil(clock, async () => (await daemon.store.listTasks({ limit: 1000 })).filter((t) => ids.has(t.deliveryId) && t.taskId !== null).length === 100, { maxMs: 120_000, stepMs: 1000, what: '100 tasks accepted' });
    const ours = mas.tasks.filter((t) => t.delivery_id !== null && ids.has(t.delivery_id));
    expect(new Set(ours.map((t) => t.idempotency_key)).size).toBe(100);
    expect(ours).toHaveLength(100);
    // Any repeat of a key maps to the same task id.
    const byKey = new Map(ours.map((t) => [t.idempotency_key ?? '', t.task_id]));
    for (const s of mas.submissions.filter((x) => x.task_id)) {
      if (s.idempotency_key !== null && byKey.has(s.idempotency_key)) expect(s.task_id).toBe(byKey.get(s.idempotency_key));
    }
    for (const t of (await daemon.store.listTasks({ limit: 1000 })).filter((x) => ids.has(x.deliveryId))) {
      expect(t.taskId).toBe(byKey.get(t.idempotencyKey));
    }
  }, 90_000);

  it('MAS answering 503 with Retry-After: 2: the next attempt waits at least 2 s', async () => {
    mas.failureModes.failNext(1, 503, { retryAfterS: 2 });
    const res = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(20_001));
    const key = `${res.deliveryId}:review_pull_request`;
    const ours = () => mas.submissions.filter((x) => x.idempotency_key === key);
    await waitFor(() => ours().length === 1, 5_000, 'first attempt');
    const waited = await advanceUntil(clock, () => ours().length >= 2, { maxMs: 10_000, stepMs: 100, what: 'second attempt' });
    const attempts = ours();
    expect(attempts[0]!.status_code).toBe(503);
    expect(attempts[1]!.status_code).toBe(201);
    expect(waited).toBeGreaterThanOrEqual(2000);
  });

  it('MAS answering 400: the task is failed with the reason and not retried', async () => {
    mas.failureModes.failNext(1, 400);
    const res = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(20_002));
    const task = await waitFor(async () => (await daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'failed'), 10_000, 'failed task');
    expect(task.lastError).toMatch(/400/);
    await clock.advance(60_000);
    await realDelay(50);
    expect(mas.submissions.filter((s) => s.idempotency_key === `${res.deliveryId}:review_pull_request`)).toHaveLength(1);
    expect((await daemon.store.taskHistory(task.id)).at(-1)).toMatchObject({ from: 'queued', to: 'failed', source: 'mas' });
    expect(await scrape(daemon.url)).toMatch(/gitbridge_mas_submissions_total\{outcome="rejected"\} 1/);
  });
});

describe('a chat service that is down', () => {
  it('does not hold up tasks; failures are counted', async () => {
    const tmp = tempDir();
    const mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    const chat = await startRecorder();
    chat.status = 500;
    const clock = new ManualClock();
    const { daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_NOTIFY_URL: chat.url }, { clock });
    try {
      const res = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(30_001));
      await waitFor(async () => (await daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed'), 10_000, 'completed task');
      await advanceUntil(clock, async () => (await daemon.store.notificationsForDelivery(res.deliveryId))[0]?.status === 'failed', { maxMs: 120_000, stepMs: 500, what: 'notification given up' });
      expect(chat.requests.length).toBe(4);
      const text = await scrape(daemon.url);
      expect(text).toMatch(/gitbridge_notifications_total\{outcome="retried"\} 3/);
      expect(text).toMatch(/gitbridge_notifications_total\{outcome="failed"\} 1/);
    } finally {
      await daemon.stop();
      await mas.close();
      await chat.close();
      tmp.cleanup();
    }
  }, 30_000);
});
