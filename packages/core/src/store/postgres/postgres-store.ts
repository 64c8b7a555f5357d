import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { GuardedClient, destroySocket, type GuardedClientConfig } from './guarded-client.js';
import type { CustomTypesConfig, PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { GitBridgeError, errorCodeOf, isGitBridgeError } from '../../errors/errors.js';
import { redactUrl, settledWithin } from '../../util.js';
import {
  STATUS_RANK,
  TASK_STATUSES,
  isTerminal,
  type CallbackDetail,
  type CallbackOutcome,
  type Claim,
  type ClaimedDelivery,
  type Delivery,
  type DeliveryFilter,
  type DeliveryResult,
  type DeliveryState,
  type ExclusiveOutcome,
  type JournalFilter,
  type JournalRecord,
  type NewDelivery,
  type Notification,
  type NotificationStatus,
  type QueueName,
  type RecoveryGap,
  type RedeliveryIntent,
  type RedeliveryOutcome,
  type RedeliveryRequest,
  type RetryOutcome,
  type Store,
  type StoreAccess,
  type StoreCounts,
  type StoreHealth,
  type Task,
  type TaskFilter,
  type TaskStatus,
  type UnfinishedTaskStatus,
  type IsoTime,
  type TaskTransition,
  type TransitionSource,
} from '../contract.js';
import {
  FILTER_COLUMNS,
  HISTORY_COLUMNS,
  JOURNAL_COLUMNS,
  NOTIFICATION_COLUMNS,
  errorText,
  filterTerms,
  toDelivery,
  toJournalRecord,
  toRedelivery,
  toNotification,
  toTask,
  toTransition,
  type DeliveryRow,
  type FilterTerm,
  type HistoryRow,
  type JournalRow,
  type NotificationRow,
  type RedeliveryRow,
  type TaskRow,
  taskColumnsWithoutPayload,
  toTaskWithoutPayload,
} from '../rows.js';
import { WakeSignals, claimLost, storeClosed, orderOf, retryKey, zeroCounts } from '../common.js';
import { checkSchema, newestVersion, refuseNewerSchema } from '../schema.js';
import type { CopyTarget } from '../copy.js';
import { isConnectionError, isStalePlan } from './connection-errors.js';
import { createCopyTarget } from './copy-target.js';
import { IngestBatcher } from './group-commit.js';
import { MIGRATIONS } from './migrations.js';

/** The schema version this code reads and writes: the newest PostgreSQL migration. */
export const PG_SCHEMA_VERSION = newestVersion(MIGRATIONS);

/**
 * Advisory lock classes (the first key of `pg_advisory_lock(int, int)`; the
 * second is a hash of the name). The two-key space never meets the one-key
 * space other applications on the database may use.
 */
const LOCK_MIGRATIONS = 0x6762_0001;
const LOCK_JOB = 0x6762_0002;
const LOCK_ENTITY = 0x6762_0003;

/** The NOTIFY channel of wake-ups; the payload is `<queue>:<node id>`. */
const WAKE_CHANNEL = 'gitbridge_wake';

const QUEUES: readonly QueueName[] = ['deliveries', 'tasks', 'notifications'];

/**
 * The three leased queues: table, key column, what an item is called in an
 * error, the condition of an item in the queue, and of one its claims and
 * `msUntilDue` look at (the predicate of its partial due index).
 */
const QUEUE_TABLES: Readonly<Record<QueueName, { table: string; key: string; item: string; inQueue: string; due: string }>> = {
  deliveries: { table: 'deliveries', key: 'delivery_id', item: 'delivery', inQueue: `state = 'queued'`, due: `state = 'queued'` },
  tasks: { table: 'tasks', key: 'id', item: 'task', inQueue: `status = 'queued'`, due: `status = 'queued' AND NOT blocked` },
  notifications: { table: 'notifications', key: 'id', item: 'notification', inQueue: `status = 'pending'`, due: `status = 'pending'` },
};

/** A pool's options with the {@link GuardedClient}'s own. */
type GuardedPoolConfig = PoolConfig & Pick<GuardedClientConfig, 'answerTimeoutMs'>;

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** Default `owner`: migrate at open. `write`/`read` (the CLI): the schema must be current; `read` sessions are read-only. */
  readonly access?: StoreAccess;
  /** Connections in the pool (default 10), besides one for wake-ups and one per running singleton job. */
  readonly poolMax?: number;
  /** Longest statement, ms (default 5000): a statement stuck on a lock or a slow disk fails (503) well within GitHub's 10 s instead of holding the answer. */
  readonly statementTimeoutMs?: number;
  /** Longest wait for a connection, ms (default 5000; ingest's own connections: at most 3000). */
  readonly connectTimeoutMs?: number;
  /**
   * Longest wait for any answer of the server, ms (default the statement
   * timeout + 2000; ingest's own connections: at most 4000): past it, the
   * connection is given up (a silent partition, a frozen host) and the query
   * fails as unavailable. 0: no limit.
   */
  readonly answerTimeoutMs?: number;
  /** `application_name` of the sessions (default `gitbridged`). */
  readonly applicationName?: string;
  /** Observes each group commit of deliveries: batch size, duration in ms. */
  readonly onIngestCommit?: (batchSize: number, durationMs: number) => void;
  /** Called with each connection-level error the store recovers from by itself (to log it). */
  readonly onConnectionError?: (err: { message: string; code?: string }) => void;
}

// Times come back as the contract's ISO strings, 64-bit integers (counts,
// ids, GitHub's repository ids) as numbers: they stay far below 2^53.
const toIsoTime = (parse: (v: string) => unknown) => (v: string) => (parse(v) as Date).toISOString();
const TYPE_OVERRIDES: Readonly<Record<number, (v: string) => unknown>> = {
  [pg.types.builtins.TIMESTAMPTZ]: toIsoTime(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)),
  [pg.types.builtins.INT8]: Number,
  [pg.types.builtins.NUMERIC]: Number,
};
const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    TYPE_OVERRIDES[oid] ?? (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** How long closing the store waits for the wake-up (LISTEN) connection to end politely, ms. */
const LISTENER_END_MS = 1000;
/** How long closing the store waits for the pools' connections to come back before it lets them go, ms. */
const POOL_END_MS = 1000;

/**
 * Ends `client`; when the server has not answered within `ms` (a database
 * that went silent: a partition, a frozen host), destroys its socket instead.
 * `end()` alone waits for a socket close that then never comes: a daemon's
 * shutdown would hang on it. Never rejects.
 */
async function endWithin(client: pg.Client, ms: number): Promise<void> {
  if (!(await settledWithin(client.end(), ms))) destroySocket(client);
}

/** `$1 * 1 ms` as an interval, for leases and retry delays on the database's clock. */
const ms = (param: string) => `(${param}::double precision * interval '1 millisecond')`;

/** The WHERE clause of a list query with `$n` placeholders, and its parameters (the limit last). */
function whereOf(filter: { terms: FilterTerm[]; limit: number }): { where: string; limitParam: string; args: unknown[] } {
  const where = filter.terms.length > 0 ? `WHERE ${filter.terms.map((t, i) => `${t.column} ${t.op} $${i + 1}`).join(' AND ')}` : '';
  return { where, limitParam: `$${filter.terms.length + 1}`, args: [...filter.terms.map((t) => t.value), filter.limit] };
}

/** A task row with its stale flag, as the task queries select it. */
type StaleTaskRow = TaskRow & { stale: boolean };

/** `SELECT` of tasks with their stale flag; `t` is the tasks table (or a CTE of task rows). */
const TASKS_WITH_STALE = (from: string) =>
  `SELECT t.*, COALESCE(e.last_event_at > t.event_at, false) AS stale FROM ${from} t LEFT JOIN entities e ON e.entity = t.entity`;

/**
 * The statement that takes the transaction-scoped advisory locks of
 * `entities`' task order, in sorted order (two transactions locking the same
 * entities cannot deadlock). Every decision about an entity's order (a task
 * held behind an earlier one, the next task let go) is taken under it.
 * The entities are quoted literals (pg's `escapeLiteral`), so that the lock
 * can travel in the same simple query as BEGIN; the key is
 * `(LOCK_ENTITY, hashtext(entity))`, the same on every node and version.
 */
export function entityLockSql(entities: readonly string[]): string {
  const sorted = [...new Set(entities)].sort();
  if (sorted.length === 1) return `SELECT pg_advisory_xact_lock(${LOCK_ENTITY}, hashtext(${pg.escapeLiteral(sorted[0]!)}))`;
  return `SELECT pg_advisory_xact_lock(${LOCK_ENTITY}, hashtext(e)) FROM unnest(ARRAY[${sorted.map((e) => pg.escapeLiteral(e)).join(', ')}]::text[])
    WITH ORDINALITY AS u (e, n) ORDER BY n`;
}

/**
 * CTEs that settle a delivery under its claim (`settled`, one row when the
 * claim held) and journal it. Parameters $1-$11: delivery id, claim token,
 * state, outcome, ignored reason, then the journal's type, action, repo,
 * number, timestamp and replay_of.
 */
const SETTLE_CTES = `settled AS (
    UPDATE deliveries SET state = $3, outcome = $4, ignored_reason = $5, lease_until = NULL, claim_token = NULL, last_error = NULL, processed_at = now()
    WHERE delivery_id = $1 AND claim_token = $2 AND state = 'queued'
    RETURNING delivery_id
  ), journaled AS (
    INSERT INTO journal (delivery_id, type, action, repo, number, timestamp, recorded_at, replay_of)
    SELECT delivery_id, $6::text, $7::text, $8::text, $9::bigint, $10::text, now(), $11::text FROM settled
    ON CONFLICT (delivery_id) DO NOTHING
  )`;

/**
 * CTEs that insert one task (`inserted`: its id, none when its idempotency
 * key exists), its first transition and its notification (when a channel is
 * given). Fifteen parameters from `$<from>`: id, delivery id, idempotency
 * key, task type, priority, rule, repo, payload, entity, event, event time,
 * on_stale, notification channel, text and url. With `after`, only when that
 * CTE has a row.
 *
 * The task is held (`blocked`) behind any queued task of its entity, and
 * created at the time it is inserted (clock_timestamp(), under the entity's
 * lock, not when the transaction began): the creation times of an entity's
 * tasks follow their order in its queue.
 */
function taskInsertCtes(from: number, after: string | null): string {
  const p = (i: number) => `$${from + i - 1}`;
  return `inserted AS (
    INSERT INTO tasks (id, delivery_id, idempotency_key, task_type, priority, rule, repo, payload, status,
      next_attempt_at, created_at, updated_at, entity, event, event_at, blocked, on_stale)
    SELECT ${p(1)}::text, ${p(2)}::text, ${p(3)}::text, ${p(4)}::text, ${p(5)}::text, ${p(6)}::text, ${p(7)}::text, ${p(8)}::text, 'queued',
      now(), clock_timestamp(), clock_timestamp(), ${p(9)}::text, ${p(10)}::text, ${p(11)}::timestamptz,
      EXISTS (SELECT 1 FROM tasks WHERE entity = ${p(9)}::text AND status = 'queued'), ${p(12)}::text
    ${after ? `WHERE EXISTS (SELECT 1 FROM ${after})` : ''}
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
  ), recorded AS (
    INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail)
    SELECT id, NULL, 'queued', now(), 'gitbridge', 'rule ' || ${p(6)}::text FROM inserted
  ), notified AS (
    INSERT INTO notifications (delivery_id, task_ref, channel, text, url, status, next_attempt_at, created_at, updated_at)
    SELECT ${p(2)}::text, id, ${p(13)}::text, ${p(14)}::text, ${p(15)}::text, 'pending', now(), now(), now() FROM inserted WHERE ${p(13)}::text IS NOT NULL
  )`;
}

/** Connections of ingest's own pool, and group commits in flight at once (each holds one). */
export const INGEST_CONNECTIONS = 4;

/**
 * ms ingest's connections wait for a connection and for an answer at most:
 * a delivery whose commit cannot finish gets its 503 within about 7 s, in
 * time for GitHub's 10-s timeout, even when the database went silent.
 */
const INGEST_CONNECT_TIMEOUT_MS = 3000;
const INGEST_ANSWER_TIMEOUT_MS = 4000;

/** A statement the server parses and plans once per connection, then reuses. */
interface Prepared {
  readonly name: string;
  readonly text: string;
}

const preparedByText = new Map<string, Prepared>();

/**
 * `text` as a named prepared statement (node-postgres prepares it on each
 * pooled connection at first use). For the statements of the queue's hot
 * paths: planning them anew at every call cost the server about a third of
 * its statement time in the drain bench. The name is a digest of the text,
 * so one name never stands for two texts.
 */
function prepared(text: string): Prepared {
  let p = preparedByText.get(text);
  if (!p) {
    p = { name: `gb_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text };
    preparedByText.set(text, p);
  }
  return p;
}

/** The columns of a delivery insert, in the order of {@link deliveryColumns}. */
const DELIVERY_INSERT = `INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id, received_at, content_type,
    headers, size, signature_slot, source_ip, state, outcome, next_attempt_at, processed_at, replay_of, notify)
  SELECT d.delivery_id, d.event, d.action, d.hook_id, d.repo, d.repo_id, d.installation_id, d.received_at, d.content_type,
    d.headers, d.size, d.signature_slot, d.source_ip, d.state, d.outcome, now(), CASE WHEN d.state = 'processed' THEN now() END, d.replay_of, d.notify
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[],
    $10::text[], $11::integer[], $12::integer[], $13::text[], $14::text[], $15::text[], $16::text[], $17::boolean[])
    AS d (delivery_id, event, action, hook_id, repo, repo_id, installation_id, received_at, content_type,
    headers, size, signature_slot, source_ip, state, outcome, replay_of, notify)
  ON CONFLICT (delivery_id) DO NOTHING
  RETURNING delivery_id`;

/** The parameters of {@link DELIVERY_INSERT}: one array per column. */
function deliveryColumns(rows: readonly NewDelivery[]): unknown[][] {
  return [
    rows.map((d) => d.deliveryId),
    rows.map((d) => d.event),
    rows.map((d) => d.action),
    rows.map((d) => d.hookId),
    rows.map((d) => d.repo),
    rows.map((d) => d.repoId),
    rows.map((d) => d.installationId),
    rows.map((d) => d.receivedAt),
    rows.map((d) => d.contentType),
    rows.map((d) => JSON.stringify(d.headers)),
    rows.map((d) => d.body.byteLength),
    rows.map((d) => d.signatureSlot),
    rows.map((d) => d.sourceIp),
    rows.map((d) => d.state),
    rows.map((d) => d.outcome),
    rows.map((d) => d.replayOf ?? null),
    rows.map((d) => d.notify !== false),
  ];
}

/** A LIKE pattern matching what starts with `prefix` (its own `%`, `_` and `\\` taken literally). */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * The PostgreSQL engine of the store contract (DESIGN §10): several daemons
 * on one database. Ingest is group-committed per turn of the event loop;
 * claims take `FOR UPDATE SKIP LOCKED` rows with leases on the database's
 * clock; decisions about an entity's task order are serialized per entity
 * with transaction-scoped advisory locks; wake-ups cross nodes with
 * LISTEN/NOTIFY sent after the commit; singleton jobs hold a session
 * advisory lock, which the database releases if the node dies.
 */
export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  readonly location: string;
  readonly #pool: pg.Pool;
  /**
   * Ingest's own connections (as many as group commits in flight): a 202
   * never waits behind the workers, which may hold every connection of the
   * main pool while they wait on an entity's lock.
   */
  readonly #ingestPool: pg.Pool;
  readonly #config: GuardedPoolConfig;
  readonly #ingest: IngestBatcher;
  readonly #onConnectionError: PostgresStoreOptions['onConnectionError'];
  /** Tells this node's wake-ups from the others' (it hears its own NOTIFY too). */
  readonly #nodeId = randomUUID();
  readonly #wake = new WakeSignals();
  readonly #toNotify = new Set<QueueName>();
  #notifyScheduled = false;
  #listener: pg.Client | undefined;
  #listenerTimer: NodeJS.Timeout | undefined;
  #listenerBackoffMs = 0;
  #closed = false;
  /** Every open pooled connection, so that close() can let go of those a silent server holds. */
  readonly #connections = new Set<pg.ClientBase>();

  private constructor(url: string, config: GuardedPoolConfig, options: PostgresStoreOptions) {
    this.location = redactUrl(url);
    this.#config = config;
    this.#onConnectionError = options.onConnectionError;
    this.#pool = new pg.Pool(config);
    // Connections are opened at first use: a CLI command, which never ingests, opens none here.
    this.#ingestPool = new pg.Pool({
      ...config,
      max: INGEST_CONNECTIONS,
      connectionTimeoutMillis: Math.min(config.connectionTimeoutMillis ?? INGEST_CONNECT_TIMEOUT_MS, INGEST_CONNECT_TIMEOUT_MS),
      answerTimeoutMs: config.answerTimeoutMs === 0 ? INGEST_ANSWER_TIMEOUT_MS : Math.min(config.answerTimeoutMs ?? INGEST_ANSWER_TIMEOUT_MS, INGEST_ANSWER_TIMEOUT_MS),
    } as GuardedPoolConfig);
    for (const pool of [this.#pool, this.#ingestPool]) {
      // An idle connection that breaks (a restart, pg_terminate_backend, a
      // failover) is dropped by the pool; the next query opens a new one.
      pool.on('error', (err) => this.#connectionTrouble(err));
      // A connection that breaks while checked out but between queries would
      // otherwise raise an unhandled 'error' and end the process.
      pool.on('connect', (client) => {
        client.on('error', (err) => this.#connectionTrouble(err));
        this.#connections.add(client);
        client.on('end', () => this.#connections.delete(client));
      });
    }
    this.#ingest = new IngestBatcher((batch) => this.#insertBatch(batch), {
      maxInflight: INGEST_CONNECTIONS,
      unavailable: (err) => isGitBridgeError(err, 'GB_STORE_UNAVAILABLE') || isConnectionError(err),
      ...(options.onIngestCommit ? { onCommit: options.onIngestCommit } : {}),
    });
  }

  /**
   * Opens the store at `url` (`postgres://user:password@host:5432/db`); with
   * `owner` access, applies pending migrations under an advisory lock.
   *
   * @throws GitBridgeError `GB_STORE_UNAVAILABLE` (the database cannot be reached), `GB_STORE_NOT_FOUND`
   *   (no database, or tools and no GitBridge schema), `GB_STORE_SCHEMA_MISMATCH`, `GB_STORE_ERROR`
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const access = options.access ?? 'owner';
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    const config: GuardedPoolConfig = {
      connectionString: url,
      max: options.poolMax ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: statementTimeoutMs,
      // Every pooled connection cleans U+0000 out of parameters and gives up on a silent server.
      Client: GuardedClient,
      answerTimeoutMs: options.answerTimeoutMs ?? (statementTimeoutMs > 0 ? statementTimeoutMs + 2000 : 0),
      // A node frozen inside a transaction must not hold row and entity locks for long.
      idle_in_transaction_session_timeout: 60_000,
      keepAlive: true,
      application_name: options.applicationName ?? 'gitbridged',
      types: TYPES,
      ...(access === 'read' ? { options: '-c default_transaction_read_only=on' } : {}),
    };
    const store = new PostgresStore(url, config, options);
    try {
      await store.#prepareSchema(access);
    } catch (err) {
      await store.#pool.end().catch(() => undefined);
      store.#closed = true;
      throw store.#wrap(err, 'open');
    }
    return store;
  }

  /** Migrates (owner) or checks (tools) the schema, on a session of its own without a statement timeout. */
  async #prepareSchema(access: StoreAccess): Promise<void> {
    const client = new pg.Client({ ...this.#config, statement_timeout: 0 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      if (access !== 'owner') {
        checkSchema(this.location, await this.#appliedVersions(client), MIGRATIONS, 'point GITBRIDGE_DATABASE_URL (--database-url) at the database gitbridged uses');
        return;
      }
      // Several daemons starting together: one migrates, the others wait and find it done.
      await client.query('SELECT pg_advisory_lock($1, 0)', [LOCK_MIGRATIONS]);
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const applied = await this.#appliedVersions(client);
        refuseNewerSchema(this.location, applied, MIGRATIONS);
        for (const m of MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, 0)', [LOCK_MIGRATIONS]).catch(() => undefined);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async #appliedVersions(client: pg.ClientBase): Promise<Set<number>> {
    const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
    if (exists.rows[0]?.t == null) return new Set();
    return new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
  }

  #connectionTrouble(err: Error): void {
    // Once closing, connections end (or are let go) on purpose, and whoever listened (a daemon's log) may be gone.
    if (this.#closed) return;
    this.#onConnectionError?.({ message: err.message, ...(errorCodeOf(err) ? { code: errorCodeOf(err)! } : {}) });
  }

  /** The database's errors as GitBridgeErrors: `GB_STORE_UNAVAILABLE` for connection-level trouble, else `GB_STORE_ERROR`. */
  #wrap(err: unknown, when?: 'open'): unknown {
    if (isGitBridgeError(err)) return err;
    const code = errorCodeOf(err);
    const message = `${this.location}: ${(err as Error).message}${code ? ` (${code})` : ''}`;
    if (when === 'open' && code === '3D000') {
      return new GitBridgeError('GB_STORE_NOT_FOUND', { message, hint: 'create the database first (createdb, or CREATE DATABASE), owned by the user the database URL names', cause: err });
    }
    if (isConnectionError(err)) return new GitBridgeError('GB_STORE_UNAVAILABLE', { message, cause: err });
    return new GitBridgeError('GB_STORE_ERROR', { message, cause: err });
  }

  #assertOpen(): void {
    if (this.#closed) throw storeClosed();
  }

  /** One statement (its own transaction). */
  async #query<R extends QueryResultRow>(sql: string | Prepared, params: unknown[] = []): Promise<R[]> {
    return (await this.#statement<R>(sql, params)).rows;
  }

  /** One statement; how many rows it changed. */
  async #run(sql: string | Prepared, params: unknown[] = []): Promise<number> {
    return (await this.#statement(sql, params)).rowCount ?? 0;
  }

  /**
   * One statement on a pooled connection. A prepared statement refused as
   * stale (the schema changed under it, {@link isStalePlan}) is run once more:
   * the pool discards a connection whose statement failed, so the next one
   * prepares it afresh.
   */
  async #statement<R extends QueryResultRow>(sql: string | Prepared, params: unknown[]): Promise<pg.QueryResult<R>> {
    this.#assertOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#pool.query<R>(sql, params);
      } catch (err) {
        if (attempt === 1 && isStalePlan(err)) continue;
        throw this.#wrap(err);
      }
    }
  }

  /** A connection of the pool for a transaction or a session lock; the caller releases it. */
  async #connect(pool = this.#pool): Promise<PoolClient> {
    this.#assertOpen();
    try {
      return await pool.connect();
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection; COMMIT before the
   * promise resolves. A connection that broke is discarded, not reused.
   * With `lockEntities`, the transaction first serializes on those entities'
   * task order (see {@link entityLockSql}), in the same round trip as BEGIN.
   */
  async #tx<T>(fn: (c: PoolClient) => Promise<T>, lockEntities: readonly string[] = [], pool = this.#pool): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect(pool);
      let broken: Error | undefined;
      try {
        // BEGIN and the entity locks go in one round trip (a simple query of two statements).
        await client.query(lockEntities.length === 0 ? 'BEGIN' : `BEGIN; ${entityLockSql(lockEntities)}`);
        const value = await fn(client);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        // A stale prepared statement: the transaction is rolled back and run again on a connection that prepares afresh.
        const stale = isStalePlan(err);
        if (isConnectionError(err) || stale) broken = err as Error;
        if (!isConnectionError(err)) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        if (stale && attempt === 1) continue;
        throw this.#wrap(err);
      } finally {
        client.release(broken);
      }
    }
  }

  /** Serializes every decision about `entities`' task order until the transaction ends (see {@link entityLockSql}). */
  async #lockEntities(c: PoolClient, entities: readonly string[]): Promise<void> {
    if (entities.length > 0) await c.query(entityLockSql(entities));
  }

  // ---- wake-ups ---------------------------------------------------------

  /**
   * After a commit: wakes this node's workers now, and the other nodes'
   * through NOTIFY, sent once per turn of the event loop from outside the
   * transaction that made the work (DESIGN §10). A lost NOTIFY costs at most
   * a poll interval.
   */
  #committed(queue: QueueName): void {
    this.#wake.emit(queue);
    this.#toNotify.add(queue);
    if (this.#notifyScheduled) return;
    this.#notifyScheduled = true;
    setImmediate(() => {
      this.#notifyScheduled = false;
      const payloads = [...this.#toNotify].map((q) => `${q}:${this.#nodeId}`);
      this.#toNotify.clear();
      if (this.#closed || payloads.length === 0) return;
      this.#pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [WAKE_CHANNEL, payloads]).catch(() => undefined);
    });
  }

  /** The LISTEN session: one per store, started with the first subscriber, reconnected with backoff when it breaks. */
  #listen(): void {
    if (this.#listener || this.#listenerTimer || this.#closed) return;
    const client = new pg.Client({ ...this.#config, statement_timeout: 0 });
    this.#listener = client;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      if (this.#listener === client) this.#listener = undefined;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#connectionTrouble(err);
      this.#listenerBackoffMs = Math.min(30_000, Math.max(250, this.#listenerBackoffMs * 2));
      this.#listenerTimer = setTimeout(() => {
        this.#listenerTimer = undefined;
        this.#listen();
      }, this.#listenerBackoffMs);
      this.#listenerTimer.unref();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('LISTEN connection ended')));
    client.on('notification', (n) => {
      const [queue, node] = (n.payload ?? '').split(':');
      if (node !== this.#nodeId && QUEUES.includes(queue as QueueName)) this.#wake.emit(queue as QueueName);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${WAKE_CHANNEL}`))
      .then(() => {
        const reconnected = this.#listenerBackoffMs > 0;
        this.#listenerBackoffMs = 0;
        // Work may have been committed elsewhere while nobody listened.
        if (reconnected) for (const q of QUEUES) this.#wake.emit(q);
      })
      .catch((err: Error) => fail(err));
  }

  onWake(queue: QueueName, fn: () => void): () => void {
    const off = this.#wake.on(queue, fn);
    this.#listen();
    return off;
  }

  // ---- ingest -----------------------------------------------------------

  /**
   * Inserts deliveries and their bodies with ONE multi-row INSERT each;
   * returns the ids stored (the others were already there). Rows are
   * inserted in id order, so two nodes inserting overlapping batches wait on
   * each other instead of deadlocking.
   */
  async #insertRows(c: PoolClient, rows: readonly NewDelivery[]): Promise<Set<string>> {
    const sorted = [...rows].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0));
    const stored = new Set((await c.query<{ delivery_id: string }>(prepared(DELIVERY_INSERT), deliveryColumns(sorted))).rows.map((r) => r.delivery_id));
    const bodies = sorted.filter((d) => stored.has(d.deliveryId));
    if (bodies.length > 0) {
      // Bodies as binary parameters: byte for byte what GitHub sent, never re-encoded.
      const values = bodies.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
      await c.query(`INSERT INTO delivery_bodies (delivery_id, body) VALUES ${values}`, bodies.flatMap((d) => [d.deliveryId, asBuffer(d.body)]));
    }
    return stored;
  }

  /** One group commit: the first of several requests with one id goes to the database, the others are duplicates. */
  async #insertBatch(batch: readonly NewDelivery[]): Promise<('stored' | 'duplicate')[]> {
    const first = new Map<string, number>();
    batch.forEach((d, i) => {
      if (!first.has(d.deliveryId)) first.set(d.deliveryId, i);
    });
    const rows = [...first.values()].map((i) => batch[i]!);
    const stored = await this.#tx((c) => this.#insertRows(c, rows), [], this.#ingestPool);
    return batch.map((d, i) => (first.get(d.deliveryId) === i && stored.has(d.deliveryId) ? 'stored' : 'duplicate'));
  }

  async ingest(delivery: NewDelivery): Promise<'stored' | 'duplicate'> {
    this.#assertOpen();
    let outcome: 'stored' | 'duplicate';
    try {
      outcome = await this.#ingest.submit(delivery);
    } catch (err) {
      const e = this.#wrap(err) as GitBridgeError;
      throw e.code === 'GB_STORE_UNAVAILABLE' ? e : new GitBridgeError('GB_STORE_UNAVAILABLE', { message: e.message, cause: err });
    }
    if (outcome === 'stored' && delivery.state === 'queued') this.#committed('deliveries');
    return outcome;
  }

  async insertReplay(originalId: string, build: (original: ClaimedDelivery, replayId: string) => NewDelivery): Promise<string | null> {
    const replayId = await this.#tx(async (c) => {
      // Locked: two nodes replaying one delivery at once get different numbers.
      const row = (await c.query<DeliveryRow>('SELECT * FROM deliveries WHERE delivery_id = $1 FOR UPDATE', [originalId])).rows[0];
      if (!row) return null;
      const body = (await c.query<{ body: Buffer }>('SELECT body FROM delivery_bodies WHERE delivery_id = $1', [originalId])).rows[0]?.body ?? Buffer.alloc(0);
      // The first unused number: counting alone could collide with a replay
      // that retention left behind, or with a delivery id that looks like one.
      let n = (await c.query<{ n: number }>('SELECT count(*) AS n FROM deliveries WHERE replay_of = $1', [originalId])).rows[0]!.n + 1;
      while ((await c.query('SELECT 1 FROM deliveries WHERE delivery_id = $1', [`${originalId}:replay:${n}`])).rowCount) n++;
      const id = `${originalId}:replay:${n}`;
      const d = build({ ...toDelivery(row), body }, id);
      const stored = await this.#insertRows(c, [{ ...d, deliveryId: id, replayOf: originalId }]);
      if (!stored.has(id)) throw new GitBridgeError('GB_STORE_ERROR', { message: `Replay id ${id} could not be stored` });
      return id;
    });
    if (replayId !== null) this.#committed('deliveries');
    return replayId;
  }

  // ---- the delivery queue -----------------------------------------------

  /**
   * The claim of up to `limit` due items of a queue, leased for `leaseMs` on
   * the database's clock: `FOR UPDATE SKIP LOCKED`, so that claimers on
   * several nodes never wait on nor take each other's items. `returning`
   * selects from the claimed rows (`claimed`).
   */
  #claimSql(queue: QueueName, returning: string): string {
    const q = QUEUE_TABLES[queue];
    return `WITH due AS (
        SELECT ${q.key} FROM ${q.table} WHERE ${q.due} AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE ${q.table} x SET lease_until = now() + ${ms('$2')}, next_attempt_at = now() + ${ms('$2')}, attempts = x.attempts + 1, claim_token = $3
        FROM due WHERE x.${q.key} = due.${q.key}
        RETURNING x.*
      )
      ${returning}`;
  }

  /**
   * Changes an item still held under this claim's token (`set` uses `$3`
   * onwards for `params`).
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST` when the claim is stale
   */
  async #updateClaimed(queue: QueueName, claim: Claim<{ readonly id?: string | number; readonly deliveryId?: string }>, set: string, params: unknown[]): Promise<void> {
    const q = QUEUE_TABLES[queue];
    const id = queue === 'deliveries' ? claim.item.deliveryId : claim.item.id;
    const n = await this.#run(prepared(`UPDATE ${q.table} SET ${set} WHERE ${q.key} = $1 AND claim_token = $2 AND ${q.inQueue}`), [id, claim.token, ...params]);
    if (n !== 1) throw claimLost(`${q.item} ${String(id)}`);
  }

  /** Extends a claim's lease to `leaseMs` from now (the item is due again when it ends). */
  #renew(queue: QueueName, claim: Claim<{ readonly id?: string | number; readonly deliveryId?: string }>, leaseMs: number): Promise<void> {
    return this.#updateClaimed(queue, claim, `lease_until = now() + ${ms('$3')}, next_attempt_at = now() + ${ms('$3')}`, [leaseMs]);
  }

  async claimDeliveries(limit: number, leaseMs: number): Promise<Claim<ClaimedDelivery>[]> {
    const token = randomUUID();
    const rows = await this.#query<DeliveryRow & { body: Buffer | null }>(
      prepared(this.#claimSql('deliveries', 'SELECT claimed.*, (SELECT b.body FROM delivery_bodies b WHERE b.delivery_id = claimed.delivery_id) AS body FROM claimed')),
      [limit, leaseMs, token]);
    return rows.map((r) => ({ item: { ...toDelivery(r), body: r.body ?? Buffer.alloc(0) }, token }));
  }

  async #history(c: PoolClient, taskRef: string, from: TaskStatus | null, to: TaskStatus, source: TransitionSource, detail: string | null): Promise<void> {
    await c.query('INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail) VALUES ($1, $2, $3, now(), $4, $5)', [taskRef, from, to, source, detail]);
  }

  /**
   * Under the entity's lock (taken with BEGIN): one statement settles the
   * delivery under its claim, journals it and inserts its first task with
   * that task's first transition and notification; one more statement per
   * further task. BEGIN, one statement and COMMIT for the usual delivery.
   */
  async completeDelivery(claim: Claim<ClaimedDelivery>, result: DeliveryResult): Promise<string[]> {
    const deliveryId = claim.item.deliveryId;
    const order = orderOf(claim, result);
    const tasks = result.drafts.length > 0;
    const j = result.journal;
    const settle = [deliveryId, claim.token, tasks ? 'processed' : 'ignored', tasks ? 'tasks' : 'ignored', tasks ? null : (result.ignoredReason ?? null),
      j.type, j.action, j.repo, j.number, j.timestamp, claim.item.replayOf];
    const taskParams = (draft: DeliveryResult['drafts'][number], id: string) => {
      const notification = draft.notify && claim.item.notify ? draft.notify : null;
      return [id, deliveryId, `${deliveryId}:${draft.taskType}`, draft.taskType, draft.priority, draft.rule, result.repo, JSON.stringify(draft.payload),
        order.entity, order.event, order.eventAt, draft.onStale ?? 'submit', notification?.channel ?? null, notification?.text ?? null, notification?.url ?? null];
    };
    const created = await this.#tx(async (c) => {
      // The entity first (with BEGIN), then rows: every transaction takes its locks in that order.
      const ids: string[] = [];
      let notify = false;
      const inserted = (draft: DeliveryResult['drafts'][number], id: string | null) => {
        if (id === null) return;
        ids.push(id);
        if (draft.notify && claim.item.notify) notify = true;
      };
      const [first, ...more] = result.drafts;
      const firstId = `gbt_${randomUUID()}`;
      const r = await c.query<{ settled: number; id: string | null }>(prepared(`WITH ${SETTLE_CTES}${first ? `, ${taskInsertCtes(12, 'settled')}` : ''}
        SELECT (SELECT count(*) FROM settled)::integer AS settled, ${first ? '(SELECT id FROM inserted)' : 'NULL::text'} AS id`),
      first ? [...settle, ...taskParams(first, firstId)] : settle);
      // Rolls the transaction back: nothing of a stale claim is kept.
      if (r.rows[0]!.settled !== 1) throw claimLost(`delivery ${deliveryId}`);
      if (first) inserted(first, r.rows[0]!.id);
      for (const draft of more) {
        // Each statement of the transaction sees the tasks inserted before it: this one is held behind them.
        const id = `gbt_${randomUUID()}`;
        const next = await c.query<{ id: string }>(prepared(`WITH ${taskInsertCtes(1, null)} SELECT id FROM inserted`), taskParams(draft, id));
        inserted(draft, next.rows[0]?.id ?? null);
      }
      return { ids, notify };
    }, tasks ? [order.entity] : []);
    if (created.ids.length > 0) this.#committed('tasks');
    if (created.notify) this.#committed('notifications');
    return created.ids;
  }

  failDelivery(claim: Claim<ClaimedDelivery>, error: string, retryInMs: number | null): Promise<void> {
    return retryInMs === null
      ? this.#updateClaimed('deliveries', claim, `state = 'dead', outcome = 'dead', lease_until = NULL, claim_token = NULL, last_error = $3`, [error])
      : this.#updateClaimed('deliveries', claim, `next_attempt_at = now() + ${ms('$4')}, lease_until = NULL, claim_token = NULL, last_error = $3`, [error, retryInMs]);
  }

  renewDelivery(claim: Claim<ClaimedDelivery>, leaseMs: number): Promise<void> {
    return this.#renew('deliveries', claim, leaseMs);
  }

  async requeueDelivery(deliveryId: string): Promise<boolean> {
    const done = (await this.#run(`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = now(), lease_until = NULL, claim_token = NULL
      WHERE delivery_id = $1 AND state = 'dead'`, [deliveryId])) === 1;
    if (done) this.#committed('deliveries');
    return done;
  }

  // ---- the task queue ---------------------------------------------------

  async claimTasks(limit: number, leaseMs: number): Promise<Claim<Task>[]> {
    const token = randomUUID();
    const rows = await this.#query<StaleTaskRow>(prepared(this.#claimSql('tasks', TASKS_WITH_STALE('claimed'))), [limit, leaseMs, token]);
    return rows.map((r) => ({ item: toTask(r, r.stale), token }));
  }

  /**
   * The first queued task (in creation order) of each of `entities` may go,
   * now that the one before it left the queue.
   */
  async #unblockNext(c: PoolClient, entities: readonly string[]): Promise<void> {
    if (entities.length === 0) return;
    await c.query(`UPDATE tasks t SET blocked = false, next_attempt_at = GREATEST(t.next_attempt_at, now())
      FROM (SELECT DISTINCT ON (entity) id FROM tasks WHERE entity = ANY($1::text[]) AND status = 'queued' ORDER BY entity, seq) head
      WHERE t.id = head.id AND t.blocked`, [[...new Set(entities)]]);
  }

  /**
   * Ends a claimed task's time in the queue (`pending`, `failed` or `dead`)
   * and lets its entity's next task go: under the entity's lock, one
   * statement changes the task, records the transition, runs `also` (more
   * CTEs over `left_queue`, the task's row) and unblocks the next queued task
   * of the entity. `set` uses `$3` onwards for `params`.
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST` when the claim is stale
   */
  async #leaveQueue(claim: Claim<Task>, set: string, params: unknown[], history: { to: TaskStatus; source: TransitionSource; detail: string | null }, also = ''): Promise<void> {
    const h = params.length + 3;
    const left = await this.#tx(async (c) => {
      const r = await c.query<{ n: number }>(prepared(`WITH left_queue AS (
          UPDATE tasks SET ${set}, lease_until = NULL, claim_token = NULL, updated_at = now()
          WHERE id = $1 AND claim_token = $2 AND status = 'queued'
          RETURNING id, entity, event_at
        ), recorded AS (
          INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail)
          SELECT id, 'queued', $${h}, now(), $${h + 1}, $${h + 2} FROM left_queue
        ), next_one AS (
          -- The statement's snapshot still shows the leaving task as queued: it is skipped.
          UPDATE tasks t SET blocked = false, next_attempt_at = GREATEST(t.next_attempt_at, now())
          FROM (SELECT DISTINCT ON (q.entity) q.id FROM tasks q JOIN left_queue l ON q.entity = l.entity AND q.id <> l.id
                WHERE q.status = 'queued' ORDER BY q.entity, q.seq) head
          WHERE t.id = head.id AND t.blocked
        )${also}
        SELECT count(*)::integer AS n FROM left_queue`), [claim.item.id, claim.token, ...params, history.to, history.source, history.detail]);
      return r.rows[0]!.n;
    }, [claim.item.entity]);
    if (left !== 1) throw claimLost(`task ${claim.item.id}`);
  }

  markTaskSubmitted(claim: Claim<Task>, masTaskId: string): Promise<void> {
    // The entity's last submitted event: a later task of an earlier event is stale (DESIGN §9).
    return this.#leaveQueue(claim, `status = 'pending', task_id = $3, last_error = NULL`, [masTaskId], { to: 'pending', source: 'mas', detail: `task_id ${masTaskId}` }, `,
        last_event AS (
          INSERT INTO entities (entity, last_event_at) SELECT entity, event_at FROM left_queue
          ON CONFLICT (entity) DO UPDATE SET last_event_at = GREATEST(entities.last_event_at, excluded.last_event_at)
        )`);
  }

  endTask(claim: Claim<Task>, status: 'failed' | 'dead', reason: string, source: TransitionSource): Promise<void> {
    return this.#leaveQueue(claim, 'status = $3, last_error = $4', [status, reason], { to: status, source, detail: reason });
  }

  retryTaskLater(claim: Claim<Task>, error: string, retryInMs: number, options: { readonly refundAttempt?: boolean } = {}): Promise<void> {
    return this.#updateClaimed('tasks', claim, `next_attempt_at = now() + ${ms('$3')}, lease_until = NULL, claim_token = NULL, last_error = $4, updated_at = now(),
      attempts = GREATEST(0, attempts - $5)`, [retryInMs, error, options.refundAttempt ? 1 : 0]);
  }

  renewTask(claim: Claim<Task>, leaseMs: number): Promise<void> {
    return this.#renew('tasks', claim, leaseMs);
  }

  async releaseTaskBackoff(): Promise<number> {
    // Not the tasks under a lease: their next_attempt_at is the lease's end.
    const n = await this.#run(`UPDATE tasks SET next_attempt_at = now()
      WHERE status = 'queued' AND NOT blocked AND next_attempt_at > now() AND (lease_until IS NULL OR lease_until <= now())`);
    if (n > 0) this.#committed('tasks');
    return n;
  }

  async expireTasks(createdBefore: string, reason: string, limit: number): Promise<Task[]> {
    const dead = await this.#tx(async (c) => {
      const candidates = (await c.query<{ id: string; entity: string }>(`SELECT id, entity FROM tasks WHERE status = 'queued' AND created_at < $1
        AND (lease_until IS NULL OR lease_until <= now()) ORDER BY created_at LIMIT $2`, [createdBefore, limit])).rows;
      if (candidates.length === 0) return [];
      await this.#lockEntities(c, candidates.map((r) => r.entity));
      // Under the entity locks, checked again: one may have been claimed or accepted meanwhile.
      const rows = (await c.query<TaskRow>(`UPDATE tasks SET status = 'dead', lease_until = NULL, claim_token = NULL, blocked = false, last_error = $2, updated_at = now()
        WHERE id = ANY($1::text[]) AND status = 'queued' AND (lease_until IS NULL OR lease_until <= now())
        RETURNING *`, [candidates.map((r) => r.id), reason])).rows;
      await c.query(`INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail)
        SELECT id, 'queued', 'dead', now(), 'gitbridge', $2 FROM unnest($1::text[]) AS id`, [rows.map((r) => r.id), reason]);
      await this.#unblockNext(c, rows.map((r) => r.entity));
      return (await c.query<StaleTaskRow>(`${TASKS_WITH_STALE('tasks')} WHERE t.id = ANY($1::text[]) ORDER BY t.created_at`, [rows.map((r) => r.id)])).rows;
    });
    return dead.map((r) => toTask(r, r.stale));
  }

  async retryTask(ref: string): Promise<RetryOutcome> {
    const found = (await this.#query<{ entity: string }>('SELECT entity FROM tasks WHERE id = $1 OR task_id = $1', [ref]))[0];
    if (!found) return { outcome: 'unknown' };
    const out = await this.#tx(async (c): Promise<RetryOutcome> => {
      await this.#lockEntities(c, [found.entity]);
      // The delivery before the task, as retention takes them: retention cannot delete a task being retried.
      const locked = (await c.query<{ id: string }>(`SELECT t.id FROM tasks t JOIN deliveries d ON d.delivery_id = t.delivery_id
        WHERE t.id = $1 OR t.task_id = $1 FOR SHARE OF d`, [ref])).rows[0];
      if (!locked) return { outcome: 'unknown' };
      const row = (await c.query<StaleTaskRow>(`${TASKS_WITH_STALE('tasks')} WHERE t.id = $1 FOR UPDATE OF t`, [locked.id])).rows[0]!;
      if (row.status !== 'dead' && row.status !== 'failed') return { outcome: 'refused', task: toTask(row, row.stale) };
      let key = row.idempotency_key;
      if (row.task_id !== null) {
        const n = (await c.query<{ n: number }>(`SELECT count(*) AS n FROM task_history WHERE task_ref = $1 AND source = 'operator'`, [row.id])).rows[0]!.n + 1;
        key = retryKey(key, n);
      }
      await c.query(`UPDATE tasks SET status = 'queued', task_id = NULL, idempotency_key = $2, attempts = 0, next_attempt_at = now(), lease_until = NULL,
          claim_token = NULL, updated_at = now(), blocked = EXISTS (SELECT 1 FROM tasks q WHERE q.entity = $3 AND q.status = 'queued')
        WHERE id = $1`, [row.id, key, row.entity]);
      await this.#history(c, row.id, row.status, 'queued', 'operator', 'retry');
      const task = (await c.query<StaleTaskRow>(`${TASKS_WITH_STALE('tasks')} WHERE t.id = $1`, [row.id])).rows[0]!;
      return { outcome: 'retried', task: toTask(task, task.stale) };
    });
    if (out.outcome === 'retried') this.#committed('tasks');
    return out;
  }

  /**
   * One statement: the task is locked (two callbacks of one task on two nodes
   * apply one after the other, the second seeing the first's status), moved
   * forward only (STATUS_RANK), and the transition recorded.
   */
  async applyCallback(masTaskId: string, status: 'running' | 'completed' | 'failed', detail: CallbackDetail): Promise<CallbackOutcome> {
    const from = TASK_STATUSES.filter((s) => !isTerminal(s) && STATUS_RANK[s] < STATUS_RANK[status]);
    const result = detail.result === undefined ? null : JSON.stringify(detail.result);
    const error = detail.error === undefined ? null : errorText(detail.error);
    // Without the payload: a callback never needs it, and it is often tens of KB.
    const row = (await this.#query<Omit<TaskRow, 'payload'> & { stale: boolean; applied_at: string | null }>(prepared(`WITH found AS (
        SELECT ${taskColumnsWithoutPayload('t')}, COALESCE(e.last_event_at > t.event_at, false) AS stale
        FROM tasks t LEFT JOIN entities e ON e.entity = t.entity WHERE t.task_id = $1 FOR UPDATE OF t
      ), applied AS (
        UPDATE tasks SET status = $2, result = CASE WHEN $4::boolean THEN $3::text ELSE tasks.result END,
          last_error = CASE WHEN $6::boolean THEN $5::text ELSE tasks.last_error END, updated_at = now()
        FROM found WHERE tasks.id = found.id AND found.status = ANY($7::text[])
        RETURNING tasks.id, tasks.result, tasks.last_error, tasks.updated_at
      ), recorded AS (
        INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail)
        SELECT applied.id, found.status, $2::text, now(), $8::text, CASE WHEN $2 = 'failed' THEN applied.last_error END FROM applied, found
      )
      SELECT found.*, applied.updated_at AS applied_at, COALESCE(applied.result, found.result) AS result,
        COALESCE(applied.last_error, found.last_error) AS last_error
      FROM found LEFT JOIN applied ON true`),
    [masTaskId, status, result, detail.result !== undefined, error, detail.error !== undefined, from, detail.source ?? 'mas-callback']))[0];
    if (!row) return { outcome: 'unknown' };
    if (row.applied_at === null) return { outcome: 'ignored', task: toTaskWithoutPayload(row, row.stale) };
    return { outcome: 'applied', task: toTaskWithoutPayload({ ...row, status, updated_at: row.applied_at }, row.stale) };
  }

  // ---- the notification outbox ------------------------------------------

  async claimNotifications(limit: number, leaseMs: number): Promise<Claim<Notification>[]> {
    const token = randomUUID();
    const rows = await this.#query<NotificationRow>(prepared(this.#claimSql('notifications', `SELECT ${NOTIFICATION_COLUMNS} FROM claimed`)), [limit, leaseMs, token]);
    return rows.map((r) => ({ item: toNotification(r), token }));
  }

  settleNotification(claim: Claim<Notification>, status: NotificationStatus, error: string | null, retryInMs: number | null): Promise<void> {
    return this.#updateClaimed('notifications', claim, `status = $3, last_error = $4,
      next_attempt_at = CASE WHEN $5::double precision IS NULL THEN next_attempt_at ELSE now() + ${ms('$5')} END,
      lease_until = NULL, claim_token = NULL, updated_at = now()`, [status, error, retryInMs]);
  }

  // ---- scheduling -------------------------------------------------------

  async msUntilDue(queue: QueueName): Promise<number | null> {
    const q = QUEUE_TABLES[queue];
    // The first entry of the queue's due index: one index read, whatever the backlog.
    const rows = await this.#query<{ ms: number }>(prepared(`SELECT GREATEST(0, ceil(extract(epoch FROM next_attempt_at - now()) * 1000))::double precision AS ms
      FROM ${q.table} WHERE ${q.due} ORDER BY next_attempt_at LIMIT 1`));
    return rows[0]?.ms ?? null;
  }

  // ---- read model -------------------------------------------------------

  async getDelivery(deliveryId: string): Promise<Delivery | undefined> {
    const r = (await this.#query<DeliveryRow>('SELECT * FROM deliveries WHERE delivery_id = $1', [deliveryId]))[0];
    return r && toDelivery(r);
  }

  async getDeliveryBody(deliveryId: string): Promise<Buffer | undefined> {
    return (await this.#query<{ body: Buffer }>('SELECT body FROM delivery_bodies WHERE delivery_id = $1', [deliveryId]))[0]?.body;
  }

  async listDeliveries(filter: DeliveryFilter = {}): Promise<Delivery[]> {
    const { where, limitParam, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.deliveries));
    return (await this.#query<DeliveryRow>(`SELECT * FROM deliveries ${where} ORDER BY received_at DESC, seq DESC LIMIT ${limitParam}`, args)).map(toDelivery);
  }

  async listTasks(filter: TaskFilter = {}): Promise<Task[]> {
    const { where, limitParam, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.tasks));
    const rows = await this.#query<StaleTaskRow>(`${TASKS_WITH_STALE(`(SELECT * FROM tasks ${where} ORDER BY created_at DESC, seq DESC LIMIT ${limitParam})`)}
      ORDER BY t.created_at DESC, t.seq DESC`, args);
    return rows.map((r) => toTask(r, r.stale));
  }

  async getTask(ref: string): Promise<Task | undefined> {
    const r = (await this.#query<StaleTaskRow>(`${TASKS_WITH_STALE('tasks')} WHERE t.id = $1 OR t.task_id = $1`, [ref]))[0];
    return r && toTask(r, r.stale);
  }

  async taskHistory(id: string): Promise<TaskTransition[]> {
    return (await this.#query<HistoryRow>(`SELECT ${HISTORY_COLUMNS} FROM task_history WHERE task_ref = $1 ORDER BY id`, [id])).map(toTransition);
  }

  async tasksForDelivery(deliveryId: string): Promise<Task[]> {
    return (await this.#query<StaleTaskRow>(`${TASKS_WITH_STALE('tasks')} WHERE t.delivery_id = $1 ORDER BY t.created_at, t.seq`, [deliveryId])).map((r) => toTask(r, r.stale));
  }

  async notificationsForDelivery(deliveryId: string): Promise<Notification[]> {
    return (await this.#query<NotificationRow>(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE delivery_id = $1 ORDER BY id`, [deliveryId])).map(toNotification);
  }

  async listJournal(filter: JournalFilter = {}): Promise<JournalRecord[]> {
    const { where, limitParam, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.journal));
    return (await this.#query<JournalRow>(`SELECT ${JOURNAL_COLUMNS} FROM journal ${where} ORDER BY id DESC LIMIT ${limitParam}`, args)).map(toJournalRecord);
  }

  async counts(): Promise<StoreCounts> {
    // One round trip; each min() is one seek on a partial index (the planner turns it into an ordered LIMIT 1).
    const rows = await this.#query<{ k: 'd' | 't' | 'h' | 'o'; s: string; n: number; t: IsoTime | null }>(`
      SELECT 'd' AS k, state AS s, count(*) AS n, NULL::timestamptz AS t FROM deliveries GROUP BY state
      UNION ALL SELECT 't', status, count(*), NULL FROM tasks GROUP BY status
      UNION ALL SELECT 'h', 'held', count(*), NULL FROM tasks WHERE status = 'queued' AND blocked
      UNION ALL SELECT 'o', 'queued', 0, min(created_at) FROM tasks WHERE status = 'queued'
      UNION ALL SELECT 'o', 'pending', 0, min(updated_at) FROM tasks WHERE status = 'pending'
      UNION ALL SELECT 'o', 'running', 0, min(updated_at) FROM tasks WHERE status = 'running'`);
    const { deliveries, tasks } = zeroCounts();
    let tasksHeld = 0;
    const oldestTasks: Record<UnfinishedTaskStatus, IsoTime | null> = { queued: null, pending: null, running: null };
    for (const r of rows) {
      if (r.k === 'd' && r.s in deliveries) deliveries[r.s as DeliveryState] = r.n;
      else if (r.k === 't' && r.s in tasks) tasks[r.s as TaskStatus] = r.n;
      else if (r.k === 'h') tasksHeld = r.n;
      else if (r.k === 'o' && r.s in oldestTasks) oldestTasks[r.s as UnfinishedTaskStatus] = r.t;
    }
    return { deliveries, tasks, tasksHeld, oldestTasks };
  }

  // ---- shared settings --------------------------------------------------

  async findDeliveryIds(prefix: string, limit: number): Promise<string[]> {
    return (await this.#query<{ v: string }>(`SELECT delivery_id AS v FROM deliveries WHERE delivery_id LIKE $1 AND replay_of IS NULL ORDER BY delivery_id LIMIT $2`,
      [likePrefix(prefix), limit])).map((r) => r.v);
  }

  async findTaskIds(prefix: string, limit: number): Promise<string[]> {
    // Each lookup reads its own index and is capped at `limit`, so their union holds min(limit, matches) ids.
    const rows = await this.#query<{ v: string }>(`(SELECT id AS v FROM tasks WHERE id LIKE $1 ORDER BY id LIMIT $2)
      UNION (SELECT id AS v FROM tasks WHERE task_id LIKE $1 ORDER BY task_id LIMIT $2)`, [likePrefix(prefix), limit]);
    return rows.map((r) => r.v).sort().slice(0, limit);
  }

  // ---- recovery ---------------------------------------------------------

  async storedDeliveryIds(deliveryIds: readonly string[]): Promise<string[]> {
    if (deliveryIds.length === 0) return [];
    return (await this.#query<{ delivery_id: string }>('SELECT delivery_id FROM deliveries WHERE delivery_id = ANY($1::text[])', [[...new Set(deliveryIds)]])).map((r) => r.delivery_id);
  }

  async redeliveryRequests(deliveryIds: readonly string[]): Promise<RedeliveryRequest[]> {
    if (deliveryIds.length === 0) return [];
    return (await this.#query<RedeliveryRow>('SELECT * FROM redelivery_requests WHERE delivery_id = ANY($1::text[])', [[...new Set(deliveryIds)]])).map(toRedelivery);
  }

  async reserveRedelivery(intent: RedeliveryIntent, maxRequests: number): Promise<RedeliveryRequest | null> {
    if (maxRequests < 1) return null;
    // One statement: two nodes reserving the last request of a GUID at once serialize on its row.
    const row = (await this.#query<RedeliveryRow>(`INSERT INTO redelivery_requests (delivery_id, hook, github_delivery_id, event, action, reason, requests,
        first_requested_at, last_requested_at, outcome, detail)
      VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now(), 'pending', NULL)
      ON CONFLICT (delivery_id) DO UPDATE SET hook = excluded.hook, github_delivery_id = excluded.github_delivery_id,
        event = excluded.event, action = excluded.action, reason = excluded.reason, requests = redelivery_requests.requests + 1,
        last_requested_at = excluded.last_requested_at, outcome = 'pending', detail = NULL
        WHERE redelivery_requests.requests < $7
      RETURNING *`, [intent.deliveryId, intent.hook, intent.githubDeliveryId, intent.event, intent.action, intent.reason, maxRequests]))[0];
    return row ? toRedelivery(row) : null;
  }

  async settleRedelivery(deliveryId: string, outcome: Exclude<RedeliveryOutcome, 'pending'>, detail: string | null): Promise<void> {
    await this.#run('UPDATE redelivery_requests SET outcome = $2, detail = $3 WHERE delivery_id = $1', [deliveryId, outcome, detail]);
  }

  async markRedeliveriesArrived(): Promise<RedeliveryRequest[]> {
    // One primary-key lookup in deliveries per request still waiting: the
    // waiting requests are few, the deliveries many.
    return (await this.#query<RedeliveryRow>(`UPDATE redelivery_requests r SET arrived_at = d.received_at
      FROM deliveries d WHERE d.delivery_id = r.delivery_id AND r.arrived_at IS NULL
      RETURNING r.*`)).map(toRedelivery);
  }

  async recoveryCheckpoint(hook: string): Promise<string | null> {
    return (await this.#query<{ checkpoint: string }>('SELECT checkpoint FROM recovery_checkpoints WHERE hook = $1', [hook]))[0]?.checkpoint ?? null;
  }

  async advanceRecoveryCheckpoint(hook: string, at: string): Promise<void> {
    await this.#run(`INSERT INTO recovery_checkpoints (hook, checkpoint) VALUES ($1, $2)
      ON CONFLICT (hook) DO UPDATE SET checkpoint = excluded.checkpoint WHERE excluded.checkpoint > recovery_checkpoints.checkpoint`, [hook, at]);
  }

  async recordHeartbeat(): Promise<string> {
    return (await this.#query<{ alive_at: string }>(`INSERT INTO heartbeat (id, alive_at) VALUES (1, now())
      ON CONFLICT (id) DO UPDATE SET alive_at = GREATEST(heartbeat.alive_at, excluded.alive_at) RETURNING alive_at`))[0]!.alive_at;
  }

  async lastHeartbeat(): Promise<string | null> {
    return (await this.#query<{ alive_at: string }>('SELECT alive_at FROM heartbeat WHERE id = 1'))[0]?.alive_at ?? null;
  }

  async recordRecoveryGap(gap: RecoveryGap): Promise<boolean> {
    return this.#tx(async (c) => {
      const inserted = await c.query(`INSERT INTO recovery_gaps (hook, starts_at, ends_at, reported_at) VALUES ($1, $2, $3, now())
        ON CONFLICT (hook, starts_at) DO NOTHING`, [gap.hook, gap.start, gap.end]);
      if (inserted.rowCount === 1) return true;
      await c.query('UPDATE recovery_gaps SET ends_at = $3 WHERE hook = $1 AND starts_at = $2 AND ends_at < $3', [gap.hook, gap.start, gap.end]);
      return false;
    });
  }

  // ---- shared settings --------------------------------------------------

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.#query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))[0]?.value;
  }

  async putSetting(key: string, value: string): Promise<void> {
    await this.#run(`INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, [key, value]);
  }

  // ---- upkeep -----------------------------------------------------------

  purge(before: string, batch: number): Promise<number> {
    return this.#tx(async (c) => {
      // Locked and skipped when locked: an operator retrying one of its tasks holds the delivery.
      const ids = (await c.query<{ delivery_id: string }>(`SELECT delivery_id FROM deliveries d WHERE received_at < $1 AND state <> 'queued'
          AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.delivery_id = d.delivery_id AND t.status NOT IN ('completed', 'failed', 'dead'))
        LIMIT $2 FOR UPDATE SKIP LOCKED`, [before, batch])).rows.map((r) => r.delivery_id);
      // Recovery's records are small and few (at most a few per missing
      // delivery): all of those older than the cut go at once.
      await c.query('DELETE FROM redelivery_requests WHERE last_requested_at < $1', [before]);
      await c.query('DELETE FROM recovery_gaps WHERE ends_at < $1', [before]);
      if (ids.length === 0) return 0;
      await c.query('DELETE FROM task_history WHERE task_ref IN (SELECT id FROM tasks WHERE delivery_id = ANY($1::text[]))', [ids]);
      await c.query('DELETE FROM notifications WHERE delivery_id = ANY($1::text[])', [ids]);
      await c.query('DELETE FROM tasks WHERE delivery_id = ANY($1::text[])', [ids]);
      await c.query('DELETE FROM delivery_bodies WHERE delivery_id = ANY($1::text[])', [ids]);
      await c.query('DELETE FROM deliveries WHERE delivery_id = ANY($1::text[])', [ids]);
      return ids.length;
    });
  }

  /**
   * Readiness: a cheap query within 2 s that also tells a read-only session
   * or a standby (after a failover to a replica that was not promoted) from
   * a writable primary.
   */
  async health(): Promise<StoreHealth> {
    if (this.#closed) return { writable: false, reason: 'closed' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('no answer within 2000 ms'), { code: 'timeout' })), 2000);
    });
    try {
      const r = await Promise.race([this.#pool.query<{ ro: string }>(`SELECT current_setting('transaction_read_only') AS ro`), timeout]);
      return r.rows[0]?.ro === 'off' ? { writable: true } : { writable: false, reason: 'read-only' };
    } catch (err) {
      return { writable: false, reason: errorCodeOf(err) ?? (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Holds a session advisory lock on a connection of its own for the job's
   * duration. If this node dies, its session ends and the database releases
   * the lock: the next node's attempt takes it.
   */
  async runExclusive<T>(name: string, fn: () => Promise<T>): Promise<ExclusiveOutcome<T>> {
    const client = await this.#connect();
    let locked = false;
    let broken: Error | undefined;
    try {
      try {
        locked = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_JOB, name])).rows[0]!.ok;
      } catch (err) {
        broken = err as Error;
        throw this.#wrap(err);
      }
      if (!locked) return { ran: false };
      return { ran: true, value: await fn() };
    } finally {
      if (locked && !broken) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_JOB, name]).catch((e: Error) => (broken = e));
      client.release(broken);
    }
  }

  /** This store as the target of `gitbridge store copy`. */
  copyTarget(): CopyTarget {
    return createCopyTarget((fn) => this.#tx(fn));
  }

  async schemaVersion(): Promise<number> {
    return (await this.#query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations'))[0]?.v ?? 0;
  }

  async flush(): Promise<void> {
    await this.#ingest.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#ingest.flush();
    this.#closed = true;
    clearTimeout(this.#listenerTimer);
    this.#listenerTimer = undefined;
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) await endWithin(listener, LISTENER_END_MS);
    // The pools end once every connection is back. One held by a query to a
    // server that went silent comes back only at its answer timeout (7 s by
    // default): after POOL_END_MS those connections are let go.
    const ended = Promise.all([this.#pool.end().catch(() => undefined), this.#ingestPool.end().catch(() => undefined)]);
    if (await settledWithin(ended, POOL_END_MS)) return;
    for (const c of this.#connections) destroySocket(c);
    await settledWithin(ended, POOL_END_MS);
  }
}
