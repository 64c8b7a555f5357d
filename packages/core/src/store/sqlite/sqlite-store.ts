import { existsSync, mkdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { startBackgroundCheckpointer, type BackgroundCheckpointer } from './checkpointer.js';
import { WriteGate } from './write-gate.js';
import type { JournalEntry, TaskDraft } from '../../routing/rules.js';

/** File name of the store inside the data directory. */
export const STORE_FILE = 'gitbridge.db';

/** The schema version this code reads and writes: the newest migration. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/** Default {@link StoreOptions.walRestartFrames}. */
const DEFAULT_WAL_RESTART_FRAMES = 65536;

/**
 * Free disk space a migration needs, as a multiple of the store's size
 * (database file plus WAL), where it copies data. Migration 4 copies every
 * body into a new table, then rebuilds `deliveries`, all in one transaction
 * whose pages sit in the WAL until the checkpoint: measured peak about 3.3×.
 */
const MIGRATION_SPACE_FACTOR: Readonly<Record<number, number>> = { 4: 3.5 };

/** Delivery states in the work queue. */
export type DeliveryState = 'queued' | 'processed' | 'ignored' | 'dead';

/** Task states (DESIGN §5): `queued` → `pending` → `running` → `completed` | `failed`; `dead` when retries are exhausted. */
export type TaskStatus = 'queued' | 'pending' | 'running' | 'completed' | 'failed' | 'dead';

/** All task states, in lifecycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'pending', 'running', 'completed', 'failed', 'dead'];

const STATUS_RANK: Record<TaskStatus, number> = { queued: 0, pending: 1, running: 2, completed: 3, failed: 3, dead: 3 };

/** True for states that never change again. */
export function isTerminal(s: TaskStatus): boolean {
  return STATUS_RANK[s] === 3;
}

/** A delivery to store, as accepted by the webhook route. */
export interface NewDelivery {
  readonly deliveryId: string;
  readonly event: string;
  readonly action: string | null;
  readonly hookId: string | null;
  readonly repo: string | null;
  readonly repoId: number | null;
  readonly installationId: number | null;
  /** ISO-8601. */
  readonly receivedAt: string;
  readonly contentType: string;
  /** Request headers worth keeping for replay (signature headers removed). */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body exactly as received. */
  readonly body: Uint8Array;
  readonly signatureSlot: number | null;
  readonly sourceIp: string | null;
  /** `queued` for the worker, `processed` for deliveries that need no work (`ping`). */
  readonly state: 'queued' | 'processed';
  readonly outcome: string | null;
  /** Delivery id this one replays, if any. */
  readonly replayOf?: string | null;
}

/** A stored delivery row. `body` is the raw bytes. */
export interface DeliveryRow {
  readonly delivery_id: string;
  readonly event: string;
  readonly action: string | null;
  readonly hook_id: string | null;
  readonly repo: string | null;
  readonly repo_id: number | null;
  readonly installation_id: number | null;
  readonly received_at: string;
  readonly content_type: string;
  readonly headers: string;
  readonly body: Buffer;
  readonly size: number;
  readonly signature_slot: number | null;
  readonly source_ip: string | null;
  readonly state: DeliveryState;
  readonly outcome: string | null;
  readonly attempts: number;
  readonly next_attempt_at: number;
  readonly lease_until: number | null;
  readonly last_error: string | null;
  readonly processed_at: string | null;
  readonly replay_of: string | null;
}

/** A stored delivery row without its body. */
export type DeliveryMeta = Omit<DeliveryRow, 'body'>;

/** A stored task row. `id` is GitBridge's id; `task_id` the MAS's (null until accepted). */
export interface TaskRow {
  readonly id: string;
  readonly task_id: string | null;
  readonly delivery_id: string;
  readonly idempotency_key: string;
  readonly task_type: string;
  readonly priority: string;
  readonly rule: string;
  readonly repo: string | null;
  /** JSON of the task payload sent to the MAS. */
  readonly payload: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  /** ms since epoch. */
  readonly next_attempt_at: number;
  readonly lease_until: number | null;
  readonly last_error: string | null;
  readonly result: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

/** One task state transition. */
export interface TaskHistoryRow {
  readonly id: number;
  readonly task_ref: string;
  readonly from_status: TaskStatus | null;
  readonly to_status: TaskStatus;
  readonly at: string;
  /** `gitbridge`, `mas`, `mas-callback`, `operator`. */
  readonly source: string;
  readonly detail: string | null;
}

/** A pending chat notification (outbox row). */
export interface NotificationRow {
  readonly id: number;
  readonly delivery_id: string;
  readonly task_ref: string | null;
  readonly channel: string;
  readonly text: string;
  readonly url: string | null;
  readonly status: 'pending' | 'sent' | 'failed' | 'skipped';
  readonly attempts: number;
}

/** Filters for {@link Store.listTasks}. */
export interface TaskFilter {
  readonly status?: TaskStatus;
  readonly repo?: string;
  readonly type?: string;
  /** ISO-8601 lower bound on `created_at`. */
  readonly since?: string;
  /** Default 100. */
  readonly limit?: number;
}

/** Options for {@link Store.open}. */
export interface StoreOptions {
  /** Open read-only (the CLI). The file must exist. */
  readonly readonly?: boolean;
  /**
   * SQLite `synchronous` mode. `NORMAL` (default) in WAL mode is durable
   * against a process crash (the one GitHub's no-retry rule makes critical);
   * `FULL` also survives power loss at some cost in throughput.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** How long a connection waits for a lock, ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * Checkpoint the WAL on a background thread instead of inside whichever
   * commit crosses the threshold (the daemon: a checkpoint copies pages and
   * fsyncs, which would stall the event loop in the middle of a group commit).
   * If the thread fails, the connection goes back to automatic checkpoints.
   * Default false.
   */
  readonly backgroundCheckpoint?: boolean;
  /**
   * With `backgroundCheckpoint`: WAL size, in frames (one page, 4 KB, each),
   * at which the checkpointer pauses the writers of this connection
   * ({@link Store.gate}) and restarts the WAL. Default 65536 (256 MB): at
   * full ingest (about 100 MB/s of WAL) that is a pause every few seconds;
   * a quarter of it paused writers 3-4 times a second and raised the p99.
   */
  readonly walRestartFrames?: number;
  /** With `backgroundCheckpoint`: ms between passive checkpoints (default 100). */
  readonly checkpointIntervalMs?: number;
  /** With `backgroundCheckpoint`: called with each checkpoint error (an I/O error, a full disk), so it can be logged. */
  readonly onCheckpointError?: (err: { message: string; code?: string }) => void;
  /**
   * Apply pending migrations when opening writable (default true). Tools that
   * write to a store a daemon owns (the CLI) pass false, so that only the
   * daemon migrates its schema.
   */
  readonly migrate?: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The SQLite tracking store (DESIGN §6): deliveries with their raw bodies,
 * the work queue, tasks and their history, the journal and the notification
 * outbox. One file, WAL mode, versioned migrations. All methods are
 * synchronous (better-sqlite3); errors are SqliteError with `code` such as
 * `SQLITE_BUSY`, `SQLITE_FULL`, `SQLITE_READONLY`.
 */
export class Store {
  readonly db: Db;
  readonly path: string;
  /**
   * Closed while the background checkpointer restarts the WAL (only with
   * `backgroundCheckpoint`; otherwise always open). Writers on the event
   * loop that can wait (group commits, worker claims) check it first.
   */
  readonly gate = new WriteGate();
  readonly #stmts = new Map<string, Statement>();
  #checkpointer: BackgroundCheckpointer | undefined;

  private constructor(db: Db, path: string) {
    this.db = db;
    this.path = path;
  }

  /**
   * Opens (and, unless read-only, creates and migrates) the store in `dataDir`.
   *
   * @param dataDir directory holding `gitbridge.db`; created when missing
   * @throws SqliteError when the file cannot be opened; Error when read-only and missing
   */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    const path = join(dataDir, STORE_FILE);
    if (!options.readonly) mkdirSync(dataDir, { recursive: true });
    const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
      db.pragma('foreign_keys = ON');
    }
    const store = new Store(db, path);
    if (!options.readonly && options.migrate !== false) store.#migrate();
    if (!options.readonly && options.backgroundCheckpoint) {
      db.pragma('wal_autocheckpoint = 0');
      // When the WAL starts over, the first commit truncates the file to
      // journal_size_limit. Truncating a few hundred MB takes tens of ms on
      // the event loop (measured: 70 ms stalls), so the limit sits above the
      // restart size: the file is reused, and only a WAL that a long reader
      // made grow far beyond it is cut back, once.
      const restartFrames = options.walRestartFrames ?? DEFAULT_WAL_RESTART_FRAMES;
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`journal_size_limit = ${Math.ceil(restartFrames * 1.25) * pageSize}`);
      store.#checkpointer = startBackgroundCheckpointer(path, {
        restartFrames,
        ...(options.checkpointIntervalMs !== undefined ? { intervalMs: options.checkpointIntervalMs } : {}),
        onPause: (go) => {
          store.gate.close();
          go();
        },
        onResume: () => store.gate.open(),
        ...(options.onCheckpointError ? { onError: options.onCheckpointError } : {}),
        onFailure: () => {
          if (db.open) db.pragma('wal_autocheckpoint = 1000');
        },
      });
    }
    return store;
  }

  #migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
    const applied = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    const known = SCHEMA_VERSION;
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      this.db.close();
      throw new Error(`${this.path}: store schema version ${newest} is newer than this GitBridge knows (${known}); upgrade GitBridge or restore a backup`);
    }
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      this.#checkSpaceFor(m.version);
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }).immediate();
    }
  }

  /**
   * Refuses to start a migration that copies the store's data when the disk
   * cannot hold the copy: a migration that runs out of space midway rolls
   * back, but leaves the disk full for everything else.
   *
   * @throws Error naming the space needed and the space free
   */
  #checkSpaceFor(version: number): void {
    const factor = MIGRATION_SPACE_FACTOR[version];
    if (!factor) return;
    const size = [this.path, `${this.path}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
    if (size < 16 * 1024 * 1024) return; // small stores: not worth a statfs (and some file systems report nothing useful)
    const fs = statfsSync(dirname(this.path));
    const free = fs.bavail * fs.bsize;
    const needed = Math.ceil(size * factor);
    if (free >= needed) return;
    const mb = (n: number) => `${Math.ceil(n / (1024 * 1024))} MB`;
    this.db.close();
    throw new Error(`${this.path}: schema migration ${version} copies the stored deliveries and needs about ${mb(needed)} free on this disk, ` +
      `but ${mb(free)} are free; free some space (or delete old deliveries with a lower GITBRIDGE_RETENTION_DAYS on the previous version) and start again`);
  }

  /** The highest applied migration version. */
  schemaVersion(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  #stmt(sql: string): Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /**
   * Inserts a batch of deliveries in ONE transaction (group commit). A
   * delivery id already stored is a duplicate (a GitHub redelivery, or the
   * same event through a repository and an organization hook) and is left
   * untouched. Either the whole batch commits or it throws and nothing does.
   *
   * @returns per input, `stored` or `duplicate`
   * @throws SqliteError when the transaction cannot commit (disk full, read-only, locked past the busy timeout)
   */
  insertDeliveries(batch: readonly NewDelivery[], nowMs: number = Date.now()): ('stored' | 'duplicate')[] {
    const insert = this.#stmt(`INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id, received_at,
      content_type, headers, size, signature_slot, source_ip, state, outcome, next_attempt_at, processed_at, replay_of)
      VALUES (@deliveryId, @event, @action, @hookId, @repo, @repoId, @installationId, @receivedAt, @contentType, @headers,
      @size, @signatureSlot, @sourceIp, @state, @outcome, @nextAttemptAt, @processedAt, @replayOf)
      ON CONFLICT (delivery_id) DO NOTHING`);
    const insertBody = this.#stmt('INSERT INTO delivery_bodies (delivery_id, body) VALUES (?, ?)');
    return this.db.transaction(() =>
      batch.map((d) => {
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
        });
        if (r.changes !== 1) return 'duplicate' as const;
        insertBody.run(d.deliveryId, Buffer.from(d.body.buffer, d.body.byteOffset, d.body.byteLength));
        return 'stored' as const;
      }),
    ).immediate();
  }

  /**
   * Claims up to `limit` queued deliveries that are due, under a lease of
   * `leaseMs`: a worker that dies loses the lease and the delivery is claimed
   * again. Each claim counts as an attempt.
   */
  claimDeliveries(limit: number, leaseMs: number, nowMs: number = Date.now()): DeliveryRow[] {
    const rows = this.#stmt(`UPDATE deliveries SET lease_until = @lease, attempts = attempts + 1
      WHERE delivery_id IN (SELECT delivery_id FROM deliveries INDEXED BY deliveries_due WHERE state = 'queued' AND next_attempt_at <= @now
        AND (lease_until IS NULL OR lease_until <= @now) ORDER BY next_attempt_at LIMIT @limit)
      RETURNING *`).all({ lease: nowMs + leaseMs, now: nowMs, limit }) as DeliveryMeta[];
    return rows.map((r) => ({ ...r, body: this.#body(r.delivery_id) }));
  }

  #body(deliveryId: string): Buffer {
    const r = this.#stmt('SELECT body FROM delivery_bodies WHERE delivery_id = ?').get(deliveryId) as { body: Buffer } | undefined;
    return r?.body ?? Buffer.alloc(0);
  }

  /**
   * Records the processing of a claimed delivery in one transaction: its tasks
   * (state `queued`), their notifications, the journal entry, and the
   * delivery's new state (`processed` when tasks were created, `ignored` when no
   * rule matched). A task that already exists for (delivery, task type) is
   * kept, so processing twice never makes two tasks.
   *
   * @returns the ids of the tasks created
   */
  completeDelivery(
    deliveryId: string,
    drafts: readonly TaskDraft[],
    journal: JournalEntry,
    repo: string | null,
    nowMs: number = Date.now(),
  ): string[] {
    const now = iso(nowMs);
    return this.db.transaction(() => {
      const created: string[] = [];
      for (const draft of drafts) {
        const id = `gbt_${randomUUID()}`;
        const key = `${deliveryId}:${draft.taskType}`;
        const r = this.#stmt(`INSERT INTO tasks (id, delivery_id, idempotency_key, task_type, priority, rule, repo, payload, status,
          next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`)
          .run(id, deliveryId, key, draft.taskType, draft.priority, draft.rule, repo, JSON.stringify(draft.payload), nowMs, now, now);
        if (r.changes !== 1) continue;
        created.push(id);
        this.#history(id, null, 'queued', now, 'gitbridge', `rule ${draft.rule}`);
        if (draft.notify) {
          this.#stmt(`INSERT INTO notifications (delivery_id, task_ref, channel, text, url, status, next_attempt_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`).run(deliveryId, id, draft.notify.channel, draft.notify.text, draft.notify.url, nowMs, now, now);
        }
      }
      this.#stmt('INSERT INTO journal (delivery_id, type, action, repo, number, timestamp, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(deliveryId, journal.type, journal.action, journal.repo, journal.number, journal.timestamp, now);
      const state: DeliveryState = drafts.length > 0 ? 'processed' : 'ignored';
      this.#stmt(`UPDATE deliveries SET state = ?, outcome = ?, lease_until = NULL, last_error = NULL, processed_at = ? WHERE delivery_id = ?`)
        .run(state, drafts.length > 0 ? 'tasks' : 'ignored', now, deliveryId);
      return created;
    }).immediate();
  }

  /** Records a processing failure: retry at `retryAtMs`, or `dead` when `retryAtMs` is null. */
  failDelivery(deliveryId: string, error: string, retryAtMs: number | null): void {
    if (retryAtMs === null) {
      this.#stmt(`UPDATE deliveries SET state = 'dead', outcome = 'dead', lease_until = NULL, last_error = ? WHERE delivery_id = ?`).run(error, deliveryId);
    } else {
      this.#stmt('UPDATE deliveries SET next_attempt_at = ?, lease_until = NULL, last_error = ? WHERE delivery_id = ?').run(retryAtMs, error, deliveryId);
    }
  }

  /**
   * Stores an explicit replay of a stored delivery: a new delivery row
   * `<original id>:replay:<n>` with the original's headers and exact body,
   * `replay_of` set, queued for processing. Passes de-duplication on purpose;
   * its tasks get their own idempotency keys, so the MAS creates new tasks.
   *
   * @returns the replay's delivery id, or null when the original is unknown
   */
  insertReplay(originalId: string, nowMs: number = Date.now()): string | null {
    return this.db.transaction(() => {
      const o = this.getDelivery(originalId);
      if (!o) return null;
      // The first unused number: counting alone could collide with a replay
      // that retention left behind, or with a delivery id that looks like one.
      let n = (this.#stmt('SELECT COUNT(*) AS n FROM deliveries WHERE replay_of = ?').get(originalId) as { n: number }).n + 1;
      while (this.#stmt('SELECT 1 FROM deliveries WHERE delivery_id = ?').get(`${originalId}:replay:${n}`)) n++;
      const replayId = `${originalId}:replay:${n}`;
      const [outcome] = this.insertDeliveries([{
        deliveryId: replayId, event: o.event, action: o.action, hookId: o.hook_id, repo: o.repo, repoId: o.repo_id, installationId: o.installation_id,
        receivedAt: iso(nowMs), contentType: o.content_type, headers: JSON.parse(o.headers) as Record<string, string>, body: o.body,
        signatureSlot: o.signature_slot, sourceIp: null, state: o.event === 'ping' ? 'processed' : 'queued', outcome: o.event === 'ping' ? 'ping' : null, replayOf: originalId,
      }], nowMs);
      if (outcome !== 'stored') throw new Error(`replay id ${replayId} could not be stored`);
      return replayId;
    }).immediate();
  }

  /** Puts a dead (or any) delivery back in the queue with a fresh attempt count. @returns false when unknown */
  requeueDelivery(deliveryId: string, nowMs: number = Date.now()): boolean {
    return this.#stmt(`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, lease_until = NULL WHERE delivery_id = ? AND state = 'dead'`)
      .run(nowMs, deliveryId).changes === 1;
  }

  #history(taskRef: string, from: TaskStatus | null, to: TaskStatus, at: string, source: string, detail: string | null): void {
    this.#stmt('INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail) VALUES (?, ?, ?, ?, ?, ?)').run(taskRef, from, to, at, source, detail);
  }

  /** Claims up to `limit` queued tasks that are due, under a lease; each claim counts as an attempt. */
  claimTasks(limit: number, leaseMs: number, nowMs: number = Date.now()): TaskRow[] {
    return this.#stmt(`UPDATE tasks SET lease_until = @lease, attempts = attempts + 1
      WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_due WHERE status = 'queued' AND next_attempt_at <= @now
        AND (lease_until IS NULL OR lease_until <= @now) ORDER BY next_attempt_at LIMIT @limit)
      RETURNING *`).all({ lease: nowMs + leaseMs, now: nowMs, limit }) as TaskRow[];
  }

  /** The MAS accepted the task: record its task id, status `pending`. */
  markTaskSubmitted(id: string, masTaskId: string, nowMs: number = Date.now()): void {
    const now = iso(nowMs);
    this.db.transaction(() => {
      const r = this.#stmt(`UPDATE tasks SET task_id = ?, status = 'pending', lease_until = NULL, last_error = NULL, updated_at = ? WHERE id = ? AND status = 'queued'`)
        .run(masTaskId, now, id);
      if (r.changes === 1) this.#history(id, 'queued', 'pending', now, 'mas', `task_id ${masTaskId}`);
    }).immediate();
  }

  /**
   * A retryable submission failure: try again at `retryAtMs`. With
   * `refundAttempt`, the attempt does not count towards the task's limit
   * (a probe while the MAS is known to be down says nothing about the task).
   */
  retryTaskLater(id: string, error: string, retryAtMs: number, nowMs: number = Date.now(), options: { refundAttempt?: boolean } = {}): void {
    this.#stmt(`UPDATE tasks SET next_attempt_at = ?, lease_until = NULL, last_error = ?, updated_at = ?, attempts = MAX(0, attempts - ?) WHERE id = ? AND status = 'queued'`)
      .run(retryAtMs, error, iso(nowMs), options.refundAttempt ? 1 : 0, id);
  }

  /**
   * Makes every queued task due now (the MAS recovered: drain the backlog
   * instead of waiting out each task's backoff).
   * @returns how many tasks were released
   */
  releaseTaskBackoff(nowMs: number = Date.now()): number {
    return this.#stmt(`UPDATE tasks SET next_attempt_at = ? WHERE status = 'queued' AND next_attempt_at > ?`).run(nowMs, nowMs).changes;
  }

  /** Ends a queued task as `failed` (permanent MAS rejection) or `dead` (retries exhausted), keeping the reason. */
  endTask(id: string, status: 'failed' | 'dead', reason: string, source: string, nowMs: number = Date.now()): void {
    const now = iso(nowMs);
    this.db.transaction(() => {
      const row = this.#stmt('SELECT status FROM tasks WHERE id = ?').get(id) as { status: TaskStatus } | undefined;
      if (!row || isTerminal(row.status)) return;
      this.#stmt('UPDATE tasks SET status = ?, lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?').run(status, reason, now, id);
      this.#history(id, row.status, status, now, source, reason);
    }).immediate();
  }

  /**
   * Puts a `dead` or `failed` task back to `queued` for another round of
   * attempts. A task the MAS had accepted gets a new idempotency key
   * (`<key>:retry:<n>`) so that the MAS runs it again.
   * @returns false when unknown or not retriable
   */
  retryTask(ref: string, nowMs: number = Date.now()): boolean {
    const now = iso(nowMs);
    return this.db.transaction(() => {
      const row = this.#stmt('SELECT id, status, task_id, idempotency_key FROM tasks WHERE id = ? OR task_id = ?').get(ref, ref) as
        | { id: string; status: TaskStatus; task_id: string | null; idempotency_key: string }
        | undefined;
      if (!row || (row.status !== 'dead' && row.status !== 'failed')) return false;
      // A task the MAS accepted (and then failed) needs a new idempotency key,
      // or the MAS would answer with the old, finished task.
      let key = row.idempotency_key;
      if (row.task_id !== null) {
        const n = (this.#stmt(`SELECT COUNT(*) AS n FROM task_history WHERE task_ref = ? AND source = 'operator'`).get(row.id) as { n: number }).n + 1;
        key = `${key.split(':retry:')[0]}:retry:${n}`;
      }
      this.#stmt(`UPDATE tasks SET status = 'queued', task_id = NULL, idempotency_key = ?, attempts = 0, next_attempt_at = ?, lease_until = NULL, updated_at = ? WHERE id = ?`).run(key, nowMs, now, row.id);
      this.#history(row.id, row.status, 'queued', now, 'operator', 'retry');
      return true;
    }).immediate();
  }

  /**
   * Applies a MAS status update. States only move forward; terminal states
   * are final; a duplicate or late update changes nothing.
   *
   * @returns `unknown` when no task has this MAS task id, `ignored` when it does not move the task forward, else `applied`
   */
  applyCallback(
    masTaskId: string,
    status: 'running' | 'completed' | 'failed',
    detail: { result?: unknown; error?: unknown },
    nowMs: number = Date.now(),
  ): { outcome: 'unknown' } | { outcome: 'ignored' | 'applied'; task: TaskRow } {
    const now = iso(nowMs);
    return this.db.transaction(() => {
      const task = this.#stmt('SELECT * FROM tasks WHERE task_id = ?').get(masTaskId) as TaskRow | undefined;
      if (!task) return { outcome: 'unknown' as const };
      if (isTerminal(task.status) || STATUS_RANK[status] <= STATUS_RANK[task.status]) return { outcome: 'ignored' as const, task };
      const result = detail.result === undefined ? task.result : JSON.stringify(detail.result);
      const error = detail.error === undefined ? task.last_error : typeof detail.error === 'string' ? detail.error : JSON.stringify(detail.error);
      this.#stmt('UPDATE tasks SET status = ?, result = ?, last_error = ?, updated_at = ? WHERE id = ?').run(status, result, error, now, task.id);
      this.#history(task.id, task.status, status, now, 'mas-callback', status === 'failed' ? error : null);
      return { outcome: 'applied' as const, task: { ...task, status } };
    }).immediate();
  }

  /** Lists tasks, newest first. */
  listTasks(filter: TaskFilter = {}): TaskRow[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: filter.limit ?? 100 };
    if (filter.status) (where.push('status = @status'), (args.status = filter.status));
    if (filter.repo) (where.push('repo = @repo'), (args.repo = filter.repo));
    if (filter.type) (where.push('task_type = @type'), (args.type = filter.type));
    if (filter.since) (where.push('created_at >= @since'), (args.since = filter.since));
    return this.db.prepare(`SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT @limit`).all(args) as TaskRow[];
  }

  /** One task by GitBridge id or MAS task id. */
  getTask(ref: string): TaskRow | undefined {
    return this.#stmt('SELECT * FROM tasks WHERE id = ? OR task_id = ?').get(ref, ref) as TaskRow | undefined;
  }

  /** A task's transitions, oldest first. */
  taskHistory(taskRef: string): TaskHistoryRow[] {
    return this.#stmt('SELECT * FROM task_history WHERE task_ref = ? ORDER BY id').all(taskRef) as TaskHistoryRow[];
  }

  /** Tasks created from a delivery. */
  tasksForDelivery(deliveryId: string): TaskRow[] {
    return this.#stmt('SELECT * FROM tasks WHERE delivery_id = ? ORDER BY created_at, rowid').all(deliveryId) as TaskRow[];
  }

  /** One delivery, with its raw body (up to the payload limit, 25 MB: use {@link Store.getDeliveryMeta} when the body is not needed). */
  getDelivery(deliveryId: string): DeliveryRow | undefined {
    const row = this.getDeliveryMeta(deliveryId);
    return row && { ...row, body: this.#body(deliveryId) };
  }

  /** One delivery without its body (the body lives in `delivery_bodies`). */
  getDeliveryMeta(deliveryId: string): DeliveryMeta | undefined {
    return this.#stmt('SELECT * FROM deliveries WHERE delivery_id = ?').get(deliveryId) as DeliveryMeta | undefined;
  }

  /** Lists deliveries (without bodies), newest first. */
  listDeliveries(limit = 100): DeliveryMeta[] {
    return this.#stmt('SELECT * FROM deliveries ORDER BY received_at DESC, rowid DESC LIMIT ?').all(limit) as DeliveryMeta[];
  }

  /** Journal entries, newest first. */
  listJournal(limit = 100): (JournalEntry & { delivery_id: string; recorded_at: string })[] {
    return this.#stmt('SELECT delivery_id, type, action, repo, number, timestamp, recorded_at FROM journal ORDER BY id DESC LIMIT ?').all(limit) as (JournalEntry & {
      delivery_id: string;
      recorded_at: string;
    })[];
  }

  /** Claims pending notifications that are due, under a lease. */
  claimNotifications(limit: number, leaseMs: number, nowMs: number = Date.now()): NotificationRow[] {
    return this.#stmt(`UPDATE notifications SET lease_until = @lease, attempts = attempts + 1
      WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= @now
        AND (lease_until IS NULL OR lease_until <= @now) ORDER BY id LIMIT @limit)
      RETURNING id, delivery_id, task_ref, channel, text, url, status, attempts`).all({ lease: nowMs + leaseMs, now: nowMs, limit }) as NotificationRow[];
  }

  /** Records a notification's outcome; `retryAtMs` schedules another attempt. */
  settleNotification(id: number, status: 'sent' | 'failed' | 'skipped' | 'pending', error: string | null, retryAtMs: number | null, nowMs: number = Date.now()): void {
    this.#stmt('UPDATE notifications SET status = ?, last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at), lease_until = NULL, updated_at = ? WHERE id = ?')
      .run(status, error, retryAtMs, iso(nowMs), id);
  }

  /** Notifications of a delivery (for tests and `deliveries show`). */
  notificationsForDelivery(deliveryId: string): NotificationRow[] {
    return this.#stmt('SELECT id, delivery_id, task_ref, channel, text, url, status, attempts FROM notifications WHERE delivery_id = ? ORDER BY id').all(deliveryId) as NotificationRow[];
  }

  /** Deliveries waiting to be processed (the `gitbridge_event_queue_depth` gauge). */
  queueDepth(): number {
    return (this.#stmt(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'queued'`).get() as { n: number }).n;
  }

  /** Task counts by status (every status present, zero when none). */
  taskCounts(): Record<TaskStatus, number> {
    const out = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const r of this.#stmt('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all() as { status: TaskStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  /** Delivery counts by state. */
  deliveryCounts(): Record<DeliveryState, number> {
    const out: Record<DeliveryState, number> = { queued: 0, processed: 0, ignored: 0, dead: 0 };
    for (const r of this.#stmt('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state').all() as { state: DeliveryState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  /** Earliest `next_attempt_at` (ms) among queued work of a kind, or null when none is waiting. */
  nextDue(kind: 'deliveries' | 'tasks' | 'notifications'): number | null {
    const sql = {
      deliveries: `SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS t FROM deliveries INDEXED BY deliveries_due WHERE state = 'queued'`,
      tasks: `SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS t FROM tasks INDEXED BY tasks_due WHERE status = 'queued'`,
      notifications: `SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS t FROM notifications WHERE status = 'pending'`,
    }[kind];
    return (this.#stmt(sql).get() as { t: number | null }).t;
  }

  /**
   * Retention: deletes deliveries received before `beforeIso` that are done
   * (not queued) and whose tasks are all final, with those tasks, their
   * history and notifications. The journal is kept. Runs in batches of
   * `batch` deliveries per transaction so the writer is never held for long.
   *
   * @returns how many deliveries were deleted
   */
  purge(beforeIso: string, batch = 500): number {
    let total = 0;
    for (;;) {
      const n = this.purgeBatch(beforeIso, batch);
      total += n;
      if (n < batch) return total;
    }
  }

  /**
   * One transaction of {@link Store.purge}: deletes up to `batch` deliveries.
   * The daemon calls it with pauses between batches, so that retention never
   * holds the event loop or the writer for long.
   *
   * @returns how many deliveries were deleted (less than `batch` when done)
   */
  purgeBatch(beforeIso: string, batch = 500): number {
    return this.db.transaction(() => {
      const ids = (this.#stmt(`SELECT delivery_id FROM deliveries d WHERE received_at < ? AND state != 'queued'
        AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.delivery_id = d.delivery_id AND t.status NOT IN ('completed', 'failed', 'dead'))
        LIMIT ?`).all(beforeIso, batch) as { delivery_id: string }[]).map((r) => r.delivery_id);
      for (const id of ids) {
        this.#stmt('DELETE FROM task_history WHERE task_ref IN (SELECT id FROM tasks WHERE delivery_id = ?)').run(id);
        this.#stmt('DELETE FROM notifications WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM tasks WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM delivery_bodies WHERE delivery_id = ?').run(id);
        this.#stmt('DELETE FROM deliveries WHERE delivery_id = ?').run(id);
      }
      return ids.length;
    }).immediate();
  }

  /**
   * Checks that the store accepts a write (readiness). While the write gate
   * is closed (a WAL restart, a few ms) writes are held, not refused: true,
   * without waiting in SQLite's busy handler for the checkpointer.
   */
  writable(): boolean {
    if (!this.gate.isOpen) return true;
    try {
      this.db.transaction(() => this.db.prepare('SELECT 1').get()).immediate();
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the connection (checkpointing the WAL when it is the last one). */
  close(): void {
    this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    if (this.db.open) this.db.close();
  }
}
