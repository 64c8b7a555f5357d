import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, SCHEMA_VERSION, SqliteStore, openStore } from '../src/index.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { prefixQuery } from '../src/store/sqlite/sqlite-store.js';
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

/** Runs `fn` with the query planner of a fresh store in `dir`: `plan(sql, args)` is its EXPLAIN QUERY PLAN, one line. */
async function withQueryPlans(dir: string, fn: (plan: (sql: string, args?: Record<string, unknown>) => string) => void): Promise<void> {
  await SqliteStore.open(dir).close();
  const db = new Database(join(dir, 'gitbridge.db'), { readonly: true });
  try {
    fn((sql, args = {}) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(args) as { detail: string }[]).map((r) => r.detail).join(' | '));
  } finally {
    db.close();
  }
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

  it('migration versions increase and may leave a hole: a version-5 store is brought to the newest with every missing version applied', async () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    storeAtVersion(dir, 5).close();
    const store = SqliteStore.open(dir);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      await store.advanceRecoveryCheckpoint('app', '2026-03-01T00:00:00.000Z');
      expect(await store.recoveryCheckpoint('app')).toBe('2026-03-01T00:00:00.000Z');
    } finally {
      await store.close();
    }
    const db = new Database(join(dir, 'gitbridge.db'), { readonly: true });
    const applied = (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
    db.close();
    expect(applied).toEqual(versions);
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

  it('version numbers may have holes: a store is current when every listed migration is applied, and a missing one is named', async () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions.every((v, i) => i === 0 || v > versions[i - 1]!)).toBe(true);
    const store = SqliteStore.open(dir);
    await store.close();
    const reader = await openStore({ dataDir: dir, access: 'read' });
    expect(await reader.schemaVersion()).toBe(SCHEMA_VERSION);
    await reader.close();
    const db = new Database(join(dir, 'gitbridge.db'));
    db.prepare('DELETE FROM schema_migrations WHERE version = 5').run();
    db.close();
    await expect(openStore({ dataDir: dir, access: 'read' })).rejects.toMatchObject({
      code: 'GB_STORE_SCHEMA_MISMATCH',
      message: expect.stringContaining('lacks schema migration 5'),
      hint: expect.stringMatching(/start gitbridged/),
    });
  });

  it('migration 9 from a version-6 store: deliveries notify as before, and earlier replays are marked in the journal', async () => {
    const db = storeAtVersion(dir, 6);
    for (const [id, replayOf] of [['r-1', null], ['r-1:replay:1', 'r-1']] as const) {
      db.prepare(`INSERT INTO deliveries (delivery_id, event, received_at, content_type, headers, size, state, replay_of) VALUES (?, 'issues', '2020-01-01T00:00:00.000Z', 'json', '{}', 2, 'processed', ?)`).run(id, replayOf);
      db.prepare(`INSERT INTO journal (delivery_id, type, timestamp, recorded_at) VALUES (?, 'issues', 't', 't')`).run(id);
    }
    db.close();
    const store = SqliteStore.open(dir);
    try {
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
      expect(await store.getDelivery('r-1:replay:1')).toMatchObject({ notify: true, ignoredReason: null, replayOf: 'r-1' });
      expect((await store.listJournal()).map((j) => [j.deliveryId, j.replayOf])).toEqual([['r-1:replay:1', 'r-1'], ['r-1', null]]);
    } finally {
      await store.close();
    }
  });

  it('prefix lookups read an index range, never the table', async () => {
    await withQueryPlans(dir, (plan) => {
      for (const [table, column, select, extra] of [['deliveries', 'delivery_id', 'delivery_id', 'AND replay_of IS NULL'], ['tasks', 'id', 'id', ''], ['tasks', 'task_id', 'id', '']] as const) {
        for (const bounded of [true, false]) {
          const p = plan(prefixQuery(table, column, select, bounded, extra), { prefix: '72d3', limit: 6, ...(bounded ? { bound: '72d4' } : {}) });
          expect(p, `${table}.${column}`).toMatch(new RegExp(`^SEARCH ${table} USING (COVERING )?INDEX sqlite_autoindex_${table}_\\d \\(${column}>\\?${bounded ? ` AND ${column}<\\?` : ''}\\)$`));
          expect(p).not.toMatch(/SCAN|TEMP B-TREE/);
        }
      }
    });
  });

  it('a store at 6 gets the later migrations, and a store without a known migration is refused to tools', async () => {
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
    await withQueryPlans(dir, (plan) => {
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
    });
  });

  it('the oldest task of each unfinished status (a gauge read at every scrape) is the first entry of an index', async () => {
    await withQueryPlans(dir, (plan) => {
      for (const [status, column, index] of [['queued', 'created_at', 'tasks_queued_created'], ['pending', 'updated_at', 'tasks_pending_updated'], ['running', 'updated_at', 'tasks_running_updated']] as const) {
        const p = plan(`SELECT ${column} AS t FROM tasks INDEXED BY ${index} WHERE status = '${status}' ORDER BY ${column} LIMIT 1`);
        expect(p).toContain(`USING COVERING INDEX ${index}`);
        expect(p).not.toMatch(/TEMP B-TREE/);
      }
    });
  });
});
