import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '@gitbridge/core';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, allTasksCompleted, freePort, postDelivery, pullRequestOpened, tempDir, testEnv, waitFor } from './helpers/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { spawnDaemon, type DaemonProcess } from './helpers/process.js';



/** The JSON log lines of a daemon's output with this message. */
function logLines(output: string, msg: string): Record<string, unknown>[] {
  return output.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Several daemons, no single point of failure (the PostgreSQL store): three
 * gitbridged processes on one database, each handing the MAS a callback URL
 * that points at the NEXT node, so every callback lands on a node other
 * than the one that submitted the task.
 */
describe('three daemons on one PostgreSQL database', () => {
  let db: TestDatabase;
  let mas: ReferenceMas;
  const tmp = tempDir();
  beforeAll(async () => {
    db = await createTestDatabase('gitbridge_cluster');
    // Callbacks retry for about 25 s: longer than a node is down here.
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10, callbackMaxAttempts: 8 });
  });
  afterAll(async () => {
    await mas?.close();
    await db?.drop();
    tmp.cleanup();
  });

  it('spread load, ids sent to two nodes at once, one node SIGKILLed and restarted: every 2xx stored once, every task accepted once, all completed, callbacks on another node', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    // The test server trusts loopback, so any password works: it must never show in a log line.
    const withPassword = new URL(db.url);
    withPassword.password = 'hunter2-secret';
    const url = (i: number) => `http://127.0.0.1:${ports[i % 3]}`;
    const env = (i: number) => testEnv(`${tmp.dir}/node${i}`, {
      GITBRIDGE_PORT: String(ports[i]),
      GITBRIDGE_PUBLIC_URL: url(i + 1),
      GITBRIDGE_DATABASE_URL: withPassword.toString(),
      GITBRIDGE_DATABASE_POOL_MAX: '4',
      GITBRIDGE_MAS_URL: mas.url,
      // A killed node's claims come back to the others after this.
      GITBRIDGE_LEASE_MS: '2000',
    });
    // Started together: the migrations run once, under their advisory lock.
    const nodes: DaemonProcess[] = await Promise.all([0, 1, 2].map((i) => spawnDaemon(env(i))));
    const outputs: string[] = [];
    let up = [true, true, true];
    try {
      const answers = new Map<string, number[]>();
      const record = (id: string, status: number) => answers.set(id, [...(answers.get(id) ?? []), status]);
      const pairs: string[] = [];
      const sent = new Set<string>();
      let n = 0;
      let stop = false;
      const send = async (node: number, id: string, body: string) => {
        if (!up[node]) return;
        sent.add(id);
        try {
          record(id, (await postDelivery(url(node), 'pull_request', body, { deliveryId: id })).status);
        } catch {
          // the node died under the request: no answer, nothing owed
        }
      };
      const senders = Array.from({ length: 6 }, async (_, s) => {
        while (!stop) {
          const k = ++n;
          const id = randomUUID();
          if (k % 7 === 0) {
            // The same delivery at two nodes at once (a repository hook and an organization hook).
            pairs.push(id);
            await Promise.all([send(k % 3, id, pullRequestOpened(k)), send((k + 1) % 3, id, pullRequestOpened(k))]);
          } else {
            await send((k + s) % 3, id, pullRequestOpened(k));
          }
        }
      });
      const ok = () => [...answers.values()].filter((s) => s.some((x) => x >= 200 && x < 300)).length;
      await waitFor(() => ok() >= 120, 30_000, '120 deliveries answered 2xx');
      // Node 1 dies mid-load, without a chance to finish anything.
      up = [true, false, true];
      nodes[1]!.child.kill('SIGKILL');
      await nodes[1]!.child;
      outputs.push(nodes[1]!.output());
      await waitFor(() => ok() >= 200, 30_000, '200 deliveries answered 2xx');
      nodes[1] = await spawnDaemon(env(1));
      up = [true, true, true];
      await waitFor(() => ok() >= 280, 30_000, '280 deliveries answered 2xx');
      stop = true;
      await Promise.all(senders);

      // Answers: 202 for a new delivery, 200 for a duplicate, never an error.
      const statuses = [...answers.values()].flat();
      expect(statuses.filter((s) => s !== 202 && s !== 200)).toEqual([]);
      for (const id of pairs) {
        const s = answers.get(id) ?? [];
        if (s.length === 2) expect(s.sort(), `delivery ${id} sent to two nodes`).toEqual([200, 202]);
      }
      expect(pairs.filter((id) => answers.get(id)?.length === 2).length).toBeGreaterThan(10);
      const accepted = [...answers.entries()].filter(([, s]) => s.some((x) => x >= 200 && x < 300)).map(([id]) => id);

      const store = await PostgresStore.open(db.url, { access: 'read', poolMax: 2 });
      try {
        await allTasksCompleted(store, 'every task completed');
        const counts = await store.counts();
        expect(counts.tasks).toMatchObject({ failed: 0, dead: 0 });
        for (const id of accepted) {
          expect((await store.getDelivery(id))?.state, id).toBe('processed');
          const tasks = await store.tasksForDelivery(id);
          expect(tasks.map((t) => t.status), id).toEqual(['completed']);
        }
        // Nothing else was stored than what was sent (a delivery committed just before the kill counts too).
        expect((await store.listDeliveries({ limit: 100_000 })).every((d) => sent.has(d.deliveryId))).toBe(true);
        // One journal entry per delivery, whichever node processed it.
        const journal = (await store.listJournal({ limit: 100_000 })).map((j) => j.deliveryId);
        expect(new Set(journal).size).toBe(journal.length);

        // The MAS created one task per delivery: resubmissions (a killed node's lease) hit its idempotency key.
        const keys = mas.tasks.map((t) => t.idempotency_key);
        expect(new Set(keys).size).toBe(keys.length);
        for (const id of accepted) expect(mas.tasks.filter((t) => t.delivery_id === id), id).toHaveLength(1);
        const stored = new Map((await store.listTasks({ limit: 100_000 })).map((t) => [t.deliveryId, t]));
        for (const t of mas.tasks) expect(stored.get(t.delivery_id!)?.taskId).toBe(t.task_id);

        // Every callback went to the node after the submitter, which applied it.
        outputs.push(...nodes.map((d) => d.output()));
        for (const out of outputs) {
          expect(out).not.toContain('hunter2');
          expect(logLines(out, 'gitbridged listening')[0]).toMatchObject({ store: 'postgres', storeLocation: expect.stringContaining(':***@127.0.0.1') });
          // Without GITBRIDGE_REDIS_URL each node counts rate limits on its own, and says so.
          expect(out).toContain('without GITBRIDGE_REDIS_URL the rate limits are counted per node');
        }
        const completedOn = new Map<number, Set<string>>(ports.map((p) => [p, new Set()]));
        // A task resubmitted after the kill may be completed by the MAS's answer (same key) before its callback arrives.
        const completedByAnswer = new Set<string>();
        for (const [i, out] of outputs.entries()) {
          const port = i === 0 ? ports[1]! : ports[i - 1]!;
          for (const l of logLines(out, 'task completed')) completedOn.get(port)!.add(String(l.deliveryId));
          for (const l of logLines(out, "task completed (from the MAS's answer to its submission)")) completedByAnswer.add(String(l.deliveryId));
        }
        let checked = 0;
        for (const t of mas.tasks) {
          const callbackPort = Number(new URL(t.callback_url).port);
          const submitterPort = ports[(ports.indexOf(callbackPort) + 2) % 3];
          expect(callbackPort).not.toBe(submitterPort);
          // Lines of the killed process may be lost with it; every other node's are all there.
          if (completedOn.get(callbackPort)!.has(t.delivery_id!) || completedByAnswer.has(t.delivery_id!)) checked++;
          else expect(callbackPort, `completed callback of ${t.delivery_id} on its node`).toBe(ports[1]);
        }
        expect(checked).toBeGreaterThan(mas.tasks.length / 2);
      } finally {
        await store.close();
      }
    } finally {
      for (const d of nodes) d.child.kill('SIGTERM');
      await Promise.all(nodes.map((d) => d.child));
    }
  }, 150_000);
});
