import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Store, type NewDelivery, type TaskDraft } from '../src/index.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

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
    expect(store.schemaVersion()).toBe(LATEST);
    store.close();
    store = Store.open(dir);
    expect(store.schemaVersion()).toBe(LATEST);
  });

  it('migration 4 moves the bodies of a version-3 store into delivery_bodies, byte for byte', () => {
    store.close();
    const old = mkdtempSync(join(tmpdir(), 'gb-store-v3-'));
    try {
      const db = new Database(join(old, 'gitbridge.db'));
      db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
      for (const m of MIGRATIONS.filter((x) => x.version <= 3)) {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }
      const body = Buffer.from([0x7b, 0x22, 0xe2, 0x9c, 0x93, 0x22, 0x3a, 0x31, 0x7d, 0x0a]); // {"✓":1}\n
      db.prepare(`INSERT INTO deliveries (delivery_id, event, received_at, content_type, headers, body, size, state)
        VALUES ('old-1', 'issues', '2020-01-01T00:00:00.000Z', 'json', '{}', ?, ?, 'queued')`).run(body, body.length);
      db.close();
      store = Store.open(old);
      expect(store.schemaVersion()).toBe(LATEST);
      const columns = (store.db.prepare('PRAGMA table_info(deliveries)').all() as { name: string }[]).map((c) => c.name);
      expect(columns).not.toContain('body');
      expect(store.getDelivery('old-1')?.body.equals(body)).toBe(true);
      expect(store.claimDeliveries(1, 1000)[0]?.body.equals(body)).toBe(true);
      store.close();
    } finally {
      rmSync(old, { recursive: true, force: true });
      store = Store.open(dir);
    }
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
    expect(store.db.prepare(`SELECT COUNT(*) AS n FROM delivery_bodies WHERE delivery_id = 'done'`).get()).toEqual({ n: 0 });
    expect(store.getTask(t1!)).toBeUndefined();
    expect(store.taskHistory(t1!)).toEqual([]);
    expect(store.getDelivery('open-task')).toBeDefined();
    expect(store.getDelivery('queued')).toBeDefined();
    expect(store.getDelivery('new')).toBeDefined();
    expect(store.listJournal().map((j) => j.delivery_id)).toContain('done');
  });
});
