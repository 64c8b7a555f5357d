import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { PostgresStore, sign } from '@gitbridge/core';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, allTasksCompleted, postDelivery, pullRequestOpened, scrape, startCallbackDaemon, tempDir, testEnv, waitFor } from './helpers/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { spawnDaemon, type DaemonProcess } from './helpers/process.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';



async function readyz(base: string): Promise<number> {
  const res = await request(`${base}/readyz`);
  await res.body.dump();
  return res.statusCode;
}


describe('database outages (PostgreSQL store)', () => {
  let db: TestDatabase;
  let mas: ReferenceMas;
  const tmp = tempDir();
  beforeAll(async () => {
    db = await createTestDatabase('gitbridge_outage');
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
  });
  afterAll(async () => {
    await mas?.close();
    await db?.drop();
    tmp.cleanup();
  });

  it('the daemons\' connections terminated under load (pg_terminate_backend): only 202 or 503 answers, every 202 stored, service resumes', async () => {
    const env = (i: number) => testEnv(`${tmp.dir}/t${i}`, { GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_DATABASE_POOL_MAX: '4', GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_LEASE_MS: '2000' });
    const nodes: DaemonProcess[] = await Promise.all([0, 1].map((i) => spawnDaemon(env(i))));
    const store = await PostgresStore.open(db.url, { access: 'read', poolMax: 2, applicationName: 'test' });
    try {
      const answers: { id: string; status: number; retryAfter: unknown }[] = [];
      let stop = false;
      let k = 0;
      const senders = Array.from({ length: 6 }, async () => {
        while (!stop) {
          const n = ++k;
          const res = await postDelivery(nodes[n % 2]!.url, 'pull_request', pullRequestOpened(n), { deliveryId: randomUUID() });
          answers.push({ id: res.deliveryId, status: res.status, retryAfter: res.headers['retry-after'] });
        }
      });
      // End every session the daemons hold, again and again, while deliveries arrive.
      let terminated = 0;
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 150));
        terminated += (await db.query(`SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND application_name = 'gitbridged'`, [db.name])).length;
      }
      stop = true;
      await Promise.all(senders);
      expect(terminated).toBeGreaterThan(8);

      expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
      for (const a of answers.filter((x) => x.status === 503)) expect(a.retryAfter).toBeDefined();
      const ok = answers.filter((a) => a.status === 202);
      expect(ok.length).toBeGreaterThan(0);
      for (const a of ok) expect(await store.getDelivery(a.id), a.id).toBeDefined();

      // Service resumes by itself: ready, accepting, and the queued work ends completed.
      for (const d of nodes) await waitFor(async () => (await readyz(d.url)) === 200, 10_000, 'ready again');
      for (const d of nodes) expect((await postDelivery(d.url, 'pull_request', pullRequestOpened(++k))).status).toBe(202);
      await allTasksCompleted(store, 'every task completed after the terminations');
      for (const a of ok) expect((await store.tasksForDelivery(a.id)).map((t) => t.status), a.id).toEqual(['completed']);
    } finally {
      await store.close();
      for (const d of nodes) d.child.kill('SIGTERM');
      await Promise.all(nodes.map((d) => d.child));
    }
  }, 120_000);

  it('while PostgreSQL cannot be reached: POST /webhook 503 with Retry-After, /readyz not ready; it reconnects by itself and queued work resumes', async () => {
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    const via = new URL(db.url);
    via.port = String(proxy.port);
    const t = tempDir();
    // A short lease: a task whose MAS answer could not be recorded in the outage comes back when its lease ends
    // (then it is submitted again with the same key); the default 30 s would outlast the wait below.
    const { daemon } = await startCallbackDaemon(t.dir, { GITBRIDGE_DATABASE_URL: via.toString(), GITBRIDGE_DATABASE_POOL_MAX: '4', GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_LEASE_MS: '3000' });
    const store = await PostgresStore.open(db.url, { access: 'read', poolMax: 2, applicationName: 'test' });
    try {
      // Work queued before the outage, not yet submitted: the MAS refuses for a moment.
      mas.failureModes.failNext(3, 503, { retryAfterS: 1 });
      const before = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(9001));
      expect(before.status).toBe(202);
      await waitFor(() => mas.submissions.some((s) => s.delivery_id === before.deliveryId), 10_000, 'first submission refused');
      await proxy.cut();

      const during = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(9002));
      expect(during.status).toBe(503);
      expect(during.body).toMatchObject({ code: 'GB_WEBHOOK_STORE_UNAVAILABLE' });
      expect(Number(during.headers['retry-after'])).toBeGreaterThan(0);
      expect(await readyz(daemon.url)).toBe(503);
      // Metrics keep answering through the outage (the store's gauges keep their last values).
      expect(await scrape(daemon.url)).toMatch(/^gitbridge_event_queue_depth \d+$/m);
      expect(await store.getDelivery(during.deliveryId)).toBeUndefined();
      // A MAS callback meanwhile: 503 (retry later), and the failure is logged.
      const callback = JSON.stringify({ task_id: 'mas-during-outage', status: 'running' });
      const cb = await request(`${daemon.url}/mas/callback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, callback) }, body: callback });
      expect(cb.statusCode).toBe(503);
      expect(((await cb.body.json()) as { code: string }).code).toBe('GB_STORE_UNAVAILABLE');
      await waitFor(() => (readFileSync(`${t.dir}/logs/webhook.log`, 'utf8').split('\n').some((l) => l.includes('"request failed"') && l.includes('/mas/callback')) ? true : null), 5_000, 'the failed callback logged');
      // The workers fail meanwhile and back off; the process stays up.
      await waitFor(() => (readFileSync(`${t.dir}/logs/webhook.log`, 'utf8').includes('"worker tick failed"') ? true : null), 10_000, 'a worker failing on the outage');

      await proxy.restore();
      await waitFor(async () => (await readyz(daemon.url)) === 200, 10_000, 'ready again');
      const after = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(9003), { deliveryId: during.deliveryId });
      expect(after.status).toBe(202); // GitHub's redelivery of the one answered 503
      await waitFor(async () => (await Promise.all([before, after].map(async (d) => (await store.tasksForDelivery(d.deliveryId))[0]?.status))).every((s) => s === 'completed'),
        30_000, 'both tasks completed');
    } finally {
      await store.close();
      await daemon.stop(200);
      await proxy.close();
      t.cleanup();
    }
  }, 60_000);
});
