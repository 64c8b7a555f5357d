import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { githubExamples, postDelivery, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

// Every real payload of @octokit/webhooks-examples, signed at test time and
// posted with its own event header, must be accepted (never 4xx/5xx) and end
// mapped by the rules or recorded as ignored.
describe('all 329 GitHub example payloads', () => {
  const tmp = tempDir();
  let daemon: Daemon;
  const examples = githubExamples();

  beforeAll(async () => {
    ({ daemon } = await startTestDaemon(tmp.dir, { GITBRIDGE_RATE_LIMIT: '100000' }));
  });
  afterAll(async () => {
    await daemon?.stop();
    tmp.cleanup();
  });

  it('are 329', () => {
    expect(examples).toHaveLength(329);
  });

  it('each gets a 2xx, as JSON and as a form; ping gets 200 and no task', async () => {
    const results: { event: string; action: string | undefined; status: number; id: string; body: unknown }[] = [];
    for (const [i, ex] of examples.entries()) {
      const body = JSON.stringify(ex.payload);
      // Alternate the two content types GitHub uses.
      const form = i % 2 === 1;
      const res = await postDelivery(daemon.url, ex.event, form ? `payload=${encodeURIComponent(body)}` : body, {
        contentType: form ? 'application/x-www-form-urlencoded' : 'application/json',
      });
      results.push({ event: ex.event, action: ex.action, status: res.status, id: res.deliveryId, body: res.body });
    }
    const bad = results.filter((r) => r.status < 200 || r.status >= 300);
    expect(bad).toEqual([]);
    for (const r of results) expect(r.status).toBe(r.event === 'ping' ? 200 : 202);

    // Every accepted delivery ends processed (tasks) or ignored; none stays queued or dies.
    await waitFor(async () => (await daemon.store.counts()).deliveries.queued === 0, 20_000, 'queue drained');
    const counts = (await daemon.store.counts()).deliveries;
    expect(counts.dead).toBe(0);
    expect(counts.processed + counts.ignored).toBe(329);
    for (const r of results) {
      const row = (await daemon.store.getDelivery(r.id))!;
      if (r.event === 'ping') {
        expect(row.outcome).toBe('ping');
        expect(await daemon.store.tasksForDelivery(r.id)).toHaveLength(0);
      } else {
        expect(['tasks', 'ignored']).toContain(row.outcome);
        expect((await daemon.store.tasksForDelivery(r.id)).length > 0).toBe(row.outcome === 'tasks');
      }
    }
    // The default rules matched what they should.
    const types = (await daemon.store.listTasks({ limit: 10_000 })).map((t) => t.taskType);
    expect(new Set(types)).toEqual(new Set(['review_pull_request', 'triage_issue', 'respond_to_comment', 'investigate_ci_failure']));
    // Each accepted, non-ping delivery has exactly one journal entry.
    expect(await daemon.store.listJournal({ limit: 10_000 })).toHaveLength(329 - results.filter((r) => r.event === 'ping').length);
  }, 120_000);
});
