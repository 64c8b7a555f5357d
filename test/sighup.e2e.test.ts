import { existsSync, readFileSync, renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeHooksSnapshot } from '@gitbridge/core';
import { githubExample, postDelivery, tempDir, testEnv, waitFor } from './helpers/index.js';
import { spawnDaemon } from './helpers/process.js';

describe('SIGHUP', () => {
  it('reopens rotated log files and reloads the hook ranges written by `meta sync`', async () => {
    const tmp = tempDir();
    const d = await spawnDaemon(testEnv(tmp.dir, { GITBRIDGE_IP_ALLOWLIST: 'github' }));
    try {
      const push = JSON.stringify(githubExample('push'));
      expect((await postDelivery(d.url, 'push', push)).status).toBe(403);

      // A refreshed snapshot (as `gitbridge meta sync` writes it) that covers loopback.
      writeHooksSnapshot(`${tmp.dir}/data`, { source: 'test', snapshot_date: new Date().toISOString(), hooks: ['127.0.0.0/8'] });
      // logrotate moves the file away, then signals the daemon.
      renameSync(`${tmp.dir}/logs/webhook.log`, `${tmp.dir}/logs/webhook.log.1`);
      d.child.kill('SIGHUP');
      await waitFor(() => existsSync(`${tmp.dir}/logs/webhook.log`), 5000, 'log file reopened');

      const res = await postDelivery(d.url, 'push', push);
      expect(res.status).toBe(202);
      await waitFor(() => readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8').includes(res.deliveryId), 5000, 'new line in the new file');
      expect(readFileSync(`${tmp.dir}/logs/webhook.log.1`, 'utf8')).not.toContain(res.deliveryId);
    } finally {
      d.child.kill('SIGTERM');
      await d.child;
      tmp.cleanup();
    }
  });
});
