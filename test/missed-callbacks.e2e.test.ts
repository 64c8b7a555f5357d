import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, postDelivery, pullRequestOpened, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

// The gap a PostgreSQL outage opened (fault pass): the MAS accepted a task but
// GitBridge never recorded it, so every callback got 404 until the MAS gave up.
// The resubmission (same Idempotency-Key) is then the only word GitBridge gets.
describe('a task whose callbacks GitBridge never received', () => {
  let mas: ReferenceMas;
  let daemon: Daemon;
  const tmp = tempDir();

  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10, callbackMaxAttempts: 1 });
    ({ daemon } = await startTestDaemon(tmp.dir, {
      GITBRIDGE_MAS_URL: mas.url,
      // Callbacks go nowhere: GitBridge hears of the task only from the MAS's answers.
      GITBRIDGE_PUBLIC_URL: 'http://127.0.0.1:9',
      GITBRIDGE_MAS_TIMEOUT_MS: '500',
    }));
  });
  afterAll(async () => {
    await daemon?.stop();
    await mas?.close();
    tmp.cleanup();
  });

  it('ends as the MAS says when the MAS answers its resubmission with where the task stands', async () => {
    // The MAS creates the task but its answer never arrives: GitBridge times out and will submit again.
    mas.failureModes.acceptThenHang();
    const { status, deliveryId } = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(1));
    expect(status).toBe(202);
    await waitFor(() => mas.tasks.some((t) => t.delivery_id === deliveryId && t.status === 'completed'), 10_000, 'the MAS to complete the task');
    // GitBridge gave up waiting for that answer (its submission timed out) before the MAS answers again.
    await waitFor(async () => (await daemon.store.tasksForDelivery(deliveryId)).some((t) => t.lastError?.includes('timeout')), 10_000, 'the first submission to time out');
    mas.failureModes.reset();

    await waitFor(async () => (await daemon.store.tasksForDelivery(deliveryId)).every((t) => t.status === 'completed'), 20_000, 'the task completed in GitBridge');
    const [task] = await daemon.store.tasksForDelivery(deliveryId);
    const atMas = mas.tasks.filter((t) => t.delivery_id === deliveryId);
    expect(atMas).toHaveLength(1);
    expect(task!.taskId).toBe(atMas[0]!.task_id);
    expect(task!.result).toEqual(atMas[0]!.result);
    // Submitted at least twice under one key; recorded as the MAS's word, not a callback.
    expect(mas.submissions.filter((s) => s.task_id === atMas[0]!.task_id).length).toBeGreaterThanOrEqual(2);
    expect((await daemon.store.taskHistory(task!.id)).at(-1)).toMatchObject({ from: 'pending', to: 'completed', source: 'mas' });
  }, 40_000);
});
