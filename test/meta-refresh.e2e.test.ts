import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { githubExample, postDelivery, scrape, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

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
