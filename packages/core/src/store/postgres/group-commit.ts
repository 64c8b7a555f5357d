import type { NewDelivery } from '../contract.js';

type Outcome = 'stored' | 'duplicate';

interface Job {
  readonly d: NewDelivery;
  readonly resolve: (r: Outcome) => void;
  readonly reject: (e: unknown) => void;
}

/** Options of an {@link IngestBatcher}. */
export interface IngestBatcherOptions {
  /** Deliveries per transaction (default 512). */
  readonly maxBatch?: number;
  /** Transactions in flight at once (default 2): further deliveries wait and go in the next, larger batch. */
  readonly maxInflight?: number;
  /** Observes each batch: its size and how long it took, ms. */
  readonly onCommit?: (batchSize: number, durationMs: number) => void;
  /** True when an error says the database cannot commit now (then the rows are not retried one by one). */
  readonly unavailable: (err: unknown) => boolean;
}

/**
 * Group commit for ingest on PostgreSQL. Every delivery must be committed
 * before its 202 (GitHub never retries by itself), and a transaction per
 * request would pay a network round trip and a WAL flush each. Deliveries
 * that arrive in one turn of the event loop are committed together in one
 * transaction (one multi-row INSERT); while `maxInflight` transactions run,
 * new deliveries wait and join the next batch, so batches grow with the load
 * instead of queueing round trips. Every promise settles after the COMMIT.
 *
 * If a batch fails because of its rows (a value the database refuses), its
 * rows are committed one by one so that one bad row fails only its own
 * request; if it fails because the database cannot be reached or cannot
 * commit, every request of the batch fails at once (503, GitHub can
 * redeliver) instead of waiting for one connection attempt per row.
 */
export class IngestBatcher {
  readonly #commit: (batch: readonly NewDelivery[]) => Promise<Outcome[]>;
  readonly #maxBatch: number;
  readonly #maxInflight: number;
  readonly #onCommit: IngestBatcherOptions['onCommit'];
  readonly #unavailable: (err: unknown) => boolean;
  #pending: Job[] = [];
  #scheduled = false;
  readonly #inflight = new Set<Promise<void>>();

  /** @param commit commits a batch in ONE transaction and says for each row whether it was stored; commits nothing when it throws */
  constructor(commit: (batch: readonly NewDelivery[]) => Promise<Outcome[]>, options: IngestBatcherOptions) {
    this.#commit = commit;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#maxInflight = options.maxInflight ?? 2;
    this.#onCommit = options.onCommit;
    this.#unavailable = options.unavailable;
  }

  /** Queues a delivery for the next group commit. @returns its outcome, once committed */
  submit(d: NewDelivery): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ d, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#drain();
        });
      }
    });
  }

  /** Starts whatever is queued now and waits until nothing is in flight (shutdown). */
  async flush(): Promise<void> {
    this.#drain(Infinity);
    while (this.#inflight.size > 0) {
      await Promise.all(this.#inflight);
      this.#drain(Infinity);
    }
  }

  #drain(maxInflight = this.#maxInflight): void {
    while (this.#pending.length > 0 && this.#inflight.size < maxInflight) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      const p: Promise<void> = this.#run(batch).finally(() => {
        this.#inflight.delete(p);
        this.#drain();
      });
      this.#inflight.add(p);
    }
  }

  async #run(batch: Job[]): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.#commit(batch.map((j) => j.d));
      batch.forEach((j, i) => j.resolve(outcomes[i]!));
    } catch (err) {
      if (batch.length === 1 || this.#unavailable(err)) {
        for (const j of batch) j.reject(err);
      } else {
        for (const j of batch) {
          try {
            j.resolve((await this.#commit([j.d]))[0]!);
          } catch (e) {
            j.reject(e);
          }
        }
      }
    }
    this.#onCommit?.(batch.length, performance.now() - started);
  }
}
