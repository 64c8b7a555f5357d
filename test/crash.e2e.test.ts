import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@gitbridge/core';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, tempDir, postDelivery, testEnv, pullRequestOpened, waitFor } from './helpers/index.js';
import { spawnDaemon } from './helpers/process.js';


// Distinct deliveries: each a pull_request.opened on its own PR number.
describe('crash safety (SIGKILL)', () => {
  let mas: ReferenceMas;
  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10, callbackMaxAttempts: 2 });
  });
  afterAll(async () => {
    await mas.close();
  });

  it('every delivery that got a 202 before SIGKILL is stored and ends as exactly one task after restart', async () => {
    const tmp = tempDir();
    const env = testEnv(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_LEASE_MS: '1000' });
    const first = await spawnDaemon(env);
    const accepted: string[] = [];
    let sent = 0;
    let stop = false;
    const senders = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const n = ++sent;
        try {
          const res = await postDelivery(first.url, 'pull_request', pullRequestOpened(n));
          if (res.status === 202) accepted.push(res.deliveryId);
        } catch {
          // the connection died with the daemon: no 202, so nothing is owed
        }
      }
    });
    await waitFor(() => accepted.length >= 150, 20_000, '150 accepted deliveries');
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(senders);
    await first.child;
    expect(accepted.length).toBeGreaterThanOrEqual(150);

    const second = await spawnDaemon(env);
    try {
      const store = SqliteStore.open(`${tmp.dir}/data`, { readonly: true });
      await waitFor(async () => {
        const counts = await store.counts();
        return counts.deliveries.queued === 0 && counts.tasks.queued === 0;
      }, 20_000, 'queue drained after restart');
      for (const id of accepted) {
        expect((await store.getDelivery(id))?.state, id).toBe('processed');
        expect(await store.tasksForDelivery(id), id).toHaveLength(1);
      }
      // No delivery processed twice: one journal entry each.
      const journal = (await store.listJournal({ limit: 100_000 })).map((j) => j.deliveryId);
      expect(new Set(journal).size).toBe(journal.length);
      // The MAS holds one task per idempotency key.
      const keys = mas.tasks.map((t) => t.idempotency_key);
      expect(new Set(keys).size).toBe(keys.length);
      for (const id of accepted) expect(mas.tasks.filter((t) => t.delivery_id === id)).toHaveLength(1);
      await store.close();
    } finally {
      second.child.kill('SIGTERM');
      await second.child;
      tmp.cleanup();
    }
  }, 90_000);

  it('a SIGKILL between the MAS accepting a task and GitBridge recording it leaves one task at the MAS, recorded after restart', async () => {
    const tmp = tempDir();
    const env = testEnv(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_LEASE_MS: '1500', GITBRIDGE_MAS_TIMEOUT_MS: '60000' });
    const first = await spawnDaemon(env);
    mas.failureModes.acceptThenHang();
    const id = randomUUID();
    const res = await postDelivery(first.url, 'pull_request', pullRequestOpened(424242), { deliveryId: id });
    expect(res.status).toBe(202);
    // The MAS has accepted (created) the task, but its answer never arrives.
    const masTask = await waitFor(() => mas.tasks.find((t) => t.delivery_id === id), 10_000, 'MAS accepted the task');
    first.child.kill('SIGKILL');
    await first.child;
    mas.failureModes.reset();

    const second = await spawnDaemon(env);
    try {
      const store = SqliteStore.open(`${tmp.dir}/data`, { readonly: true });
      const row = await waitFor(async () => (await store.tasksForDelivery(id)).find((t) => t.taskId !== null), 20_000, 'task id recorded');
      expect(row.taskId).toBe(masTask.task_id);
      expect(mas.tasks.filter((t) => t.delivery_id === id)).toHaveLength(1);
      expect(mas.submissions.filter((s) => s.idempotency_key === `${id}:review_pull_request`).length).toBeGreaterThanOrEqual(2);
      await store.close();
    } finally {
      second.child.kill('SIGTERM');
      await second.child;
      tmp.cleanup();
    }
  }, 60_000);
});
