import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, SCHEMA_VERSION, SqliteStore, openStore } from '../src/index.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { describeStoreContract, newDelivery } from './store-contract.js';

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gb-store-'));
  const clock = new ManualClock();
  const store = SqliteStore.open(dir, { clock });
  return {
    store,
    elapse: (ms) => clock.advance(ms),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** A store file at schema version `upTo`, made by the migrations themselves. */
function storeAtVersion(dir: string, upTo: number): Database.Database {
  const db = new Database(join(dir, 'gitbridge.db'));
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
  for (const m of MIGRATIONS.filter((x) => x.version <= upTo)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
  }
  return db;
}

describe('the SQLite engine', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gb-sqlite-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates a new store to the latest schema once, idempotently', async () => {
    let store = SqliteStore.open(dir);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.close();
    store = SqliteStore.open(dir);
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.close();
  });

  it('a version-3 store keeps its bodies byte for byte, its leases, and one journal entry per delivery after the upgrade', async () => {
    const db = storeAtVersion(dir, 3);
    const body = Buffer.from([0x7b, 0x22, 0xe2, 0x9c, 0x93, 0x22, 0x3a, 0x31, 0x7d, 0x0a]); // {"✓":1}\n
    const leaseEnd = Date.now() + 60_000;
    db.prepare(`INSERT INTO deliveries (delivery_id, event, received_at, content_type, headers, body, size, state, next_attempt_at, lease_until)
      VALUES ('old-1', 'issues', '2020-01-01T00:00:00.000Z', 'json', '{}', ?, ?, 'queued', 0, ?)`).run(body, body.length, leaseEnd);
    db.prepare(`INSERT INTO deliveries (delivery_id, event, received_at, content_type, headers, body, size, state)
      VALUES ('old-2', 'issues', '2020-01-01T00:00:00.000Z', 'json', '{}', ?, ?, 'queued')`).run(body, body.length);
    // Before version 5 a delivery processed twice was journaled twice.
    for (let i = 0; i < 2; i++) {
      db.prepare(`INSERT INTO journal (delivery_id, type, timestamp, recorded_at) VALUES ('old-0', 'issues', 't', 't')`).run();
    }
    db.close();
    const store = SqliteStore.open(dir);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      expect((await store.getDeliveryBody('old-1'))?.equals(body)).toBe(true);
      // old-1 is still under its lease: only old-2 is claimed.
      const claims = await store.claimDeliveries(10, 1000);
      expect(claims.map((c) => c.item.deliveryId)).toEqual(['old-2']);
      expect(claims[0]!.item.body.equals(body)).toBe(true);
      expect((await store.listJournal()).filter((j) => j.deliveryId === 'old-0')).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('tools never create or migrate a store: missing, older and newer schemas are refused with codes', async () => {
    await expect(openStore({ dataDir: dir, access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_NOT_FOUND', exitCode: 4 });
    await expect(openStore({ dataDir: dir, access: 'write' })).rejects.toMatchObject({ code: 'GB_STORE_NOT_FOUND' });
    storeAtVersion(dir, SCHEMA_VERSION - 1).close();
    await expect(openStore({ dataDir: dir, access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH', hint: expect.stringMatching(/start gitbridged/) });
    const owner = await openStore({ dataDir: dir, access: 'owner' });
    await owner.close();
    const db = new Database(join(dir, 'gitbridge.db'));
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(SCHEMA_VERSION + 1, 'from the future', new Date().toISOString());
    db.close();
    await expect(openStore({ dataDir: dir, access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH', hint: expect.stringMatching(/upgrade/) });
    await expect(openStore({ dataDir: dir, access: 'owner' })).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH' });
  });

  it('migration numbers may have holes: a store at 6 gets 8, and a store without a known migration is refused to tools', async () => {
    expect(MIGRATIONS.some((m) => m.version === 7)).toBe(false);
    storeAtVersion(dir, 6).close();
    const owner = SqliteStore.open(dir);
    expect(await owner.schemaVersion()).toBe(SCHEMA_VERSION);
    await owner.putSetting('k', 'v');
    await owner.close();
    const reader = await openStore({ dataDir: dir, access: 'read' });
    expect(await reader.getSetting('k')).toBe('v');
    await reader.close();
    // A store that has the newest version but lacks an earlier migration is not current.
    const db = new Database(join(dir, 'gitbridge.db'));
    db.prepare('DELETE FROM schema_migrations WHERE version = 6').run();
    db.close();
    await expect(openStore({ dataDir: dir, access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH', message: expect.stringMatching(/lacks schema migration 6/) });
  });

  it('a reader sees committed work while the daemon writes; a read-only store refuses writes with a code', async () => {
    const owner = SqliteStore.open(dir);
    const reader = await openStore({ dataDir: dir, access: 'read' });
    try {
      await owner.ingest(newDelivery('a'));
      expect((await reader.getDelivery('a'))?.deliveryId).toBe('a');
      await expect(reader.requeueDelivery('a')).rejects.toMatchObject({ code: expect.stringMatching(/^GB_STORE_/) });
    } finally {
      await reader.close();
      await owner.close();
    }
  });

  it('claims and "next due" read the due index in order, never sort the backlog', async () => {
    const store = SqliteStore.open(dir);
    await store.close();
    const db = new Database(join(dir, 'gitbridge.db'), { readonly: true });
    try {
      const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
      for (const [table, where] of [['deliveries', "state = 'queued'"], ['tasks', "status = 'queued' AND blocked = 0"], ['notifications', "status = 'pending'"]] as const) {
        const index = `${table}_next`;
        const due = plan(`SELECT next_attempt_at FROM ${table} INDEXED BY ${index} WHERE ${where} ORDER BY next_attempt_at LIMIT 1`);
        // The index is in next_attempt_at order: LIMIT 1 reads its first entry, whatever the backlog.
        expect(due).toContain(`USING COVERING INDEX ${index}`);
        expect(due).not.toMatch(/TEMP B-TREE/);
        const claim = plan(`SELECT rowid FROM ${table} INDEXED BY ${index} WHERE ${where} AND next_attempt_at <= 0 ORDER BY next_attempt_at LIMIT 16`);
        expect(claim).toContain(`INDEX ${index} (next_attempt_at<?)`);
        expect(claim).not.toMatch(/TEMP B-TREE/);
      }
    } finally {
      db.close();
    }
  });
});
