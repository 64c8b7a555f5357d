import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteStore, type NewDelivery } from '../src/index.js';
import { TransactionBatcher } from '../src/store/sqlite/group-commit.js';
import { WriteGate } from '../src/store/sqlite/write-gate.js';

const delivery = (id: string, body = Buffer.from('{}')): NewDelivery => ({
  deliveryId: id, event: 'issues', action: 'opened', hookId: null, repo: 'o/r', repoId: 1, installationId: null, receivedAt: new Date().toISOString(),
  contentType: 'json', headers: {}, body, signatureSlot: 0, sourceIp: null, state: 'queued', outcome: null,
});

describe('TransactionBatcher', () => {
  let dir: string;
  let db: Database.Database;
  let reader: Database.Database;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gb-batcher-'));
    db = new Database(join(dir, 'b.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    // A second connection sees only what has committed.
    reader = new Database(join(dir, 'b.db'), { readonly: true });
  });
  afterEach(() => {
    reader.close();
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const committed = () => (reader.prepare('SELECT x FROM t ORDER BY x').all() as { x: number }[]).map((r) => r.x);
  const insert = (x: number) => () => db.prepare('INSERT INTO t (x) VALUES (?)').run(x).changes;

  it('runs the functions of one turn in one transaction and settles each promise only after COMMIT', async () => {
    const batcher = new TransactionBatcher(db);
    const seenInside: number[][] = [];
    const results = [1, 2, 3].map((x) =>
      batcher
        .run(() => {
          const changes = insert(x)();
          seenInside.push(committed());
          return changes;
        })
        .then((v) => ({ v, seen: committed() })),
    );
    expect(committed()).toEqual([]); // nothing runs before the next turn
    const settled = await Promise.all(results);
    // While the third function ran, the first two rows were still uncommitted: one shared transaction.
    expect(seenInside).toEqual([[], [], []]);
    // Every promise resolved with its function's value, and by then all rows were visible to another connection.
    expect(settled).toEqual([1, 2, 3].map(() => ({ v: 1, seen: [1, 2, 3] })));
  });

  it('a function that throws rolls back only its own changes and rejects only its own promise', async () => {
    const batcher = new TransactionBatcher(db);
    const ok1 = batcher.run(insert(1));
    const bad = batcher.run(() => {
      db.prepare('INSERT INTO t (x) VALUES (2)').run();
      throw new Error('mapping bug');
    });
    const dup = batcher.run(insert(1)); // UNIQUE violation
    const ok2 = batcher.run(insert(3));
    await expect(bad).rejects.toThrow('mapping bug');
    await expect(dup).rejects.toThrow(/UNIQUE/);
    await expect(ok1).resolves.toBe(1);
    await expect(ok2).resolves.toBe(1);
    expect(committed()).toEqual([1, 3]);
  });

  it('when the transaction cannot start, every promise of the batch rejects and nothing is written', async () => {
    const batcher = new TransactionBatcher(db);
    const other = new Database(join(dir, 'b.db'));
    other.pragma('busy_timeout = 0');
    db.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE'); // another writer holds the lock
    const a = batcher.run(insert(1));
    const b = batcher.run(insert(2));
    await expect(a).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    await expect(b).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    other.exec('ROLLBACK');
    other.close();
    expect(committed()).toEqual([]);
  });

  it('flush() runs what is queued at once (shutdown)', async () => {
    const batcher = new TransactionBatcher(db);
    const p = batcher.run(insert(7));
    batcher.flush();
    expect(committed()).toEqual([7]);
    await expect(p).resolves.toBe(1);
  });

  it('maxBatch rows flush without waiting for the next turn', () => {
    const batcher = new TransactionBatcher(db, { maxBatch: 2 });
    void batcher.run(insert(1));
    void batcher.run(insert(2));
    expect(committed()).toEqual([1, 2]);
  });
});

describe('WriteGate with the group committers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gb-gate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));


  it('reopens by itself after maxMs, and runs waiters in arrival order', async () => {
    const gate = new WriteGate();
    const order: number[] = [];
    gate.close(30);
    gate.whenOpen(() => order.push(1));
    gate.whenOpen(() => order.push(2));
    expect(gate.isOpen).toBe(false);
    expect(order).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(gate.isOpen).toBe(true);
    expect(order).toEqual([1, 2]);
    gate.whenOpen(() => order.push(3)); // open: runs at once
    expect(order).toEqual([1, 2, 3]);
  });

  it('queued commits wait while the gate is closed and commit when it reopens', async () => {
    const gate = new WriteGate();
    const store = SqliteStore.open(dir, { gate });
    try {
      gate.close();
      let settled = 0;
      const stored = store.ingest(delivery('a')).then((r) => (settled++, r));
      const written = store.requeueDelivery('nope').then((r) => (settled++, r));
      await new Promise((r) => setTimeout(r, 30));
      expect(settled).toBe(0);
      expect(await store.getDelivery('a')).toBeUndefined();
      gate.open();
      await expect(stored).resolves.toBe('stored');
      await expect(written).resolves.toBe(false);
      expect((await store.getDelivery('a'))?.deliveryId).toBe('a');
    } finally {
      await store.close();
    }
  });

  it('the background checkpointer pauses the writers to restart the WAL, which keeps it small', async () => {
    // 64 frames (256 KB) instead of 16384, so that a test-sized load crosses it many times.
    const gate = new WriteGate();
    const store = SqliteStore.open(dir, { backgroundCheckpoint: true, walRestartFrames: 64, checkpointIntervalMs: 5, gate });
    try {
      let pauses = 0;
      const close = gate.close.bind(gate);
      gate.close = (ms?: number) => {
        pauses++;
        close(ms);
      };
      const body = Buffer.alloc(20_000, 0x20);
      for (let i = 0; i < 300; i++) {
        await store.ingest(delivery(`d${i}`, body));
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      expect(pauses).toBeGreaterThan(0);
      // The gate reopens once the restart is done (a starved checkpointer thread may still be in one now).
      await vi.waitFor(() => expect(gate.isOpen).toBe(true), { timeout: 2000, interval: 20 });
      // The WAL header's checkpoint sequence number counts restarts (https://www.sqlite.org/fileformat.html#wal_file_format).
      const wal = join(dir, 'gitbridge.db-wal');
      expect(readFileSync(wal).readUInt32BE(12)).toBeGreaterThan(0);
      // Without a restart the WAL would hold every body (300 × 20,000 bytes) at least once.
      expect(statSync(wal).size).toBeLessThan(300 * 20_000);
      expect((await store.counts()).deliveries.queued).toBe(300);

      // Idle now: the WAL restarted and no write has started it over since. It must not be paused again and again.
      const before = pauses;
      await new Promise((r) => setTimeout(r, 300));
      expect(pauses - before).toBeLessThanOrEqual(1);
    } finally {
      await store.close();
    }
  });
});

describe('closing a store with a background checkpointer', () => {
  it('resolves only when the thread has closed its connection: the WAL is checkpointed and no file is left but the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-close-'));
    try {
      // Closed at once (the thread may not have opened its connection yet) and after the thread has run a while.
      for (const waitMs of [0, 0, 300, 300]) {
        const store = SqliteStore.open(dir, { backgroundCheckpoint: true, checkpointIntervalMs: 5 });
        await store.ingest(delivery(`d${waitMs}-${randomUUID()}`));
        await new Promise((r) => setTimeout(r, waitMs));
        await store.close();
        // The last connection to close removes the WAL and the shared-memory file; a thread still connected would keep them.
        expect(readdirSync(dir).sort()).toEqual(['gitbridge.db']);
        // A second close is the same close.
        await store.close();
      }
      rmSync(dir, { recursive: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('closing a store with a background checkpointer at the end of a process', () => {
  it('keeps the process alive until the thread has exited: the code after close() runs and the WAL is gone', async () => {
    // A process with nothing else to do but the close, as a daemon at the end
    // of its shutdown. Whether the thread is between two checkpoints or in one
    // when close() is called varies, so six processes close at six moments.
    const script = `
      import { SqliteStore } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const store = SqliteStore.open(process.argv[1], { backgroundCheckpoint: true });
      const { body: _, ...row } = ${JSON.stringify(delivery('last'))};
      await store.ingest({ ...row, body: Buffer.from('{}') });
      await new Promise((r) => setTimeout(r, Number(process.argv[2])));
      await store.close();
      console.log('closed');
    `;
    const dirs = [0, 50, 100, 300, 1000, 1500].map((waitMs) => ({ waitMs, dir: mkdtempSync(join(tmpdir(), 'gb-close-exit-')) }));
    try {
      const runs = await Promise.all(dirs.map(({ waitMs, dir }) => execa('node', ['--input-type=module', '-e', script, dir, String(waitMs)], { reject: false })));
      for (const [i, run] of runs.entries()) {
        // Exit code 13 is Node's "unsettled top-level await": the process ended while close() was pending.
        expect({ waitMs: dirs[i]!.waitMs, exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr }).toEqual({ waitMs: dirs[i]!.waitMs, exitCode: 0, stdout: 'closed', stderr: '' });
        expect(readdirSync(dirs[i]!.dir)).toEqual(['gitbridge.db']);
      }
    } finally {
      for (const { dir } of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WAL restart with a long reader', () => {
  it('does not keep pausing the writers while a reader holds an old snapshot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-gate-reader-'));
    const gate = new WriteGate();
    const store = SqliteStore.open(dir, { backgroundCheckpoint: true, walRestartFrames: 64, checkpointIntervalMs: 5, gate });
    const reader = new Database(join(dir, 'gitbridge.db'), { readonly: true });
    try {
      let pauses = 0;
      const close = gate.close.bind(gate);
      gate.close = (ms?: number) => {
        pauses++;
        close(ms);
      };
      const body = Buffer.alloc(20_000, 0x20);
      await store.ingest(delivery('first', body));
      // A read transaction that stays open (a backup in progress) pins the WAL.
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM deliveries').get();
      const started = performance.now();
      let n = 0;
      for (let i = 0; performance.now() - started < 1500; i++, n++) {
        await store.ingest(delivery(`d${i}`, body));
        // Slowly at first, so that the checkpointer sees the WAL cross the restart size before the pinned backlog outgrows what it may pause for (even on a loaded machine).
        if (i < 40 || i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      const elapsed = performance.now() - started;
      // A failed RESTART (≤ 250 ms of pause) is followed by a 1 s back-off, then 2 s: not a pause per checkpoint interval.
      expect(pauses).toBeGreaterThan(0);
      expect(pauses).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
      reader.exec('COMMIT');
      expect((await store.counts()).deliveries.queued).toBe(n + 1);
    } finally {
      reader.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TransactionBatcher when SQLite abandons the whole transaction', () => {
  it('rejects every job with the real error and writes nothing (disk full stands in as max_page_count)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-batcher-full-'));
    const db = new Database(join(dir, 'b.db'));
    try {
      db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY, v BLOB)');
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages + 20}`);
      const batcher = new TransactionBatcher(db);
      const put = (x: number, size: number) => () => db.prepare('INSERT INTO t (x, v) VALUES (?, ?)').run(x, Buffer.alloc(size)).changes;
      const a = batcher.run(put(1, 10));
      const b = batcher.run(put(2, 1024 * 1024)); // SQLITE_FULL
      const c = batcher.run(put(3, 10));
      for (const p of [a, b, c]) await expect(p).rejects.toMatchObject({ code: 'SQLITE_FULL' });
      expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
