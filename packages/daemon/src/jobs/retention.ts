import type { Logger } from 'pino';
import type { Clock, Store } from '@gitbridge/core';
import { every } from './periodic.js';

/** Deliveries deleted per transaction: small, so that ingest keeps going during a large purge. */
const BATCH = 100;

/**
 * Retention (GITBRIDGE_RETENTION_DAYS): once a minute after start, then
 * hourly, deletes finished deliveries older than the retention with their
 * bodies, tasks, history and notifications (the journal is kept), in
 * batches of {@link BATCH} with a turn of the event loop between them. With
 * several daemons on one store it runs on one node at a time (the store's
 * singleton lock `retention`).
 *
 * @returns a function that stops it
 */
export function startRetention(deps: { store: Store; clock: Clock; log: Logger; retentionDays: number; stopping: () => boolean }): () => void {
  const { store, clock, log } = deps;
  return every(clock, 60_000, 3_600_000, async () => {
    if (deps.stopping()) return;
    const before = new Date(clock.now() - deps.retentionDays * 86_400_000).toISOString();
    let deleted = 0;
    try {
      await store.runExclusive('retention', async () => {
        for (;;) {
          await new Promise<void>((r) => setImmediate(r));
          if (deps.stopping()) break;
          const n = await store.purge(before, BATCH);
          deleted += n;
          if (n < BATCH) break;
        }
      });
    } catch (err) {
      if (!deps.stopping()) log.warn({ err: { message: (err as Error).message } }, 'retention purge failed; will try again');
    }
    if (deleted > 0 && !deps.stopping()) log.info({ deleted, before }, 'retention: old deliveries deleted');
  });
}
