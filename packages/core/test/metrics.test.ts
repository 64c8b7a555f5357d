import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore, createMetrics } from '../src/index.js';
import { newDelivery } from './store-contract.js';

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
