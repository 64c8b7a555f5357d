import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { githubExample, postDelivery, scrape, startTestDaemon, tempDir, waitFor } from './helpers/index.js';
import { createTestDatabase } from './helpers/postgres.js';

describe('periodic refresh of the hook ranges', () => {
  it('applies fresh ranges and keeps the last good list when a refresh fails', async () => {
    // A stand-in for GitHub's /meta on loopback (these machines cannot reach the API).
    let answer: { status: number; body: string } = { status: 200, body: JSON.stringify({ hooks: ['127.0.0.0/8', '192.30.252.0/22'] }) };
    const meta = createServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
    await new Promise<void>((r) => meta.listen(0, '127.0.0.1', r));
    const port = (meta.address() as { port: number }).port;
    const tmp = tempDir();
    let daemon: Daemon | undefined;
    try {
      ({ daemon } = await startTestDaemon(tmp.dir, { GITBRIDGE_IP_ALLOWLIST: 'github', GITBRIDGE_META_URL: `http://127.0.0.1:${port}/meta`, GITBRIDGE_META_REFRESH_S: '1' }));
      const push = JSON.stringify(githubExample('push'));
      // Before the first refresh the shipped snapshot is in force: loopback is not a GitHub range.
      expect((await postDelivery(daemon.url, 'push', push)).status).toBe(403);
      await waitFor(async () => (await postDelivery(daemon!.url, 'push', push)).status === 202, 10_000, 'fresh ranges applied');
      answer = { status: 500, body: 'oops' };
      await waitFor(async () => /gitbridge_ip_ranges_refresh_total\{outcome="failure"\} [1-9]/.test(await scrape(daemon!.url)), 10_000, 'a failed refresh');
      expect((await postDelivery(daemon.url, 'push', push)).status).toBe(202);
      answer = { status: 200, body: JSON.stringify({ hooks: ['0.0.0.0/0'] }) };
      await waitFor(async () => /gitbridge_ip_ranges_refresh_total\{outcome="failure"\} [2-9]/.test(await scrape(daemon!.url)), 10_000, 'an implausible answer refused');
      expect((await postDelivery(daemon.url, 'push', push)).status).toBe(202);
    } finally {
      await daemon?.stop();
      meta.close();
      tmp.cleanup();
    }
  }, 40_000);
});

describe('hook ranges with several daemons on one PostgreSQL store', () => {
  it('one node refreshes them from GitHub and shares them in the store; a node that does not refresh applies them too', async () => {
    let requests = 0;
    const meta = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hooks: ['127.0.0.0/8', '192.30.252.0/22'] }));
    });
    await new Promise<void>((r) => meta.listen(0, '127.0.0.1', r));
    const port = (meta.address() as { port: number }).port;
    const db = await createTestDatabase('gitbridge_hooks');
    const dirs = [tempDir(), tempDir()];
    const daemons: Daemon[] = [];
    try {
      const common = { GITBRIDGE_IP_ALLOWLIST: 'github', GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_DATABASE_POOL_MAX: '2' };
      // Node A refreshes from the meta API; node B never does (and could not: its meta URL leads nowhere).
      daemons.push((await startTestDaemon(dirs[0]!.dir, { ...common, GITBRIDGE_META_URL: `http://127.0.0.1:${port}/meta`, GITBRIDGE_META_REFRESH_S: '1' }, { hookRangesReloadMs: 200 })).daemon);
      daemons.push((await startTestDaemon(dirs[1]!.dir, { ...common, GITBRIDGE_META_URL: 'http://127.0.0.1:9/meta', GITBRIDGE_META_REFRESH_S: '0' }, { hookRangesReloadMs: 200 })).daemon);
      const push = JSON.stringify(githubExample('push'));
      // The shipped snapshot: loopback is not a GitHub range, on either node.
      expect((await postDelivery(daemons[1]!.url, 'push', push)).status).toBe(403);
      await waitFor(async () => (await postDelivery(daemons[0]!.url, 'push', push)).status === 202, 10_000, 'node A refreshed');
      await waitFor(async () => (await postDelivery(daemons[1]!.url, 'push', push)).status === 202, 10_000, 'node B applied the shared ranges');
      expect(requests).toBeGreaterThan(0);
    } finally {
      for (const d of daemons) await d.stop(200);
      meta.close();
      for (const d of dirs) d.cleanup();
      await db.drop();
    }
  }, 40_000);
});
