import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type NewDelivery, type TaskDraft } from '../src/index.js';

const draft = (taskType = 'triage_issue'): TaskDraft => ({ rule: 'r', taskType, priority: 'normal', payload: { type: taskType, priority: 'normal', metadata: {}, protocol_version: '2.1' }, notify: { channel: '#c', text: 't', url: null } });
const entry = { type: 'issues', action: 'opened', repo: 'o/r', number: 1, timestamp: '2020-01-01T00:00:00Z' };
function delivery(id: string, receivedAt = new Date().toISOString()): NewDelivery {
  return { deliveryId: id, event: 'issues', action: 'opened', hookId: null, repo: 'o/r', repoId: 1, installationId: null, receivedAt, contentType: 'json', headers: {}, body: Buffer.from('{}'), signatureSlot: 0, sourceIp: null, state: 'queued', outcome: null };
}

describe('Store', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gb-store-'));
    store = Store.open(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates to the latest schema once, idempotently', () => {
    expect(store.schemaVersion()).toBe(3);
    store.close();
    store = Store.open(dir);
    expect(store.schemaVersion()).toBe(3);
  });

  it('stores a delivery id once; the rest of the batch are duplicates', () => {
    expect(store.insertDeliveries([delivery('a'), delivery('b'), delivery('a')])).toEqual(['stored', 'stored', 'duplicate']);
    expect(store.insertDeliveries([delivery('b')])).toEqual(['duplicate']);
  });

  it('leases claimed work: a second claim during the lease gets nothing, after it the same item again', () => {
    store.insertDeliveries([delivery('a')], 1000);
    expect(store.claimDeliveries(10, 500, 1000).map((d) => d.delivery_id)).toEqual(['a']);
    expect(store.claimDeliveries(10, 500, 1200)).toEqual([]);
    const again = store.claimDeliveries(10, 500, 1600);
    expect(again.map((d) => [d.delivery_id, d.attempts])).toEqual([['a', 2]]);
  });

  it('processing twice never creates two tasks for one (delivery, task type)', () => {
    store.insertDeliveries([delivery('a')]);
    expect(store.completeDelivery('a', [draft()], entry, 'o/r')).toHaveLength(1);
    expect(store.completeDelivery('a', [draft()], entry, 'o/r')).toHaveLength(0);
    expect(store.tasksForDelivery('a')).toHaveLength(1);
  });

  it('readers see committed work while the writer holds the file (WAL)', () => {
    store.insertDeliveries([delivery('a')]);
    const reader = Store.open(dir, { readonly: true });
    store.db.exec('BEGIN IMMEDIATE');
    expect(reader.getDelivery('a')?.delivery_id).toBe('a');
    store.db.exec('COMMIT');
    reader.close();
  });

  it('retention deletes old finished deliveries with their tasks, keeps open work and the journal', () => {
    const old = '2020-01-01T00:00:00.000Z';
    store.insertDeliveries([delivery('done', old), delivery('open-task', old), delivery('queued', old), delivery('new')]);
    const [t1] = store.completeDelivery('done', [draft()], entry, 'o/r');
    store.markTaskSubmitted(t1!, 'mas-1');
    store.applyCallback('mas-1', 'completed', {});
    store.completeDelivery('open-task', [draft()], entry, 'o/r'); // task still queued
    store.completeDelivery('new', [], entry, 'o/r');
    expect(store.purge('2021-01-01T00:00:00.000Z', 1)).toBe(1);
    expect(store.getDelivery('done')).toBeUndefined();
    expect(store.getTask(t1!)).toBeUndefined();
    expect(store.taskHistory(t1!)).toEqual([]);
    expect(store.getDelivery('open-task')).toBeDefined();
    expect(store.getDelivery('queued')).toBeDefined();
    expect(store.getDelivery('new')).toBeDefined();
    expect(store.listJournal().map((j) => j.delivery_id)).toContain('done');
  });
});
