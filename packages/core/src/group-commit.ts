import type { NewDelivery, Store } from './store.js';

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
  readonly #store: Store;
  readonly #maxBatch: number;
  readonly #onCommit: ((batchSize: number, durationMs: number) => void) | undefined;
  #pending: { d: NewDelivery; resolve: (r: 'stored' | 'duplicate') => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;

  /**
   * @param options `maxBatch` rows per transaction (default 512); `onCommit` observes each commit (batch size, duration in ms)
   */
  constructor(store: Store, options: { maxBatch?: number; onCommit?: (batchSize: number, durationMs: number) => void } = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#onCommit = options.onCommit;
  }

  /**
   * Queues a delivery for the next group commit.
   *
   * @returns `stored`, or `duplicate` when the delivery id was already stored
   * @throws (rejects with) the store's error when the batch could not commit
   */
  submit(d: NewDelivery): Promise<'stored' | 'duplicate'> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ d, resolve, reject });
      if (this.#pending.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const started = performance.now();
    let results: ('stored' | 'duplicate')[];
    try {
      results = this.#store.insertDeliveries(batch.map((b) => b.d));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      // One bad row must not fail the others: commit them one by one.
      for (const b of batch) {
        try {
          b.resolve(this.#store.insertDeliveries([b.d])[0]!);
        } catch (e) {
          b.reject(e);
        }
      }
      this.#onCommit?.(batch.length, performance.now() - started);
      return;
    }
    this.#onCommit?.(batch.length, performance.now() - started);
    batch.forEach((b, i) => b.resolve(results[i]!));
  }

  /** Commits whatever is queued now (shutdown). */
  flush(): void {
    this.#flush();
  }
}
