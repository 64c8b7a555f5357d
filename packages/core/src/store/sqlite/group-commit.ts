import type { Database } from 'better-sqlite3';
import type { WriteGate } from './write-gate.js';
import type { NewDelivery } from '../contract.js';
import { systemClock, type Clock } from '../../time/clock.js';

/**
 * The queue both group committers share: jobs queued in one turn of the
 * event loop are handed to `commit` together on the next `setImmediate`,
 * once the write gate (when given) is open; `maxBatch` queued jobs are
 * handed over at once while the gate is open.
 */
class TurnQueue<J> {
  #pending: J[] = [];
  #scheduled = false;

  constructor(
    private readonly commit: (jobs: J[]) => void,
    private readonly maxBatch: number,
    private readonly gate: WriteGate | undefined,
  ) {}

  push(job: J): void {
    this.#pending.push(job);
    const gate = this.gate;
    if (this.#pending.length >= this.maxBatch && (gate?.isOpen ?? true)) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => (gate ? gate.whenOpen(() => this.flush()) : this.flush()));
    }
  }

  /** Hands over whatever is queued now, gate or not. */
  flush(): void {
    this.#scheduled = false;
    const jobs = this.#pending;
    if (jobs.length === 0) return;
    this.#pending = [];
    this.commit(jobs);
  }
}

/**
 * Group commit for ingest. Committing every delivery before its 202 is
 * required (GitHub never retries by itself); one transaction per request caps
 * throughput at the fsync/commit rate. Requests that arrive in the same turn
 * of the event loop are queued and committed together in one transaction on
 * the next `setImmediate`, and every request's promise settles only after
 * that commit: no 202 is ever sent for an uncommitted row. If the batch
 * fails, its rows are committed one by one, so that one bad row fails only
 * its own request (answer 503); a row that did not commit is not marked as
 * seen, so GitHub's redelivery is processed.
 */
export class GroupCommitter {
  readonly #insert: (batch: readonly NewDelivery[]) => ('stored' | 'duplicate')[];
  readonly #clock: Clock;
  readonly #onCommit: ((batchSize: number, durationMs: number) => void) | undefined;
  readonly #queue: TurnQueue<{ d: NewDelivery; resolve: (r: 'stored' | 'duplicate') => void; reject: (e: unknown) => void }>;
  #failing: { code: string; sinceMs: number; lastMs: number } | null = null;

  /**
   * Set while commits fail: the SQLite error code (`SQLITE_FULL`,
   * `SQLITE_IOERR`, …) and since when (ms since epoch); null once a commit
   * succeeds again, or 10 s after the last failure (readiness reports it,
   * and a load balancer that stops sending must get a chance to try again).
   * A full disk lets every transaction start; only the commit fails.
   */
  get failing(): { readonly code: string; readonly sinceMs: number } | null {
    if (this.#failing && this.#clock.now() - this.#failing.lastMs > 10_000) this.#failing = null;
    return this.#failing;
  }

  #failed(err: unknown): void {
    const now = this.#clock.now();
    if (this.#failing) this.#failing.lastMs = now;
    else this.#failing = { code: String((err as { code?: string }).code ?? 'ERROR'), sinceMs: now, lastMs: now };
  }

  /**
   * @param insert commits a batch in ONE transaction, or throws and commits nothing
   * @param options `maxBatch` rows per transaction (default 512); `gate`: wait while it is closed;
   *   `onCommit` observes each commit (batch size, duration in ms); `clock` for the failing state
   */
  constructor(
    insert: (batch: readonly NewDelivery[]) => ('stored' | 'duplicate')[],
    options: { maxBatch?: number; gate?: WriteGate; onCommit?: (batchSize: number, durationMs: number) => void; clock?: Clock } = {},
  ) {
    this.#insert = insert;
    this.#clock = options.clock ?? systemClock;
    this.#onCommit = options.onCommit;
    this.#queue = new TurnQueue((batch) => this.#commit(batch), options.maxBatch ?? 512, options.gate);
  }

  /**
   * Queues a delivery for the next group commit.
   *
   * @returns `stored`, or `duplicate` when the delivery id was already stored
   * @throws (rejects with) the store's error when the batch could not commit
   */
  submit(d: NewDelivery): Promise<'stored' | 'duplicate'> {
    return new Promise((resolve, reject) => this.#queue.push({ d, resolve, reject }));
  }

  #commit(batch: { d: NewDelivery; resolve: (r: 'stored' | 'duplicate') => void; reject: (e: unknown) => void }[]): void {
    const started = performance.now();
    let results: ('stored' | 'duplicate')[];
    try {
      results = this.#insert(batch.map((b) => b.d));
    } catch (err) {
      if (batch.length === 1) {
        this.#failed(err);
        batch[0]!.reject(err);
        return;
      }
      // One bad row must not fail the others: commit them one by one.
      for (const b of batch) {
        try {
          b.resolve(this.#insert([b.d])[0]!);
          this.#failing = null;
        } catch (e) {
          this.#failed(e);
          b.reject(e);
        }
      }
      this.#onCommit?.(batch.length, performance.now() - started);
      return;
    }
    this.#failing = null;
    this.#onCommit?.(batch.length, performance.now() - started);
    batch.forEach((b, i) => b.resolve(results[i]!));
  }

  /** Commits whatever is queued now, gate or not (shutdown). */
  flush(): void {
    this.#queue.flush();
  }
}

/**
 * Group commit for the writes after ingest: task submissions recorded, MAS
 * callbacks applied, deliveries completed, notifications settled. Each of
 * these is a small transaction that touches the same few table and index
 * pages; committed one by one, every commit appends its own copy of those
 * 4 KB pages to the WAL (about 18–25 KB per callback, measured), and the
 * checkpoint has to copy them all again. `run(fn)` queues `fn`; all the
 * functions queued in one turn of the event loop run in ONE transaction on
 * the next `setImmediate`, each inside its own savepoint, so that a function
 * that throws rolls back only its own changes and rejects only its own
 * promise. Every promise settles after the COMMIT (a callback's `200` is never
 * sent before its state change is durable). If the COMMIT itself fails, or an
 * error makes SQLite abandon the whole transaction (disk full, I/O error),
 * every promise of the batch rejects with that error and nothing is written.
 */
export class TransactionBatcher {
  readonly #db: Database;
  readonly #queue: TurnQueue<{ fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }>;

  /**
   * @param db the store's connection
   * @param options `maxBatch` functions per transaction (default 256); `gate`: wait while it is closed
   */
  constructor(db: Database, options: { maxBatch?: number; gate?: WriteGate } = {}) {
    this.#db = db;
    this.#queue = new TurnQueue((batch) => this.#commit(batch), options.maxBatch ?? 256, options.gate);
  }

  /**
   * Queues `fn` (synchronous store calls only: no awaiting inside) for the
   * next batch transaction.
   *
   * @returns `fn`'s result, once the transaction that ran it has committed
   * @throws (rejects with) what `fn` threw, or the COMMIT's error
   */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject }));
  }

  /** Runs and commits whatever is queued now, gate or not (also used at shutdown, before the store closes). */
  flush(): void {
    this.#queue.flush();
  }

  #commit(batch: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[]): void {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#db.transaction(() => {
        for (const job of batch) {
          try {
            // A nested transaction function is a SAVEPOINT in better-sqlite3.
            outcomes.push({ ok: true, value: this.#db.transaction(job.fn)() });
          } catch (error) {
            // Some errors (SQLITE_FULL, SQLITE_IOERR, …) make SQLite roll back
            // the whole transaction, not just the savepoint: the earlier jobs'
            // changes are gone and later ones would run outside any
            // transaction. Stop, and fail the whole batch with that error.
            if (!this.#db.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      }).immediate();
    } catch (err) {
      for (const job of batch) job.reject(err);
      return;
    }
    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error);
    });
  }
}
