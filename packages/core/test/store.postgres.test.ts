import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PG_SCHEMA_VERSION, PostgresStore, type PostgresStoreOptions } from '../src/index.js';
import { MIGRATIONS } from '../src/store/postgres/migrations.js';
import { settledWithin } from '../src/util.js';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/postgres.js';
import { startTcpProxy } from '../../../test/helpers/tcp-proxy.js';
import { describeStoreContract, draft, journal, newDelivery } from './store-contract.js';

/** Every table of the schema but `schema_migrations`, children first: emptied before each test (DELETE: far quicker than TRUNCATE on tiny tables). */
const TABLES = ['task_history', 'notifications', 'journal', 'tasks', 'delivery_bodies', 'deliveries', 'entities', 'settings'];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('gitbridge_contract');
  // Creates the schema once; each test starts from empty tables.
  await (await PostgresStore.open(db.url, { poolMax: 1 })).close();
});
afterAll(async () => {
  await db?.drop();
});

describeStoreContract('postgres', async () => {
  await db.query(TABLES.map((t) => `DELETE FROM ${t};`).join(' '));
  const store = await PostgresStore.open(db.url, { poolMax: 4 });
  return {
    store,
    // Leases and retry times run on the database's clock: let that much real time pass.
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
    cleanup: () => store.close(),
  };
});

describe('the PostgreSQL engine', () => {
  const open: PostgresStore[] = [];
  const node = async (url = db.url, options: PostgresStoreOptions = {}) => {
    const s = await PostgresStore.open(url, { poolMax: 4, ...options });
    open.push(s);
    return s;
  };
  /** A node that reaches the database through a proxy the test can cut or freeze (the caller closes the proxy). */
  const nodeThroughProxy = async (options: PostgresStoreOptions) => {
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    const via = new URL(db.url);
    via.port = String(proxy.port);
    return { proxy, s: await node(via.toString(), options) };
  };
  beforeEach(async () => {
    await db.query(TABLES.map((t) => `DELETE FROM ${t};`).join(' '));
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  describe('schema', () => {
    let fresh: TestDatabase;
    beforeEach(async () => {
      fresh = await createTestDatabase('gitbridge_schema');
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await fresh.drop();
    });

    it('several daemons starting together on an empty database migrate it once', async () => {
      const stores = await Promise.all(Array.from({ length: 4 }, () => node(fresh.url)));
      for (const s of stores) expect(await s.schemaVersion()).toBe(PG_SCHEMA_VERSION);
      expect(await fresh.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    });

    it('bodies and task payloads are compressed with lz4 when the server has it, and read back byte for byte', async () => {
      const s = await node(fresh.url);
      const lz4 = ((await fresh.query(`SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) AS lz4`)) as { lz4: boolean }[])[0]!.lz4;
      const methods = (await fresh.query(`SELECT attrelid::regclass::text AS t, attname AS c, attcompression AS m FROM pg_attribute
        WHERE (attrelid, attname) IN (('delivery_bodies'::regclass, 'body'), ('tasks'::regclass, 'payload')) ORDER BY 1`)) as { t: string; c: string; m: string }[];
      // 'l' is lz4; '' the server's default (pglz), kept where lz4 is missing.
      expect(methods).toEqual([{ t: 'delivery_bodies', c: 'body', m: lz4 ? 'l' : '' }, { t: 'tasks', c: 'payload', m: lz4 ? 'l' : '' }]);
      // A body large enough to be compressed, with bytes that are not UTF-8.
      const body = Buffer.concat([Buffer.from(JSON.stringify({ zen: 'x'.repeat(30_000) })), Buffer.from([0xff, 0x00, 0xfe])]);
      await s.ingest(newDelivery('big', { body }));
      expect((await s.getDeliveryBody('big'))?.equals(body)).toBe(true);
      if (lz4) {
        const rows = (await fresh.query(`SELECT pg_column_compression(body) AS method FROM delivery_bodies WHERE delivery_id = 'big'`)) as { method: string }[];
        expect(rows).toEqual([{ method: 'lz4' }]);
      }
    });

    it('tools never create or migrate: no schema and a newer one are refused with codes', async () => {
      // (A store missing a migration is refused by the same check as SQLite's: store.sqlite.test.ts.)
      await expect(PostgresStore.open(fresh.url, { access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_NOT_FOUND', exitCode: 4, hint: expect.stringMatching(/GITBRIDGE_DATABASE_URL/) });
      await expect(PostgresStore.open(fresh.url, { access: 'write' })).rejects.toMatchObject({ code: 'GB_STORE_NOT_FOUND' });
      expect(await fresh.query(`SELECT to_regclass('deliveries') AS t`)).toEqual([{ t: null }]);
      await (await node(fresh.url)).close();
      await (await node(fresh.url, { access: 'read' })).close();
      await fresh.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')`, [PG_SCHEMA_VERSION + 1]);
      await expect(PostgresStore.open(fresh.url, { access: 'read' })).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH', hint: expect.stringMatching(/upgrade/) });
      await expect(PostgresStore.open(fresh.url)).rejects.toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH' });
    });

    it('a missing database is GB_STORE_NOT_FOUND, an unreachable server GB_STORE_UNAVAILABLE; the password is never shown', async () => {
      const url = new URL(fresh.url);
      url.password = 'hunter2-secret';
      url.pathname = '/gitbridge_no_such_database';
      const missing = await PostgresStore.open(url.toString()).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: 'GB_STORE_NOT_FOUND', hint: expect.stringMatching(/create the database/) });
      url.port = '1'; // nothing listens there
      const down = await PostgresStore.open(url.toString(), { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
      expect(down).toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
      for (const e of [missing, down]) expect(`${(e as Error).message} ${String((e as { hint?: string }).hint)}`).not.toContain('hunter2');
      const withPassword = new URL(fresh.url);
      withPassword.password = 'hunter2-secret';
      const s = await node(withPassword.toString());
      expect(s.location).not.toContain('hunter2');
      expect(s.location).toContain(':***@');
    });
  });

  describe('several nodes on one database', () => {
    it('the same delivery id ingested on two nodes at once: one stored, one duplicate, one row', async () => {
      const [a, b] = [await node(), await node()];
      for (let i = 0; i < 20; i++) {
        const id = `both-${i}`;
        const results = await Promise.all([a.ingest(newDelivery(id)), b.ingest(newDelivery(id))]);
        expect(results.sort(), id).toEqual(['duplicate', 'stored']);
      }
      expect(await a.listDeliveries({ limit: 1000 })).toHaveLength(20);
    });

    it('claims from two nodes never overlap', async () => {
      const [a, b] = [await node(), await node()];
      await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).ingest(newDelivery(`c${i}`))));
      const claims = (await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimDeliveries(15, 60_000)))).flat();
      const ids = claims.map((c) => c.item.deliveryId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toHaveLength(200);
    });

    it('per-entity order holds when two nodes process and submit at once: never two heads of one entity', async () => {
      const nodes = [await node(), await node()];
      // The third entity has a quote and a backslash: the entity locks are sent as quoted literals.
      const entities = ['repo:1/pull/1', 'repo:1/pull/2', String.raw`repo:1/it's\odd`];
      const ids = Array.from({ length: 60 }, (_, i) => `o${String(i).padStart(2, '0')}`);
      for (const id of ids) await nodes[0]!.ingest(newDelivery(id));
      const accepted: string[] = [];
      // Both nodes process deliveries and submit tasks concurrently until everything is accepted.
      const work = async (s: PostgresStore) => {
        for (let idle = 0; idle < 20;) {
          const [d] = await s.claimDeliveries(1, 60_000);
          if (d) {
            const n = Number(d.item.deliveryId.slice(1));
            await s.completeDelivery(d, { drafts: [draft('review', false)], journal, repo: 'o/r', order: { entity: entities[n % 3]!, eventAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), event: 'pull_request.edited' } });
          }
          const [t] = await s.claimTasks(1, 60_000);
          if (t) {
            accepted.push(t.item.deliveryId);
            await s.markTaskSubmitted(t, `mas-${t.item.id}`);
          }
          idle = d || t ? 0 : idle + 1;
          if (!d && !t) await new Promise((r) => setTimeout(r, 5));
        }
      };
      // Meanwhile the invariant itself: at most one unblocked queued task per entity, at any moment.
      let done = false;
      const heads: unknown[] = [];
      const sampler = (async () => {
        while (!done) {
          heads.push(...(await db.query(`SELECT entity, count(*)::int AS n FROM tasks WHERE status = 'queued' AND NOT blocked GROUP BY entity HAVING count(*) > 1`)));
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await Promise.all(nodes.map(work));
      done = true;
      await sampler;
      expect(heads).toEqual([]);
      expect(accepted.sort()).toEqual(ids);
      // Per entity, tasks reached the MAS in the order they were created.
      const rows = (await db.query(`SELECT t.entity, h.at FROM tasks t JOIN task_history h ON h.task_ref = t.id AND h.to_status = 'pending' ORDER BY t.entity, t.seq`)) as { entity: string; at: Date }[];
      for (const entity of entities) {
        const times = rows.filter((r) => r.entity === entity).map((r) => r.at.getTime());
        expect(times.length, entity).toBe(20);
        expect([...times].sort((x, y) => x - y), entity).toEqual(times);
      }
    });

    it('wake-ups cross nodes (LISTEN/NOTIFY after commit); a node does not wake itself twice', async () => {
      const [a, b] = [await node(), await node()];
      let woken = 0;
      let self = 0;
      b.onWake('deliveries', () => woken++);
      a.onWake('deliveries', () => self++);
      // B's LISTEN session starts in the background: ingest on A until B hears one.
      let sent = 0;
      await vi.waitFor(async () => {
        await a.ingest(newDelivery(`w${sent++}`));
        expect(woken).toBeGreaterThan(0);
      }, { timeout: 10_000, interval: 50 });
      await new Promise((r) => setTimeout(r, 300)); // A's own NOTIFY has come back to A by now
      expect(self).toBe(sent);
    });

    it('runExclusive holds across nodes; a holder whose session dies releases the lock', async () => {
      const [a, b] = [await node(), await node()];
      let release!: () => void;
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const first = a.runExclusive('retention', () => {
        started();
        return new Promise<number>((r) => (release = () => r(1)));
      });
      await running;
      expect(await b.runExclusive('retention', async () => 2)).toEqual({ ran: false });
      // The holder's node loses its connections (a crash, a network cut): the lock goes with its session.
      await db.terminateConnections();
      await vi.waitFor(async () => expect(await b.runExclusive('retention', async () => 3)).toEqual({ ran: true, value: 3 }), { timeout: 5000 });
      release();
      expect(await first).toEqual({ ran: true, value: 1 });
    });

    it('leases run on the database\'s clock', async () => {
      const s = await node();
      await s.ingest(newDelivery('l'));
      await s.completeDelivery((await s.claimDeliveries(1, 60_000))[0]!, { drafts: [draft()], journal, repo: 'o/r' });
      const [t] = await s.claimTasks(1, 90_000);
      const [{ now }] = (await db.query('SELECT now() AS now')) as [{ now: Date }];
      const leaseEnd = Date.parse(t!.item.nextAttemptAt!);
      expect(Math.abs(leaseEnd - 90_000 - now.getTime())).toBeLessThan(2000);
    });
  });

  describe('queries', () => {
    it('claims and "next due" read the due indexes in order and never sort the backlog', async () => {
      const s = await node();
      await Promise.all(Array.from({ length: 3000 }, (_, i) => s.ingest(newDelivery(`b${i}`))));
      await db.query('ANALYZE deliveries');
      const plan = async (sql: string) => ((await db.query(`EXPLAIN ${sql}`)) as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n');
      for (const [table, where, index] of [
        ['deliveries', "state = 'queued'", 'deliveries_next'],
        ['tasks', "status = 'queued' AND NOT blocked", 'tasks_next'],
        ['notifications', "status = 'pending'", 'notifications_next'],
      ] as const) {
        // Planners pick a sequential scan for a table this small unless told otherwise; the
        // point is that the index serves the query as written (its predicate and order).
        const due = await plan(`SELECT next_attempt_at FROM ${table} WHERE ${where} ORDER BY next_attempt_at LIMIT 1`);
        const claim = await plan(`SELECT ${table === 'deliveries' ? 'delivery_id' : 'id'} FROM ${table} WHERE ${where} AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 16 FOR UPDATE SKIP LOCKED`);
        for (const p of [due, claim]) {
          expect(p, table).toMatch(new RegExp(`Index (Only )?Scan using ${index}`));
          expect(p, table).not.toMatch(/Sort/);
        }
      }
      // The oldest task of each unfinished status, read at every scrape of /metrics: among
      // 6,000 tasks, most of them finished, as in a store that has run a while.
      await db.query(`INSERT INTO tasks (id, task_id, delivery_id, idempotency_key, task_type, priority, rule, payload, status, created_at, updated_at, entity, event_at)
        SELECT 'p' || g, 'm' || g, 'b0', 'k' || g, 'triage_issue', 'normal', 'r', '{}',
          CASE WHEN g % 10 < 6 THEN 'completed' WHEN g % 10 < 8 THEN 'queued' WHEN g % 10 = 8 THEN 'pending' ELSE 'running' END,
          now() - g * interval '1 second', now() - g * interval '1 second', 'e' || g, now()
        FROM generate_series(1, 6000) AS g`);
      await db.query('ANALYZE tasks');
      for (const [status, column, index] of [['queued', 'created_at', 'tasks_queued_created'], ['pending', 'updated_at', 'tasks_pending_updated'], ['running', 'updated_at', 'tasks_running_updated']] as const) {
        const p = await plan(`SELECT min(${column}) FROM tasks WHERE status = '${status}'`);
        expect(p, status).toMatch(new RegExp(`Index (Only )?Scan using ${index}`));
        expect(p, status).not.toMatch(/Sort|Seq Scan/);
      }
    });

    it('deliveries that arrive together commit together: one transaction (one multi-row INSERT) per batch', async () => {
      const batches: number[] = [];
      const s = await node(db.url, { onIngestCommit: (size) => batches.push(size) });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => s.ingest(newDelivery(`g${i}`))));
      expect(results.every((r) => r === 'stored')).toBe(true);
      expect(batches.reduce((a, b) => a + b, 0)).toBe(100);
      // Requests of one turn of the event loop share a transaction (at most two in flight).
      expect(batches.length).toBeLessThanOrEqual(2);
    });

    it('a schema change under its prepared statements (another node migrated): claims, submissions and callbacks go on', async () => {
      // One connection: every statement below is prepared on it before the change.
      const s = await node(db.url, { poolMax: 1 });
      const order = { entity: 'repo:1/pull/9', eventAt: '2026-01-01T00:00:00.000Z', event: 'pull_request.opened' };
      const drain = async (masTaskId: string) => {
        const [d] = await s.claimDeliveries(1, 60_000);
        await s.completeDelivery(d!, { drafts: [draft('review', false)], journal, repo: 'o/r', order });
        const [t] = await s.claimTasks(1, 60_000);
        await s.markTaskSubmitted(t!, masTaskId);
        expect((await s.applyCallback(masTaskId, 'running', {})).outcome).toBe('applied');
        return d!.item.deliveryId;
      };
      for (const id of ['p1', 'p2']) await s.ingest(newDelivery(id));
      expect(await drain('mas-1')).toBe('p1');
      // What a newer version's migration may do: the rows that claims and callbacks read (`*`) get a column.
      await db.query('ALTER TABLE deliveries ADD COLUMN extra_test text; ALTER TABLE tasks ADD COLUMN extra_test text');
      try {
        expect(await drain('mas-2')).toBe('p2');
        expect((await s.applyCallback('mas-1', 'completed', { result: { ok: true } })).outcome).toBe('applied');
      } finally {
        await db.query('ALTER TABLE deliveries DROP COLUMN extra_test; ALTER TABLE tasks DROP COLUMN extra_test');
      }
      expect((await s.applyCallback('mas-2', 'completed', {})).outcome).toBe('applied');
      expect((await s.listTasks()).map((t) => t.status).sort()).toEqual(['completed', 'completed']);
    });

    it('a batch with a row the database refuses fails only that row', async () => {
      const s = await node();
      // A time PostgreSQL cannot read (22007). (U+0000, which its text refuses, is written as U+FFFD instead.)
      const results = await Promise.allSettled([s.ingest(newDelivery('ok-1')), s.ingest({ ...newDelivery('bad-time'), receivedAt: 'not a time' }), s.ingest(newDelivery('ok-2'))]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(results[1]).toMatchObject({ reason: { code: 'GB_STORE_UNAVAILABLE' } });
      expect((await s.listDeliveries()).map((d) => d.deliveryId).sort()).toEqual(['ok-1', 'ok-2']);
    });
  });

  describe('outages', () => {
    it('connections ended under it (pg_terminate_backend): calls fail as GB_STORE_UNAVAILABLE or succeed, never crash, and the store goes on', async () => {
      const s = await node();
      s.onWake('deliveries', () => undefined);
      await s.ingest(newDelivery('before'));
      const results: string[] = [];
      const load = Promise.all(Array.from({ length: 200 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i));
        try {
          results[i] = await s.ingest(newDelivery(`under-${i}`));
        } catch (err) {
          results[i] = (err as { code: string }).code;
        }
      }));
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 40));
        await db.terminateConnections();
      }
      await load;
      expect(new Set(results)).toSatisfy((set: Set<string>) => [...set].every((x) => x === 'stored' || x === 'GB_STORE_UNAVAILABLE'));
      // A connection the last termination hit while idle in the pool may fail one call, as unavailable, before the
      // pool drops it: the store goes on. Whatever was answered "stored" is there.
      const afterwards = <T>(call: () => Promise<T>): Promise<T> => vi.waitFor(async () => {
        try {
          return await call();
        } catch (err) {
          expect(err).toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
          throw err;
        }
      }, { timeout: 5000, interval: 50 });
      for (const [i, r] of results.entries()) if (r === 'stored') expect(await afterwards(() => s.getDelivery(`under-${i}`))).toBeDefined();
      expect(await afterwards(() => s.ingest(newDelivery('after')))).toBe('stored');
      expect(await s.health()).toEqual({ writable: true });
    });

    it('a database that cannot be reached: not writable, ingest GB_STORE_UNAVAILABLE; back by itself when it answers again', async () => {
      const { proxy, s } = await nodeThroughProxy({ connectTimeoutMs: 1000 });
      try {
        s.onWake('deliveries', () => undefined);
        await s.ingest(newDelivery('first'));
        await proxy.cut();
        expect(await s.health()).toMatchObject({ writable: false, reason: expect.any(String) });
        await expect(s.ingest(newDelivery('during'))).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        await expect(s.listDeliveries()).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        await expect(s.claimTasks(1, 1000)).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        await proxy.restore();
        expect(await s.health()).toEqual({ writable: true });
        expect(await s.ingest(newDelivery('after'))).toBe('stored');
        expect((await s.listDeliveries()).map((d) => d.deliveryId).sort()).toEqual(['after', 'first']);
      } finally {
        await proxy.close();
      }
    });

    it('a database that goes silent (packets dropped, no reset): every operation fails as unavailable after the answer timeout instead of hanging; back by itself when it answers again', async () => {
      // TCP alone would wait for minutes: only the answer timeout ends these operations.
      const { proxy, s } = await nodeThroughProxy({ connectTimeoutMs: 500, answerTimeoutMs: 400 });
      try {
        s.onWake('deliveries', () => undefined);
        expect(await s.ingest(newDelivery('before-silence'))).toBe('stored');
        // Connections open and idle in both pools: the silence reaches them mid-conversation, not at connect.
        await Promise.all([s.getDelivery('before-silence'), s.listDeliveries(), s.claimDeliveries(0, 1000)]);
        proxy.freeze();
        await expect(s.ingest(newDelivery('during-silence'))).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        await expect(s.getDelivery('before-silence')).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        await expect(s.claimDeliveries(1, 1000)).rejects.toMatchObject({ code: 'GB_STORE_UNAVAILABLE' });
        expect(await s.health()).toMatchObject({ writable: false });
        proxy.thaw();
        await vi.waitFor(async () => expect(await s.health()).toEqual({ writable: true }), { timeout: 10_000, interval: 100 });
        expect(await s.ingest(newDelivery('after-silence'))).toBe('stored');
        expect(await s.getDelivery('before-silence')).toBeDefined();
      } finally {
        await proxy.close();
      }
    });

    it('closes while the database is silent (a partition at shutdown) instead of waiting for its wake-up connection forever', async () => {
      const { proxy, s } = await nodeThroughProxy({ connectTimeoutMs: 500, answerTimeoutMs: 400 });
      try {
        // A subscriber: the store holds its LISTEN connection, which a wake-up proves is up.
        let woken = 0;
        s.onWake('deliveries', () => woken++);
        await vi.waitFor(async () => {
          await s.ingest(newDelivery(`before-${randomUUID()}`));
          expect(woken).toBeGreaterThan(0);
        }, { timeout: 10_000, interval: 200 });
        proxy.freeze();
        expect(await settledWithin(s.close(), 10_000), 'closed within 10 s').toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it('a read-only session (the CLI\'s read commands) refuses writes with a code and is not writable', async () => {
      const reader = await node(db.url, { access: 'read' });
      expect(await reader.health()).toEqual({ writable: false, reason: 'read-only' });
      await expect(reader.requeueDelivery('x')).rejects.toMatchObject({ code: expect.stringMatching(/^GB_STORE_/) });
    });
  });
});
