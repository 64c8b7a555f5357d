import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { tempDir, postDelivery, scrape, startTestDaemon, pullRequestOpened } from './helpers/index.js';


describe('concurrent writes, metric scrapes and CLI reads', () => {
  it('never answer a delivery with a 500 or SQLITE_BUSY', async () => {
    const tmp = tempDir();
    const { daemon } = await startTestDaemon(tmp.dir);
    try {
      const statuses: number[] = [];
      let n = 0;
      const writers = Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 25; i++) {
          const k = ++n;
          const res = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(k));
          statuses.push(res.status);
        }
      });
      const scrapes = (async () => {
        for (let i = 0; i < 20; i++) expect(await scrape(daemon.url)).toContain('gitbridge_event_queue_depth');
      })();
      const readers = Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 3; i++) {
          const r = await execa('node', ['bin/gitbridge', 'deliveries', 'ls', '--json', '--limit', '1000', '--data-dir', `${tmp.dir}/data`], { reject: false });
          expect(r.exitCode, r.stderr).toBe(0);
          expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
        }
      });
      await Promise.all([...writers, scrapes, ...readers]);
      expect(statuses).toHaveLength(400);
      expect(statuses.filter((s) => s !== 202)).toEqual([]);
      const deliveries = (await daemon.store.counts()).deliveries;
      expect(deliveries.queued + deliveries.processed).toBe(400);
    } finally {
      await daemon.stop();
      tmp.cleanup();
    }
  }, 60_000);
});
