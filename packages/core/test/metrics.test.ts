import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, SqliteStore, createMetrics } from '../src/index.js';
import { draft, journal, newDelivery } from './store-contract.js';

/** The value of an unlabelled or labelled sample in Prometheus' text format. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('metrics read from the store', () => {
  let dir: string;
  let store: SqliteStore;
  let reads: number;
  let failReads: boolean;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gb-metrics-'));
    store = SqliteStore.open(dir);
    reads = 0;
    failReads = false;
    // Counts the reads of the real store (and can make them fail, as a database outage does).
    const counts = store.counts.bind(store);
    store.counts = () => {
      reads += 1;
      return failReads ? Promise.reject(new Error('the database is unreachable')) : counts();
    };
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the store once per scrape, whatever the number of gauges it feeds', async () => {
    const metrics = createMetrics({ store, defaultMetrics: false });
    await store.ingest(newDelivery('d-1'));
    await store.ingest(newDelivery('d-2'));
    const text = await metrics.registry.metrics();
    expect(reads).toBe(1);
    expect(sample(text, 'gitbridge_event_queue_depth')).toBe(2);
    expect(sample(text, 'gitbridge_deliveries{state="queued"}')).toBe(2);
    expect(sample(text, 'gitbridge_tasks_held_for_order')).toBe(0);

    // The next scrape reads again: the values are those of the store at that scrape.
    await store.ingest(newDelivery('d-3'));
    expect(sample(await metrics.registry.metrics(), 'gitbridge_event_queue_depth')).toBe(3);
    expect(reads).toBe(2);
  });

  it('keeps the last values while the store cannot be read', async () => {
    const metrics = createMetrics({ store, defaultMetrics: false });
    await store.ingest(newDelivery('d-1'));
    expect(sample(await metrics.registry.metrics(), 'gitbridge_event_queue_depth')).toBe(1);
    failReads = true;
    const text = await metrics.registry.metrics();
    expect(sample(text, 'gitbridge_event_queue_depth')).toBe(1);
    expect(sample(text, 'gitbridge_deliveries{state="queued"}')).toBe(1);
    failReads = false;
    await store.ingest(newDelivery('d-2'));
    expect(sample(await metrics.registry.metrics(), 'gitbridge_event_queue_depth')).toBe(2);
  });
});

describe('gitbridge_tasks_oldest_age_seconds', () => {
  it('is how long the longest-waiting task of each unfinished status has waited, on the daemon\'s clock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-metrics-age-'));
    const clock = new ManualClock(Date.parse('2026-06-01T12:00:00.000Z'));
    const store = SqliteStore.open(dir, { clock });
    try {
      const metrics = createMetrics({ store, clock, defaultMetrics: false });
      const ages = async () => {
        const text = await metrics.registry.metrics();
        return Object.fromEntries(['queued', 'pending', 'running'].map((s) => [s, sample(text, `gitbridge_tasks_oldest_age_seconds{status="${s}"}`)]));
      };
      expect(await ages()).toEqual({ queued: 0, pending: 0, running: 0 });

      for (const id of ['a', 'b']) {
        await store.ingest(newDelivery(id));
        const [c] = await store.claimDeliveries(1, 30_000);
        await store.completeDelivery(c!, { drafts: [draft()], journal: { ...journal }, repo: 'o/r' });
        await clock.advance(60_000);
      }
      // The first task was created 120 s ago, the second 60 s ago.
      expect(await ages()).toEqual({ queued: 120, pending: 0, running: 0 });

      const [first] = (await store.claimTasks(2, 30_000)).sort((x, y) => x.item.createdAt.localeCompare(y.item.createdAt));
      await store.markTaskSubmitted(first!, 'mas-1');
      await clock.advance(90_500);
      expect(await ages()).toEqual({ queued: 150.5, pending: 90.5, running: 0 });

      await store.applyCallback('mas-1', 'running', {});
      await clock.advance(5_000);
      expect(await ages()).toEqual({ queued: 155.5, pending: 0, running: 5 });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
