import { existsSync, mkdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { GitBridgeError, errorCodeOf, isGitBridgeError } from '../../errors/errors.js';
import { systemClock, type Clock, type ClockTimer } from '../../time/clock.js';
import {
  STATUS_RANK,
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
  type RedeliveryReason,
  type RedeliveryRequest,
  type RetryOutcome,
  type Store,
  type StoreCounts,
  type StoreHealth,
  type Task,
  type TaskFilter,
  type TaskWithoutPayload,
  type UnfinishedTaskStatus,
  type TaskStatus,
  type TaskTransition,
  type TransitionSource,
} from '../contract.js';
import type { CopySource } from '../copy.js';
import { startBackgroundCheckpointer, type BackgroundCheckpointer } from './checkpointer.js';
import { createCopySource } from './copy-source.js';
import { GroupCommitter, TransactionBatcher } from './group-commit.js';
import {
  FILTER_COLUMNS,
  HISTORY_COLUMNS,
  JOURNAL_COLUMNS,
  NOTIFICATION_COLUMNS,
  errorText,
  filterTerms,
  iso,
  toDelivery,
  toJournalRecord,
  toNotification,
  toRedelivery,
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
import { MIGRATIONS } from './migrations.js';
import { WriteGate } from './write-gate.js';

/** File name of the store inside the data directory. */
export const STORE_FILE = 'gitbridge.db';

/** The schema version this code reads and writes: the newest migration. */
export const SCHEMA_VERSION = newestVersion(MIGRATIONS);

/**
 * The three leased queues in SQL: the table and its key, what "in the queue"
 * means (a claim's item must still be), what "due" means, and the partial
 * index that holds exactly the due rows in `next_attempt_at` order (named
 * with INDEXED BY, so a claim or a next-due query is one seek whatever the
 * backlog).
 */
const QUEUE_SQL: Readonly<Record<QueueName, { table: string; key: string; item: string; inQueue: string; due: string; index: string }>> = {
  deliveries: { table: 'deliveries', key: 'delivery_id', item: 'delivery', inQueue: `state = 'queued'`, due: `state = 'queued'`, index: 'deliveries_next' },
  tasks: { table: 'tasks', key: 'id', item: 'task', inQueue: `status = 'queued'`, due: `status = 'queued' AND blocked = 0`, index: 'tasks_next' },
  notifications: { table: 'notifications', key: 'id', item: 'notification', inQueue: `status = 'pending'`, due: `status = 'pending'`, index: 'notifications_next' },
};

/** Inserts one delivery row (its body goes to {@link INSERT_BODY}); a known delivery id changes nothing. */
const INSERT_DELIVERY = `INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id, received_at,
  content_type, headers, size, signature_slot, source_ip, state, outcome, next_attempt_at, processed_at, replay_of, notify)
  VALUES (@deliveryId, @event, @action, @hookId, @repo, @repoId, @installationId, @receivedAt, @contentType, @headers,
  @size, @signatureSlot, @sourceIp, @state, @outcome, @nextAttemptAt, @processedAt, @replayOf, @notify)
  ON CONFLICT (delivery_id) DO NOTHING`;

/** Inserts a delivery's raw body. */
const INSERT_BODY = 'INSERT INTO delivery_bodies (delivery_id, body) VALUES (?, ?)';

/**
 * The smallest string above every string that starts with `prefix`, in
 * SQLite's BINARY (UTF-8 byte) order: `prefix` with its last character
 * incremented. Null when that is not a simple bound (empty prefix, a last
 * character at U+D7FF or above, whose successor is no simple character);
 * the caller then reads from `prefix` on.
 */
function prefixBound(prefix: string): string | null {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (prefix === '' || !(last < 0xd7ff)) return null;
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/**
 * The query of a prefix lookup: `select` (as `v`) of the rows whose `column`
 * lies in [@prefix, @bound) and starts with @prefix, in `column` order, at
 * most @limit. The range is what lets SQLite read the column's index
 * instead of the table (LIKE would not: its wildcards and case rules keep
 * it from using a BINARY index); the substr check makes it exact. Exported
 * for the test that reads its query plan.
 */
export function prefixQuery(table: string, column: string, select: string, bounded: boolean, extra = ''): string {
  return `SELECT ${select} AS v FROM ${table} WHERE ${column} >= @prefix ${bounded ? `AND ${column} < @bound` : ''}
    AND substr(${column}, 1, length(@prefix)) = @prefix ${extra} ORDER BY ${column} LIMIT @limit`;
}

/** Default {@link SqliteStoreOptions.walRestartFrames}. */
const DEFAULT_WAL_RESTART_FRAMES = 65536;

/** How long a singleton lock row holds without renewal, ms (renewed every third of it while the job runs). */
const LOCK_TTL_MS = 60_000;

/**
 * Free disk space a migration needs, as a multiple of the store's size
 * (database file plus WAL), where it copies data. Migration 4 copies every
 * body into a new table, then rebuilds `deliveries`, all in one transaction
 * whose pages sit in the WAL until the checkpoint: measured peak about 3.3×.
 */
const MIGRATION_SPACE_FACTOR: Readonly<Record<number, number>> = { 4: 3.5 };

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Open read-only (the CLI's read commands). The file must exist. */
  readonly readonly?: boolean;
  /**
   * Apply pending migrations when opening writable (default true). Tools that
   * write to a store a daemon owns (the CLI) pass false, so that only the
   * daemon migrates its schema; the store must then be at {@link SCHEMA_VERSION}.
   */
  readonly migrate?: boolean;
  /**
   * SQLite `synchronous` mode. `NORMAL` (default) in WAL mode is durable
   * against a process crash (the one GitHub's no-retry rule makes critical);
   * `FULL` also survives power loss at some cost in throughput.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * Checkpoint the WAL on a background thread instead of inside whichever
   * commit crosses the threshold (the daemon: a checkpoint copies pages and
   * fsyncs, which would stall the event loop in the middle of a group commit).
   * If the thread fails, the connection goes back to automatic checkpoints.
   * Default false.
   */
  readonly backgroundCheckpoint?: boolean;
  /**
   * With `backgroundCheckpoint`: WAL size, in frames (one 4 KB page each), at
   * which the checkpointer pauses the writers and restarts the WAL. Default
   * 65536 (256 MB): at full ingest (about 100 MB/s of WAL) that is a pause
   * every few seconds; a quarter of it paused writers 3-4 times a second and
   * raised the p99.
   */
  readonly walRestartFrames?: number;
  /** With `backgroundCheckpoint`: ms between passive checkpoints (default 100). */
  readonly checkpointIntervalMs?: number;
  /** With `backgroundCheckpoint`: called with each checkpoint error (an I/O error, a full disk), so it can be logged. */
  readonly onCheckpointError?: (err: { message: string; code?: string }) => void;
  /** Observes each group commit of deliveries: batch size, duration in ms. */
  readonly onIngestCommit?: (batchSize: number, durationMs: number) => void;
  /** The store's clock: retry times and leases (default the system clock). */
  readonly clock?: Clock;
  /** The write gate the checkpointer closes during a WAL restart (default a new one); tests pass their own to watch it. */
  readonly gate?: WriteGate;
}

/**
 * Runs `fn` on `ids` in slices small enough for SQLite's bound-parameter
 * limit, as one `IN (?, …)` list per slice, and concatenates the rows.
 */
function inSlices<R>(ids: readonly string[], fn: (placeholders: string, slice: readonly string[]) => R[]): R[] {
  const out: R[] = [];
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const slice = unique.slice(i, i + 500);
    out.push(...fn(slice.map(() => '?').join(', '), slice));
  }
  return out;
}

/**
 * The WHERE clause and arguments of a list query (positional `?`), the
 * filter's limit last.
 */
function whereOf(filter: { terms: FilterTerm[]; limit: number }): { where: string; args: unknown[] } {
  const where = filter.terms.length > 0 ? `WHERE ${filter.terms.map((t) => `${t.column} ${t.op} ?`).join(' AND ')}` : '';
  return { where, args: [...filter.terms.map((t) => t.value), filter.limit] };
}

/** The hint of a store not found or not usable: where the CLI looks for it. */
const WHERE_IS_THE_STORE = "point --data-dir (or GITBRIDGE_DATA_DIR) at gitbridged's data directory, or --database-url (GITBRIDGE_DATABASE_URL) at its PostgreSQL database";

/** A store file that cannot be opened or read (not a database, permissions, I/O). */
function unreadable(path: string, err: unknown): GitBridgeError {
  return new GitBridgeError('GB_STORE_ERROR', {
    message: `cannot read the store ${path}: ${(err as Error).message}`,
    hint: WHERE_IS_THE_STORE,
    cause: err,
  });
}

/**
 * The SQLite engine of the store contract (DESIGN §6): one file in the data
 * directory, WAL mode, versioned migrations. Deliveries are group-committed
 * per turn of the event loop; every other write joins a shared transaction
 * per turn (each in its own savepoint); a background thread checkpoints the
 * WAL and closes a write gate while it restarts it. All of that is private:
 * callers see only the {@link Store} contract.
 */
export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly location: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #gate: WriteGate;
  readonly #stmts = new Map<string, Statement>();
  readonly #committer: GroupCommitter;
  readonly #writes: TransactionBatcher;
  readonly #wake = new WakeSignals();
  #checkpointer: BackgroundCheckpointer | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  private constructor(db: Db, path: string, options: SqliteStoreOptions) {
    this.#db = db;
    this.location = path;
    this.#clock = options.clock ?? systemClock;
    this.#gate = options.gate ?? new WriteGate();
    this.#writes = new TransactionBatcher(db, { gate: this.#gate });
    this.#committer = new GroupCommitter((batch) => this.#insertBatch(batch), {
      gate: this.#gate,
      clock: this.#clock,
      ...(options.onIngestCommit ? { onCommit: options.onIngestCommit } : {}),
    });
  }

  /**
   * Opens (and, unless read-only, creates and migrates) the store in `dataDir`.
   *
   * @param dataDir directory holding `gitbridge.db`; created when missing (unless read-only)
   * @throws GitBridgeError `GB_STORE_NOT_FOUND` (read-only or `migrate: false`, and no store there),
   *   `GB_STORE_SCHEMA_MISMATCH` (a store of another schema version), `GB_STORE_DISK_SPACE`
   *   (a migration that would not fit on the disk), `GB_STORE_ERROR` (the file cannot be opened)
   */
  static open(dataDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const path = join(dataDir, STORE_FILE);
    const mustExist = options.readonly === true || options.migrate === false;
    if (mustExist && !existsSync(path)) {
      throw new GitBridgeError('GB_STORE_NOT_FOUND', { message: `No GitBridge store at ${path}`, hint: WHERE_IS_THE_STORE });
    }
    let db: Db;
    try {
      if (!options.readonly) mkdirSync(dataDir, { recursive: true });
      db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: mustExist });
      db.pragma('busy_timeout = 5000');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
        db.pragma('foreign_keys = ON');
      }
    } catch (err) {
      throw unreadable(path, err);
    }
    const store = new SqliteStore(db, path, options);
    try {
      if (!options.readonly && options.migrate !== false) store.#migrate();
      else store.#checkVersion();
    } catch (err) {
      db.close();
      throw isGitBridgeError(err) ? err : unreadable(path, err);
    }
    if (!options.readonly && options.backgroundCheckpoint) store.#startCheckpointer(options);
    return store;
  }

  #startCheckpointer(options: SqliteStoreOptions): void {
    const db = this.#db;
    db.pragma('wal_autocheckpoint = 0');
    // When the WAL starts over, the first commit truncates the file to
    // journal_size_limit. Truncating a few hundred MB takes tens of ms on
    // the event loop (measured: 70 ms stalls), so the limit sits above the
    // restart size: the file is reused, and only a WAL that a long reader
    // made grow far beyond it is cut back, once.
    const restartFrames = options.walRestartFrames ?? DEFAULT_WAL_RESTART_FRAMES;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`journal_size_limit = ${Math.ceil(restartFrames * 1.25) * pageSize}`);
    this.#checkpointer = startBackgroundCheckpointer(this.location, {
      restartFrames,
      ...(options.checkpointIntervalMs !== undefined ? { intervalMs: options.checkpointIntervalMs } : {}),
      onPause: (go) => {
        this.#gate.close();
        go();
      },
      onResume: () => this.#gate.open(),
      ...(options.onCheckpointError ? { onError: options.onCheckpointError } : {}),
      onFailure: () => {
        if (db.open) db.pragma('wal_autocheckpoint = 1000');
      },
    });
  }

  #appliedVersions(): Set<number> {
    const exists = this.#db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
    if (!exists) return new Set();
    return new Set((this.#db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  }

  /**
   * For a store this process must not migrate: the schema must be exactly
   * this code's, every migration it lists applied and none it does not know
   * (versions may have holes, so the highest version alone proves nothing).
   */
  #checkVersion(): void {
    checkSchema(this.location, this.#appliedVersions(), MIGRATIONS, WHERE_IS_THE_STORE);
  }

  #migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
    const applied = this.#appliedVersions();
    refuseNewerSchema(this.location, applied, MIGRATIONS);
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      this.#checkSpaceFor(m.version);
      this.#db.transaction(() => {
        this.#db.exec(m.sql);
        this.#db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, iso(this.#clock.now()));
      }).immediate();
    }
  }

  /**
   * Refuses to start a migration that copies the store's data when the disk
   * cannot hold the copy: a migration that runs out of space midway rolls
   * back, but leaves the disk full for everything else.
   *
   * @throws GitBridgeError `GB_STORE_DISK_SPACE` naming the space needed and the space free
   */
  #checkSpaceFor(version: number): void {
    const factor = MIGRATION_SPACE_FACTOR[version];
    if (!factor) return;
    const path = this.location;
    const size = [path, `${path}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
    if (size < 16 * 1024 * 1024) return; // small stores: not worth a statfs (and some file systems report nothing useful)
    const fs = statfsSync(dirname(path));
    const free = fs.bavail * fs.bsize;
    const needed = Math.ceil(size * factor);
    if (free >= needed) return;
    const mb = (n: number) => `${Math.ceil(n / (1024 * 1024))} MB`;
    throw new GitBridgeError('GB_STORE_DISK_SPACE', {
      message: `${path}: schema migration ${version} copies the stored deliveries and needs about ${mb(needed)} free on this disk, but ${mb(free)} are free`,
      hint: 'free some space (or delete old deliveries with a lower GITBRIDGE_RETENTION_DAYS on the previous version) and start again',
    });
  }

  #stmt(sql: string): Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #now(): number {
    return this.#clock.now();
  }

  /** Runs `fn` in the next shared write transaction; SQLite's own errors become GitBridgeErrors. */
  async #write<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw storeClosed();
    try {
      return await this.#writes.run(fn);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  /** Runs a read now; SQLite's own errors become GitBridgeErrors. */
  #read<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(storeClosed());
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(this.#wrap(err));
    }
  }

  #wrap(err: unknown): unknown {
    if (isGitBridgeError(err)) return err;
    const code = errorCodeOf(err);
    const unavailable = code === 'SQLITE_FULL' || code === 'SQLITE_IOERR' || code?.startsWith('SQLITE_IOERR') || code === 'SQLITE_BUSY' || code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN';
    const hint = code === 'SQLITE_FULL' ? `the disk holding ${this.location} is full: free space there (what was stored is kept; \`gitbridged\` answers 503 to new deliveries until it can write)`
      : code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' ? `check that the user running gitbridged can write ${this.location} and its directory` : undefined;
    return new GitBridgeError(unavailable ? 'GB_STORE_UNAVAILABLE' : 'GB_STORE_ERROR', { message: `${this.location}: ${(err as Error).message}${code ? ` (${code})` : ''}`, ...(hint ? { hint } : {}), cause: err });
  }

  // ---- ingest -----------------------------------------------------------

  /** Inserts a batch of deliveries in ONE transaction; the group committer calls it once per turn. */
  #insertBatch(batch: readonly NewDelivery[]): ('stored' | 'duplicate')[] {
    const insert = this.#stmt(INSERT_DELIVERY);
    const insertBody = this.#stmt(INSERT_BODY);
    const nowMs = this.#now();
    return this.#db.transaction(() => batch.map((d) => this.#insertOne(insert, insertBody, d, nowMs))).immediate();
  }

  #insertOne(insert: Statement, insertBody: Statement, d: NewDelivery, nowMs: number): 'stored' | 'duplicate' {
    const r = insert.run({
      deliveryId: d.deliveryId,
      event: d.event,
      action: d.action,
      hookId: d.hookId,
      repo: d.repo,
      repoId: d.repoId,
      installationId: d.installationId,
      receivedAt: d.receivedAt,
      contentType: d.contentType,
      headers: JSON.stringify(d.headers),
      size: d.body.byteLength,
      signatureSlot: d.signatureSlot,
      sourceIp: d.sourceIp,
      state: d.state,
      outcome: d.outcome,
      nextAttemptAt: nowMs,
      processedAt: d.state === 'processed' ? iso(nowMs) : null,
      replayOf: d.replayOf ?? null,
      notify: d.notify === false ? 0 : 1,
    });
    if (r.changes !== 1) return 'duplicate';
    insertBody.run(d.deliveryId, Buffer.from(d.body.buffer, d.body.byteOffset, d.body.byteLength));
    return 'stored';
  }

  async ingest(delivery: NewDelivery): Promise<'stored' | 'duplicate'> {
    if (this.#closed) throw storeClosed();
    let outcome: 'stored' | 'duplicate';
    try {
      outcome = await this.#committer.submit(delivery);
    } catch (err) {
      const e = this.#wrap(err) as GitBridgeError;
      throw e.code === 'GB_STORE_UNAVAILABLE' ? e : new GitBridgeError('GB_STORE_UNAVAILABLE', { message: e.message, cause: err });
    }
    if (outcome === 'stored' && delivery.state === 'queued') this.#wake.emit('deliveries');
    return outcome;
  }

  async insertReplay(originalId: string, build: (original: ClaimedDelivery, replayId: string) => NewDelivery): Promise<string | null> {
    const replayId = await this.#write(() => {
      const row = this.#stmt('SELECT * FROM deliveries WHERE delivery_id = ?').get(originalId) as DeliveryRow | undefined;
      if (!row) return null;
      const original: ClaimedDelivery = { ...toDelivery(row), body: this.#body(originalId) };
      // The first unused number: counting alone could collide with a replay
      // that retention left behind, or with a delivery id that looks like one.
      let n = (this.#stmt('SELECT COUNT(*) AS n FROM deliveries WHERE replay_of = ?').get(originalId) as { n: number }).n + 1;
      while (this.#stmt('SELECT 1 FROM deliveries WHERE delivery_id = ?').get(`${originalId}:replay:${n}`)) n++;
      const id = `${originalId}:replay:${n}`;
      const d = build(original, id);
      const outcome = this.#insertOne(this.#stmt(INSERT_DELIVERY), this.#stmt(INSERT_BODY), { ...d, deliveryId: id, replayOf: originalId }, this.#now());
      if (outcome !== 'stored') throw new GitBridgeError('GB_STORE_ERROR', { message: `Replay id ${id} could not be stored` });
      return id;
    });
    if (replayId !== null) this.#wake.emit('deliveries');
    return replayId;
  }

  // ---- the delivery queue -----------------------------------------------

  #body(deliveryId: string): Buffer {
    const r = this.#stmt('SELECT body FROM delivery_bodies WHERE delivery_id = ?').get(deliveryId) as { body: Buffer } | undefined;
    return r?.body ?? Buffer.alloc(0);
  }

  claimDeliveries(limit: number, leaseMs: number): Promise<Claim<ClaimedDelivery>[]> {
    return this.#write(() => {
      const { rows, token } = this.#claim<DeliveryRow>('deliveries', limit, leaseMs, '*');
      return rows.map((r) => ({ item: { ...toDelivery(r), body: this.#body(r.delivery_id) }, token }));
    });
  }

  /**
   * Claims up to `limit` due items of `queue` under a new token for
   * `leaseMs`: the item is due again when the lease ends (its holder died),
   * and only that token may settle or renew it.
   */
  #claim<R>(queue: QueueName, limit: number, leaseMs: number, returning: string): { rows: R[]; token: string } {
    const q = QUEUE_SQL[queue];
    const now = this.#now();
    const token = randomUUID();
    const rows = this.#stmt(`UPDATE ${q.table} SET lease_until = @lease, next_attempt_at = @lease, attempts = attempts + 1, claim_token = @token
      WHERE ${q.key} IN (SELECT ${q.key} FROM ${q.table} INDEXED BY ${q.index} WHERE ${q.due} AND next_attempt_at <= @now
        ORDER BY next_attempt_at LIMIT @limit)
      RETURNING ${returning}`).all({ lease: now + leaseMs, now, limit, token }) as R[];
    return { rows, token };
  }

  /**
   * `UPDATE <queue> SET <set>` of a claimed item, only while it is still in
   * the queue under this claim's token (`params` fill the `?`s of `set`).
   *
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST` when it is not: the lease ran out and another claim has it, or it left the queue
   */
  #updateClaimed(queue: QueueName, id: string | number, token: string, set: string, params: readonly unknown[]): void {
    const q = QUEUE_SQL[queue];
    const r = this.#stmt(`UPDATE ${q.table} SET ${set} WHERE ${q.key} = ? AND claim_token = ? AND ${q.inQueue}`).run(...params, id, token);
    if (r.changes !== 1) throw claimLost(`${q.item} ${id}`);
  }

  /** Fails unless the delivery is still queued under this claim's token. */
  #ownDelivery(claim: Claim<ClaimedDelivery>): void {
    const row = this.#stmt(`SELECT 1 FROM deliveries WHERE delivery_id = ? AND claim_token = ? AND state = 'queued'`).get(claim.item.deliveryId, claim.token);
    if (!row) throw claimLost(`delivery ${claim.item.deliveryId}`);
  }

  async completeDelivery(claim: Claim<ClaimedDelivery>, result: DeliveryResult): Promise<string[]> {
    const deliveryId = claim.item.deliveryId;
    const created = await this.#write(() => {
      this.#ownDelivery(claim);
      const nowMs = this.#now();
      const now = iso(nowMs);
      const ids: string[] = [];
      let notify = false;
      const order = orderOf(claim, result);
      for (const draft of result.drafts) {
        const id = `gbt_${randomUUID()}`;
        const key = `${deliveryId}:${draft.taskType}`;
        // Held behind any queued task of the same entity (one inserted just before in this loop included).
        const blocked = this.#stmt(`SELECT 1 FROM tasks INDEXED BY tasks_entity_queue WHERE entity = ? AND status = 'queued' LIMIT 1`).get(order.entity) ? 1 : 0;
        const r = this.#stmt(`INSERT INTO tasks (id, delivery_id, idempotency_key, task_type, priority, rule, repo, payload, status,
          next_attempt_at, created_at, updated_at, entity, event, event_at, blocked, on_stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (idempotency_key) DO NOTHING`)
          .run(id, deliveryId, key, draft.taskType, draft.priority, draft.rule, result.repo, JSON.stringify(draft.payload), nowMs, now, now,
            order.entity, order.event, order.eventAt, blocked, draft.onStale ?? 'submit');
        if (r.changes !== 1) continue;
        ids.push(id);
        this.#history(id, null, 'queued', now, 'gitbridge', `rule ${draft.rule}`);
        if (draft.notify && claim.item.notify) {
          notify = true;
          this.#stmt(`INSERT INTO notifications (delivery_id, task_ref, channel, text, url, status, next_attempt_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`).run(deliveryId, id, draft.notify.channel, draft.notify.text, draft.notify.url, nowMs, now, now);
        }
      }
      const j = result.journal;
      this.#stmt(`INSERT INTO journal (delivery_id, type, action, repo, number, timestamp, recorded_at, replay_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (delivery_id) DO NOTHING`).run(deliveryId, j.type, j.action, j.repo, j.number, j.timestamp, now, claim.item.replayOf);
      const state: DeliveryState = result.drafts.length > 0 ? 'processed' : 'ignored';
      this.#stmt(`UPDATE deliveries SET state = ?, outcome = ?, ignored_reason = ?, lease_until = NULL, claim_token = NULL, last_error = NULL, processed_at = ? WHERE delivery_id = ?`)
        .run(state, result.drafts.length > 0 ? 'tasks' : 'ignored', result.drafts.length > 0 ? null : (result.ignoredReason ?? null), now, deliveryId);
      return { ids, notify };
    });
    if (created.ids.length > 0) this.#wake.emit('tasks');
    if (created.notify) this.#wake.emit('notifications');
    return created.ids;
  }

  failDelivery(claim: Claim<ClaimedDelivery>, error: string, retryInMs: number | null): Promise<void> {
    return this.#write(() => {
      const { deliveryId } = claim.item;
      if (retryInMs === null) {
        this.#updateClaimed('deliveries', deliveryId, claim.token, `state = 'dead', outcome = 'dead', lease_until = NULL, claim_token = NULL, last_error = ?`, [error]);
      } else {
        this.#updateClaimed('deliveries', deliveryId, claim.token, 'next_attempt_at = ?, lease_until = NULL, claim_token = NULL, last_error = ?', [this.#now() + retryInMs, error]);
      }
    });
  }

  renewDelivery(claim: Claim<ClaimedDelivery>, leaseMs: number): Promise<void> {
    return this.#write(() => {
      const until = this.#now() + leaseMs;
      this.#updateClaimed('deliveries', claim.item.deliveryId, claim.token, 'lease_until = ?, next_attempt_at = ?', [until, until]);
    });
  }

  async requeueDelivery(deliveryId: string): Promise<boolean> {
    const done = await this.#write(() =>
      this.#stmt(`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, lease_until = NULL, claim_token = NULL WHERE delivery_id = ? AND state = 'dead'`)
        .run(this.#now(), deliveryId).changes === 1);
    if (done) this.#wake.emit('deliveries');
    return done;
  }

  // ---- the task queue ---------------------------------------------------

  #history(taskRef: string, from: TaskStatus | null, to: TaskStatus, at: string, source: TransitionSource, detail: string | null): void {
    this.#stmt('INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail) VALUES (?, ?, ?, ?, ?, ?)').run(taskRef, from, to, at, source, detail);
  }

  claimTasks(limit: number, leaseMs: number): Promise<Claim<Task>[]> {
    return this.#write(() => {
      const { rows, token } = this.#claim<TaskRow>('tasks', limit, leaseMs, '*');
      return rows.map((r) => ({ item: this.#toTask(r), token }));
    });
  }

  /** A task row as a domain task, with its stale flag. */
  #toTask(r: TaskRow): Task {
    return toTask(r, this.#stale(r));
  }

  #toTaskWithoutPayload(r: Omit<TaskRow, 'payload'>): TaskWithoutPayload {
    return toTaskWithoutPayload(r, this.#stale(r));
  }

  /** Whether a later event of the task's entity already reached the MAS (DESIGN §9). */
  #stale(r: Pick<TaskRow, 'entity' | 'event_at'>): boolean {
    const e = this.#stmt('SELECT last_event_at FROM entities WHERE entity = ?').get(r.entity) as { last_event_at: string } | undefined;
    return e !== undefined && e.last_event_at > r.event_at;
  }

  /** A task of `entity` left the queue: the next one (in creation order) may go. */
  #unblockNext(entity: string, nowMs: number): void {
    this.#stmt(`UPDATE tasks SET blocked = 0, next_attempt_at = MAX(next_attempt_at, ?)
      WHERE rowid = (SELECT rowid FROM tasks INDEXED BY tasks_entity_queue WHERE entity = ? AND status = 'queued' ORDER BY rowid LIMIT 1) AND blocked = 1`)
      .run(nowMs, entity);
  }

  markTaskSubmitted(claim: Claim<Task>, masTaskId: string): Promise<void> {
    return this.#write(() => {
      const nowMs = this.#now();
      const now = iso(nowMs);
      // First: a lost claim throws before anything is written.
      this.#updateClaimed('tasks', claim.item.id, claim.token, `task_id = ?, status = 'pending', lease_until = NULL, claim_token = NULL, last_error = NULL, updated_at = ?`, [masTaskId, now]);
      this.#history(claim.item.id, 'queued', 'pending', now, 'mas', `task_id ${masTaskId}`);
      this.#stmt(`INSERT INTO entities (entity, last_event_at) VALUES (?, ?)
        ON CONFLICT (entity) DO UPDATE SET last_event_at = MAX(last_event_at, excluded.last_event_at)`).run(claim.item.entity, claim.item.eventAt);
      this.#unblockNext(claim.item.entity, nowMs);
    });
  }

  retryTaskLater(claim: Claim<Task>, error: string, retryInMs: number, options: { readonly refundAttempt?: boolean } = {}): Promise<void> {
    return this.#write(() => {
      const now = this.#now();
      this.#updateClaimed('tasks', claim.item.id, claim.token, 'next_attempt_at = ?, lease_until = NULL, claim_token = NULL, last_error = ?, updated_at = ?, attempts = MAX(0, attempts - ?)',
        [now + retryInMs, error, iso(now), options.refundAttempt ? 1 : 0]);
    });
  }

  endTask(claim: Claim<Task>, status: 'failed' | 'dead', reason: string, source: TransitionSource): Promise<void> {
    return this.#write(() => {
      const nowMs = this.#now();
      const now = iso(nowMs);
      // First: a lost claim throws before anything is written.
      this.#updateClaimed('tasks', claim.item.id, claim.token, 'status = ?, lease_until = NULL, claim_token = NULL, last_error = ?, updated_at = ?', [status, reason, now]);
      this.#history(claim.item.id, 'queued', status, now, source, reason);
      this.#unblockNext(claim.item.entity, nowMs);
    });
  }

  renewTask(claim: Claim<Task>, leaseMs: number): Promise<void> {
    return this.#write(() => {
      const until = this.#now() + leaseMs;
      this.#updateClaimed('tasks', claim.item.id, claim.token, 'lease_until = ?, next_attempt_at = ?', [until, until]);
    });
  }

  async releaseTaskBackoff(): Promise<number> {
    const n = await this.#write(() => {
      const now = this.#now();
      // Not the tasks under a lease: their next_attempt_at is the lease's end.
      return this.#stmt(`UPDATE tasks INDEXED BY tasks_next SET next_attempt_at = @now
        WHERE status = 'queued' AND blocked = 0 AND next_attempt_at > @now AND (lease_until IS NULL OR lease_until <= @now)`).run({ now }).changes;
    });
    if (n > 0) this.#wake.emit('tasks');
    return n;
  }

  expireTasks(createdBefore: string, reason: string, limit: number): Promise<Task[]> {
    return this.#write(() => {
      const nowMs = this.#now();
      const now = iso(nowMs);
      const rows = this.#stmt(`SELECT * FROM tasks INDEXED BY tasks_queued_created WHERE status = 'queued' AND created_at < ?
        AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at LIMIT ?`).all(createdBefore, nowMs, limit) as TaskRow[];
      for (const r of rows) {
        this.#stmt(`UPDATE tasks SET status = 'dead', lease_until = NULL, claim_token = NULL, blocked = 0, last_error = ?, updated_at = ? WHERE id = ?`).run(reason, now, r.id);
        this.#history(r.id, 'queued', 'dead', now, 'gitbridge', reason);
      }
      for (const entity of new Set(rows.map((r) => r.entity))) this.#unblockNext(entity, nowMs);
      return rows.map((r) => this.#toTask({ ...r, status: 'dead', last_error: reason, updated_at: now }));
    });
  }

  async retryTask(ref: string): Promise<RetryOutcome> {
    const out = await this.#write((): RetryOutcome => {
      const row = this.#stmt('SELECT * FROM tasks WHERE id = ? OR task_id = ?').get(ref, ref) as TaskRow | undefined;
      if (!row) return { outcome: 'unknown' };
      if (row.status !== 'dead' && row.status !== 'failed') return { outcome: 'refused', task: this.#toTask(row) };
      const nowMs = this.#now();
      const now = iso(nowMs);
      let key = row.idempotency_key;
      if (row.task_id !== null) {
        const n = (this.#stmt(`SELECT COUNT(*) AS n FROM task_history WHERE task_ref = ? AND source = 'operator'`).get(row.id) as { n: number }).n + 1;
        key = retryKey(key, n);
      }
      // Behind any task of its entity that is still queued.
      const blocked = this.#stmt(`SELECT 1 FROM tasks INDEXED BY tasks_entity_queue WHERE entity = ? AND status = 'queued' LIMIT 1`).get(row.entity) ? 1 : 0;
      this.#stmt(`UPDATE tasks SET status = 'queued', task_id = NULL, idempotency_key = ?, attempts = 0, next_attempt_at = ?, lease_until = NULL, claim_token = NULL, blocked = ?, updated_at = ? WHERE id = ?`)
        .run(key, nowMs, blocked, now, row.id);
      this.#history(row.id, row.status, 'queued', now, 'operator', 'retry');
      return { outcome: 'retried', task: this.#toTask(this.#stmt('SELECT * FROM tasks WHERE id = ?').get(row.id) as TaskRow) };
    });
    if (out.outcome === 'retried') this.#wake.emit('tasks');
    return out;
  }

  applyCallback(masTaskId: string, status: 'running' | 'completed' | 'failed', detail: CallbackDetail): Promise<CallbackOutcome> {
    return this.#write((): CallbackOutcome => {
      const row = this.#stmt(`SELECT ${taskColumnsWithoutPayload()} FROM tasks WHERE task_id = ?`).get(masTaskId) as Omit<TaskRow, 'payload'> | undefined;
      if (!row) return { outcome: 'unknown' };
      if (isTerminal(row.status) || STATUS_RANK[status] <= STATUS_RANK[row.status]) return { outcome: 'ignored', task: this.#toTaskWithoutPayload(row) };
      const now = iso(this.#now());
      const result = detail.result === undefined ? row.result : JSON.stringify(detail.result);
      const error = detail.error === undefined ? row.last_error : errorText(detail.error);
      this.#stmt('UPDATE tasks SET status = ?, result = ?, last_error = ?, updated_at = ? WHERE id = ?').run(status, result, error, now, row.id);
      this.#history(row.id, row.status, status, now, detail.source ?? 'mas-callback', status === 'failed' ? error : null);
      return { outcome: 'applied', task: this.#toTaskWithoutPayload({ ...row, status, result, last_error: error, updated_at: now }) };
    });
  }

  // ---- the notification outbox ------------------------------------------

  claimNotifications(limit: number, leaseMs: number): Promise<Claim<Notification>[]> {
    return this.#write(() => {
      const { rows, token } = this.#claim<NotificationRow>('notifications', limit, leaseMs, NOTIFICATION_COLUMNS);
      return rows.map((r) => ({ item: toNotification(r), token }));
    });
  }

  settleNotification(claim: Claim<Notification>, status: NotificationStatus, error: string | null, retryInMs: number | null): Promise<void> {
    return this.#write(() => {
      const now = this.#now();
      this.#updateClaimed('notifications', claim.item.id, claim.token,
        'status = ?, last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at), lease_until = NULL, claim_token = NULL, updated_at = ?',
        [status, error, retryInMs === null ? null : now + retryInMs, iso(now)]);
    });
  }

  // ---- scheduling -------------------------------------------------------

  msUntilDue(queue: QueueName): Promise<number | null> {
    const q = QUEUE_SQL[queue];
    return this.#read(() => {
      const r = this.#stmt(`SELECT next_attempt_at AS t FROM ${q.table} INDEXED BY ${q.index} WHERE ${q.due} ORDER BY next_attempt_at LIMIT 1`).get() as { t: number } | undefined;
      return r === undefined ? null : Math.max(0, r.t - this.#now());
    });
  }

  onWake(queue: QueueName, fn: () => void): () => void {
    return this.#wake.on(queue, fn);
  }

  // ---- read model -------------------------------------------------------

  getDelivery(deliveryId: string): Promise<Delivery | undefined> {
    return this.#read(() => {
      const r = this.#stmt('SELECT * FROM deliveries WHERE delivery_id = ?').get(deliveryId) as DeliveryRow | undefined;
      return r && toDelivery(r);
    });
  }

  findDeliveryIds(prefix: string, limit: number): Promise<string[]> {
    return this.#read(() => this.#prefixMatches('deliveries', 'delivery_id', 'delivery_id', prefix, limit, 'AND replay_of IS NULL'));
  }

  /**
   * `select` of the rows whose `column` starts with `prefix`, in `column`
   * order, at most `limit`: a range read of the column's index (the
   * primary key's or a UNIQUE one), never a scan of the table.
   */
  #prefixMatches(table: string, column: string, select: string, prefix: string, limit: number, extra = ''): string[] {
    const bound = prefixBound(prefix);
    const sql = prefixQuery(table, column, select, bound !== null, extra);
    return (this.#stmt(sql).all({ prefix, limit, ...(bound === null ? {} : { bound }) }) as { v: string }[]).map((r) => r.v);
  }

  getDeliveryBody(deliveryId: string): Promise<Buffer | undefined> {
    return this.#read(() => (this.#stmt('SELECT body FROM delivery_bodies WHERE delivery_id = ?').get(deliveryId) as { body: Buffer } | undefined)?.body);
  }

  listDeliveries(filter: DeliveryFilter = {}): Promise<Delivery[]> {
    const { where, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.deliveries));
    return this.#read(() => (this.#stmt(`SELECT * FROM deliveries ${where} ORDER BY received_at DESC, rowid DESC LIMIT ?`).all(...args) as DeliveryRow[]).map(toDelivery));
  }

  listTasks(filter: TaskFilter = {}): Promise<Task[]> {
    const { where, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.tasks));
    return this.#read(() => (this.#stmt(`SELECT * FROM tasks ${where} ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(...args) as TaskRow[]).map((r) => this.#toTask(r)));
  }

  getTask(ref: string): Promise<Task | undefined> {
    return this.#read(() => {
      const r = this.#stmt('SELECT * FROM tasks WHERE id = ? OR task_id = ?').get(ref, ref) as TaskRow | undefined;
      return r && this.#toTask(r);
    });
  }

  findTaskIds(prefix: string, limit: number): Promise<string[]> {
    return this.#read(() => {
      // Each lookup is capped at `limit`, so their union holds min(limit, matches) ids.
      const ids = new Set([...this.#prefixMatches('tasks', 'id', 'id', prefix, limit), ...this.#prefixMatches('tasks', 'task_id', 'id', prefix, limit)]);
      return [...ids].sort().slice(0, limit);
    });
  }

  taskHistory(id: string): Promise<TaskTransition[]> {
    return this.#read(() =>
      (this.#stmt(`SELECT ${HISTORY_COLUMNS} FROM task_history WHERE task_ref = ? ORDER BY id`).all(id) as HistoryRow[]).map(toTransition));
  }

  tasksForDelivery(deliveryId: string): Promise<Task[]> {
    return this.#read(() => (this.#stmt('SELECT * FROM tasks WHERE delivery_id = ? ORDER BY created_at, rowid').all(deliveryId) as TaskRow[]).map((r) => this.#toTask(r)));
  }

  notificationsForDelivery(deliveryId: string): Promise<Notification[]> {
    return this.#read(() =>
      (this.#stmt(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE delivery_id = ? ORDER BY id`).all(deliveryId) as NotificationRow[]).map(toNotification));
  }

  listJournal(filter: JournalFilter = {}): Promise<JournalRecord[]> {
    const { where, args } = whereOf(filterTerms(filter, FILTER_COLUMNS.journal));
    return this.#read(() => (this.#stmt(`SELECT ${JOURNAL_COLUMNS} FROM journal ${where} ORDER BY id DESC LIMIT ?`).all(...args) as JournalRow[]).map(toJournalRecord));
  }

  counts(): Promise<StoreCounts> {
    return this.#read(() => {
      const { deliveries, tasks } = zeroCounts();
      for (const r of this.#stmt('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state').all() as { state: DeliveryState; n: number }[]) deliveries[r.state] = r.n;
      for (const r of this.#stmt('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all() as { status: TaskStatus; n: number }[]) tasks[r.status] = r.n;
      const tasksHeld = (this.#stmt(`SELECT COUNT(*) AS n FROM tasks INDEXED BY tasks_held WHERE status = 'queued' AND blocked = 1`).get() as { n: number }).n;
      const oldest = (index: string, column: string, status: UnfinishedTaskStatus) =>
        (this.#stmt(`SELECT ${column} AS t FROM tasks INDEXED BY ${index} WHERE status = '${status}' ORDER BY ${column} LIMIT 1`).get() as { t: string } | undefined)?.t ?? null;
      const oldestTasks = {
        queued: oldest('tasks_queued_created', 'created_at', 'queued'),
        pending: oldest('tasks_pending_updated', 'updated_at', 'pending'),
        running: oldest('tasks_running_updated', 'updated_at', 'running'),
      };
      return { deliveries, tasks, tasksHeld, oldestTasks };
    });
  }

  // ---- recovery ---------------------------------------------------------

  storedDeliveryIds(deliveryIds: readonly string[]): Promise<string[]> {
    return this.#read(() => inSlices(deliveryIds, (list, slice) =>
      (this.#db.prepare(`SELECT delivery_id FROM deliveries WHERE delivery_id IN (${list})`).all(...slice) as { delivery_id: string }[]).map((r) => r.delivery_id)));
  }

  redeliveryRequests(deliveryIds: readonly string[]): Promise<RedeliveryRequest[]> {
    return this.#read(() => inSlices(deliveryIds, (list, slice) =>
      (this.#db.prepare(`SELECT * FROM redelivery_requests WHERE delivery_id IN (${list})`).all(...slice) as RedeliveryRow[]).map(toRedelivery)));
  }

  reserveRedelivery(intent: RedeliveryIntent, maxRequests: number): Promise<RedeliveryRequest | null> {
    return this.#write(() => {
      const now = iso(this.#now());
      const row = this.#stmt(`INSERT INTO redelivery_requests (delivery_id, hook, github_delivery_id, event, action, reason, requests,
          first_requested_at, last_requested_at, outcome, detail)
        SELECT @deliveryId, @hook, @githubDeliveryId, @event, @action, @reason, 1, @now, @now, 'pending', NULL WHERE @max >= 1
        ON CONFLICT (delivery_id) DO UPDATE SET hook = excluded.hook, github_delivery_id = excluded.github_delivery_id,
          event = excluded.event, action = excluded.action, reason = excluded.reason, requests = requests + 1,
          last_requested_at = excluded.last_requested_at, outcome = 'pending', detail = NULL
          WHERE redelivery_requests.requests < @max
        RETURNING *`).get({ ...intent, now, max: maxRequests }) as RedeliveryRow | undefined;
      return row ? toRedelivery(row) : null;
    });
  }

  settleRedelivery(deliveryId: string, outcome: Exclude<RedeliveryOutcome, 'pending'>, detail: string | null): Promise<void> {
    return this.#write(() => {
      this.#stmt('UPDATE redelivery_requests SET outcome = ?, detail = ? WHERE delivery_id = ?').run(outcome, detail, deliveryId);
    });
  }

  markRedeliveriesArrived(): Promise<RedeliveryRequest[]> {
    // One primary-key lookup in deliveries per request still waiting: the
    // waiting requests are few, the deliveries many.
    return this.#write(() => (this.#stmt(`UPDATE redelivery_requests
      SET arrived_at = (SELECT received_at FROM deliveries d WHERE d.delivery_id = redelivery_requests.delivery_id)
      WHERE arrived_at IS NULL AND EXISTS (SELECT 1 FROM deliveries d WHERE d.delivery_id = redelivery_requests.delivery_id)
      RETURNING *`).all() as RedeliveryRow[]).map(toRedelivery));
  }

  recoveryCheckpoint(hook: string): Promise<string | null> {
    return this.#read(() => (this.#stmt('SELECT checkpoint FROM recovery_checkpoints WHERE hook = ?').get(hook) as { checkpoint: string } | undefined)?.checkpoint ?? null);
  }

  advanceRecoveryCheckpoint(hook: string, at: string): Promise<void> {
    return this.#write(() => {
      this.#stmt(`INSERT INTO recovery_checkpoints (hook, checkpoint) VALUES (?, ?)
        ON CONFLICT (hook) DO UPDATE SET checkpoint = excluded.checkpoint WHERE excluded.checkpoint > recovery_checkpoints.checkpoint`).run(hook, at);
    });
  }

  recordHeartbeat(): Promise<string> {
    return this.#write(() => {
      const now = iso(this.#now());
      return (this.#stmt(`INSERT INTO heartbeat (id, alive_at) VALUES (1, ?)
        ON CONFLICT (id) DO UPDATE SET alive_at = MAX(alive_at, excluded.alive_at) RETURNING alive_at`).get(now) as { alive_at: string }).alive_at;
    });
  }

  lastHeartbeat(): Promise<string | null> {
    return this.#read(() => (this.#stmt('SELECT alive_at FROM heartbeat WHERE id = 1').get() as { alive_at: string } | undefined)?.alive_at ?? null);
  }

  recordRecoveryGap(gap: RecoveryGap): Promise<boolean> {
    return this.#write(() => {
      const known = this.#stmt('SELECT ends_at FROM recovery_gaps WHERE hook = ? AND starts_at = ?').get(gap.hook, gap.start) as { ends_at: string } | undefined;
      if (known) {
        if (gap.end > known.ends_at) this.#stmt('UPDATE recovery_gaps SET ends_at = ? WHERE hook = ? AND starts_at = ?').run(gap.end, gap.hook, gap.start);
        return false;
      }
      this.#stmt('INSERT INTO recovery_gaps (hook, starts_at, ends_at, reported_at) VALUES (?, ?, ?, ?)').run(gap.hook, gap.start, gap.end, iso(this.#now()));
      return true;
    });
  }

  // ---- shared settings --------------------------------------------------

  getSetting(key: string): Promise<string | undefined> {
    return this.#read(() => (this.#stmt('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value);
  }

  putSetting(key: string, value: string): Promise<void> {
    return this.#write(() => {
      this.#stmt(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`).run(key, value, iso(this.#now()));
    });
  }

  // ---- upkeep -----------------------------------------------------------

  purge(before: string, batch: number): Promise<number> {
    return this.#write(() => {
      const ids = (this.#stmt(`SELECT delivery_id FROM deliveries d WHERE received_at < ? AND state != 'queued'
        AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.delivery_id = d.delivery_id AND t.status NOT IN ('completed', 'failed', 'dead'))
        LIMIT ?`).all(before, batch) as { delivery_id: string }[]).map((r) => r.delivery_id);
      for (const id of ids) {
        this.#stmt('DELETE FROM task_history WHERE task_ref IN (SELECT id FROM tasks WHERE delivery_id = ?)').run(id);
        this.#stmt('DELETE FROM notifications WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM tasks WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM delivery_bodies WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM deliveries WHERE delivery_id = ?').run(id);
      }
      // Recovery's records are small and few (at most a few per missing
      // delivery): all of those older than the cut go at once.
      this.#stmt('DELETE FROM redelivery_requests WHERE last_requested_at < ?').run(before);
      this.#stmt('DELETE FROM recovery_gaps WHERE ends_at < ?').run(before);
      return ids.length;
    });
  }

  /**
   * Readiness. While the write gate is closed (a WAL restart, a few ms)
   * writes are held, not refused: writable, without waiting in SQLite's busy
   * handler for the checkpointer. A full disk lets a transaction start and
   * fails only the commit, so recent commit failures count too.
   */
  async health(): Promise<StoreHealth> {
    if (this.#closed) return { writable: false, reason: 'closed' };
    const failing = this.#committer.failing;
    if (failing) return { writable: false, reason: failing.code };
    if (!this.#gate.isOpen) return { writable: true };
    try {
      this.#db.transaction(() => this.#db.prepare('SELECT 1').get()).immediate();
      return { writable: true };
    } catch (err) {
      return { writable: false, reason: errorCodeOf(err) ?? (err as Error).message };
    }
  }

  async runExclusive<T>(name: string, fn: () => Promise<T>): Promise<ExclusiveOutcome<T>> {
    const holder = randomUUID();
    const take = () => this.#write(() => {
      const now = this.#now();
      return this.#stmt(`INSERT INTO locks (name, holder, until) VALUES (@name, @holder, @until)
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE locks.until <= @now OR locks.holder = @holder`)
        .run({ name, holder, until: now + LOCK_TTL_MS, now }).changes === 1;
    });
    if (!(await take())) return { ran: false };
    let timer: ClockTimer | undefined;
    const renew = () => {
      timer = this.#clock.setTimeout(() => {
        void take().catch(() => undefined).finally(() => {
          if (timer !== undefined) renew();
        });
      }, LOCK_TTL_MS / 3);
    };
    renew();
    try {
      return { ran: true, value: await fn() };
    } finally {
      const t = timer;
      timer = undefined;
      this.#clock.clearTimeout(t);
      if (!this.#closed) await this.#write(() => this.#stmt('DELETE FROM locks WHERE name = ? AND holder = ?').run(name, holder)).catch(() => undefined);
    }
  }

  /** This store as the source of `gitbridge store copy` (read-only use). */
  copySource(): CopySource {
    return createCopySource(this.#db);
  }

  schemaVersion(): Promise<number> {
    return this.#read(() => Math.max(0, ...this.#appliedVersions()));
  }

  async flush(): Promise<void> {
    this.#committer.flush();
    this.#writes.flush();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#committer.flush();
    this.#writes.flush();
    this.#closed = true;
    // The thread's connection first: once it has exited, no file of the store is touched but by ours.
    this.#closing = (async () => {
      await this.#checkpointer?.stop();
      this.#checkpointer = undefined;
      if (this.#db.open) this.#db.close();
    })();
    return this.#closing;
  }
}
