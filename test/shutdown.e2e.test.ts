import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '@gitbridge/core';
import { tempDir, postDelivery, testEnv, pullRequestOpened, waitFor } from './helpers/index.js';
import { spawnDaemon } from './helpers/process.js';
import { createTestDatabase } from './helpers/postgres.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';


describe('graceful shutdown (SIGTERM)', () => {
  it('answers 503 with Retry-After to new deliveries, loses nothing that got a 202, and exits 0', async () => {
    const tmp = tempDir();
    const d = await spawnDaemon(testEnv(tmp.dir, { GITBRIDGE_SHUTDOWN_GRACE_MS: '2000' }));
    const accepted: string[] = [];
    const statuses = new Map<number | string, number>();
    let n = 0;
    let stop = false;
    const senders = Array.from({ length: 6 }, async () => {
      while (!stop) {
        const i = ++n;
        const body = pullRequestOpened(i);
        try {
          const res = await postDelivery(d.url, 'pull_request', body);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 202) accepted.push(res.deliveryId);
          if (res.status === 503) expect(res.headers['retry-after']).toBeDefined();
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          statuses.set(code, (statuses.get(code) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    });
    await waitFor(() => accepted.length >= 30, 10_000, '30 accepted deliveries');
    d.child.kill('SIGTERM');
    const result = await d.child;
    stop = true;
    await Promise.all(senders);
    expect(result.exitCode).toBe(0);
    // Only 202s before, then 503s or refused connections once stopped: never a 5xx other than 503.
    for (const k of statuses.keys()) expect([202, 503, 'ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']).toContain(k);
    expect(accepted.length).toBeGreaterThanOrEqual(30);
    // While draining, new deliveries got 503 with Retry-After before the listener closed.
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    const store = SqliteStore.open(`${tmp.dir}/data`, { readonly: true });
    for (const id of accepted) expect(await store.getDelivery(id), id).toBeDefined();
    await store.close();
    expect(d.output()).toContain('"msg":"stopped"');
    tmp.cleanup();
  }, 30_000);

  it('a client that never finishes its request, and a second SIGTERM, do not keep the daemon from stopping cleanly', async () => {
    const tmp = tempDir();
    const d = await spawnDaemon(testEnv(tmp.dir, { GITBRIDGE_SHUTDOWN_GRACE_MS: '2000' }));
    // A body announced as 100,000 bytes that arrives a byte at a time: Node stops timing
    // requests out once its server closes, so only the daemon can end this one.
    const socket = connect(d.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: slow-1\r\nContent-Length: 100000\r\n\r\n{');
    const drip = setInterval(() => socket.write(' '), 200);
    try {
      await new Promise((r) => setTimeout(r, 300));
      d.child.kill('SIGTERM');
      await waitFor(() => d.output().includes('"msg":"shutting down: draining"'), 5000, 'draining');
      d.child.kill('SIGTERM');
      const result = await d.child;
      // The forced exit (grace + 5 s) would be exit 1; a second SIGTERM that cut the drain short, 143.
      expect(result.exitCode, d.output()).toBe(0);
      expect(d.output()).toContain('"msg":"signal received while shutting down: still draining"');
      expect(d.output()).toContain('"msg":"shutting down: closed connections whose requests were still open"');
      expect(d.output()).toContain('"msg":"stopped"');
    } finally {
      clearInterval(drip);
      socket.destroy();
      tmp.cleanup();
    }
  }, 30_000);

  it('a PostgreSQL store that went silent (a partition) does not keep the daemon from stopping within its grace period', async () => {
    const tmp = tempDir();
    const db = await createTestDatabase('gitbridge_shutdown');
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    try {
      const via = new URL(db.url);
      via.port = String(proxy.port);
      const d = await spawnDaemon(testEnv(tmp.dir, { GITBRIDGE_DATABASE_URL: via.toString(), GITBRIDGE_SHUTDOWN_GRACE_MS: '2000' }));
      expect((await postDelivery(d.url, 'pull_request', pullRequestOpened(1))).status).toBe(202);
      // The workers' ticks and the wake-up connection are mid-conversation when it goes silent.
      proxy.freeze();
      await new Promise((r) => setTimeout(r, 300));
      // process.kill, not the child's kill(): execa would follow it with a SIGKILL after 5 s.
      process.kill(d.child.pid!, 'SIGTERM');
      const result = await d.child;
      // The forced exit (grace + 5 s, before PostgreSQL's 7-s answer timeout ends a query) would be exit 1.
      expect({ exitCode: result.exitCode, signal: result.signal }, d.output()).toEqual({ exitCode: 0, signal: undefined });
      expect(d.output()).toContain('"msg":"stopped"');
    } finally {
      await proxy.close();
      await db.drop();
      tmp.cleanup();
    }
  }, 40_000);
});
