/**
 * Moving up from one machine: `gitbridge store copy --to <postgres url>`
 * copies a SQLite store into PostgreSQL. The SQLite engine reads batches
 * ({@link CopySource}), the PostgreSQL engine writes them ({@link CopyTarget}),
 * {@link copyStore} drives the two. Every record has a key the target keeps
 * (delivery id, task id, the journal's delivery id, entity, setting key): the
 * target inserts what it does not hold and brings up to date what changed in
 * the source since an earlier run, so a second run copies nothing twice, an
 * interrupted run resumes where it stopped, and a run after the old daemon
 * stopped brings over what it did meanwhile. What belongs to a record (a
 * delivery's body and notifications, a task's history) commits with it.
 * Recovery's own state comes last ({@link CopyRecovery}).
 */
import type { Delivery, IsoTime, JournalRecord, Notification, RecoveryGap, RedeliveryRequest, Task, TaskTransition } from './contract.js';

/** A delivery as copied: the stored row, its raw body and when it is next due. */
export interface CopyDelivery {
  readonly delivery: Delivery;
  readonly body: Buffer;
  /** When a queued delivery is due (leases are not copied: an item under a lease is due when it ends). */
  readonly nextAttemptAt: IsoTime;
  /** Its notifications (they go with the delivery). */
  readonly notifications: readonly CopyNotification[];
}

/** A notification as copied, with the outbox fields the domain type leaves out. */
export interface CopyNotification extends Notification {
  readonly lastError: string | null;
  readonly nextAttemptAt: IsoTime;
  readonly createdAt: IsoTime;
  readonly updatedAt: IsoTime;
}

/** A task as copied, with its whole history. */
export interface CopyTask {
  readonly task: Task;
  readonly history: readonly TaskTransition[];
}

/** One page of a copy: the records and the cursor after them (null when there is no more). */
export interface CopyPage<T> {
  readonly items: readonly T[];
  readonly next: number | null;
}

/** The store copied from (SQLite). Cursors are positions in creation order. */
export interface CopySource {
  /** How many of each there are, for progress. */
  totals(): Promise<{ readonly deliveries: number; readonly tasks: number; readonly journal: number }>;
  deliveries(after: number, limit: number): Promise<CopyPage<CopyDelivery>>;
  /** Tasks in the order they were created (the per-entity order depends on it). */
  tasks(after: number, limit: number): Promise<CopyPage<CopyTask>>;
  journal(after: number, limit: number): Promise<CopyPage<JournalRecord>>;
  entities(): Promise<readonly { readonly entity: string; readonly lastEventAt: IsoTime }[]>;
  settings(): Promise<readonly { readonly key: string; readonly value: string }[]>;
  recovery(): Promise<CopyRecovery>;
}

/**
 * Recovery's own state (docs/recovery.md): without it, the first pass on the
 * new store would ask GitHub again for deliveries already requested 3 times,
 * and would look back only GITBRIDGE_RECOVER_LOOKBACK_S instead of to the
 * hook's checkpoint or the old daemon's last sign of life (a move that kept
 * the daemons down longer than that would lose what GitHub sent meanwhile).
 */
export interface CopyRecovery {
  /** Every redelivery request, keyed by delivery id: the later `lastRequestedAt` wins. */
  readonly requests: readonly RedeliveryRequest[];
  /** Per hook, how far passes have examined its deliveries: the later wins. */
  readonly checkpoints: readonly { readonly hook: string; readonly checkpoint: IsoTime }[];
  /** The last sign of life of a daemon on the store, or null: the later wins. */
  readonly aliveAt: IsoTime | null;
  /** Gaps already reported, with when (they are not reported again). */
  readonly gaps: readonly (RecoveryGap & { readonly reportedAt: IsoTime })[];
}

/** What one write to the target inserted, and what it held and brought up to date (the rest it held as it was). */
export interface CopyWritten {
  readonly inserted: number;
  /** Records the target held that changed in the source since (a delivery processed, a task completed, a notification sent). */
  readonly updated: number;
  /** Records that came along: notifications with deliveries, history with tasks. */
  readonly along: number;
}

/** The store copied into (PostgreSQL): each call inserts what it does not hold and updates what changed, in one transaction. */
export interface CopyTarget {
  writeDeliveries(items: readonly CopyDelivery[]): Promise<CopyWritten>;
  writeTasks(items: readonly CopyTask[]): Promise<CopyWritten>;
  writeJournal(items: readonly JournalRecord[]): Promise<CopyWritten>;
  writeEntities(items: readonly { readonly entity: string; readonly lastEventAt: IsoTime }[]): Promise<CopyWritten>;
  writeSettings(items: readonly { readonly key: string; readonly value: string }[]): Promise<CopyWritten>;
  /** Records of recovery's state: `inserted` new ones, `updated` ones the source had later values of. */
  writeRecovery(recovery: CopyRecovery): Promise<CopyWritten>;
}

/** What a copy did: per kind, how many were read and how many were new to the target. */
export interface CopyResult {
  readonly deliveries: { readonly read: number; readonly copied: number; readonly updated: number; readonly notifications: number };
  readonly tasks: { readonly read: number; readonly copied: number; readonly updated: number; readonly history: number };
  readonly journal: { readonly read: number; readonly copied: number };
  readonly entities: { readonly read: number; readonly copied: number };
  readonly settings: { readonly read: number; readonly copied: number };
  /** Redelivery requests, hook checkpoints, the last sign of life and reported gaps, together. */
  readonly recovery: { readonly read: number; readonly copied: number; readonly updated: number };
}

/** Progress of a copy: the kind being copied, how many of it were read, of how many. */
export interface CopyProgress {
  readonly kind: 'deliveries' | 'tasks' | 'journal';
  readonly done: number;
  readonly total: number;
}

/**
 * Copies everything `source` holds into `target`, in batches of `batch`
 * records (deliveries with their bodies first, then tasks with their
 * history, then the journal, entities, settings and recovery's state).
 */
export async function copyStore(source: CopySource, target: CopyTarget, options: { readonly batch?: number; readonly onProgress?: (p: CopyProgress) => void } = {}): Promise<CopyResult> {
  const batch = options.batch ?? 200;
  const totals = await source.totals();
  const pages = async <T>(kind: CopyProgress['kind'], read: (after: number) => Promise<CopyPage<T>>, write: (items: readonly T[]) => Promise<CopyWritten>) => {
    const count = { read: 0, copied: 0, updated: 0, along: 0 };
    options.onProgress?.({ kind, done: 0, total: totals[kind] });
    for (let after: number | null = 0; after !== null;) {
      const page: CopyPage<T> = await read(after);
      if (page.items.length > 0) {
        const w = await write(page.items);
        count.read += page.items.length;
        count.copied += w.inserted;
        count.updated += w.updated;
        count.along += w.along;
        options.onProgress?.({ kind, done: count.read, total: Math.max(totals[kind], count.read) });
      }
      after = page.next;
    }
    return count;
  };
  const deliveries = await pages('deliveries', (after) => source.deliveries(after, batch), (items) => target.writeDeliveries(items));
  const tasks = await pages('tasks', (after) => source.tasks(after, batch), (items) => target.writeTasks(items));
  const journal = await pages('journal', (after) => source.journal(after, batch), (items) => target.writeJournal(items));
  const entityList = await source.entities();
  const entities = await target.writeEntities(entityList);
  const settingList = await source.settings();
  const settings = await target.writeSettings(settingList);
  const recoveryState = await source.recovery();
  const recovery = await target.writeRecovery(recoveryState);
  return {
    deliveries: { read: deliveries.read, copied: deliveries.copied, updated: deliveries.updated, notifications: deliveries.along },
    tasks: { read: tasks.read, copied: tasks.copied, updated: tasks.updated, history: tasks.along },
    journal: { read: journal.read, copied: journal.copied },
    entities: { read: entityList.length, copied: entities.inserted },
    settings: { read: settingList.length, copied: settings.inserted },
    recovery: {
      read: recoveryState.requests.length + recoveryState.checkpoints.length + (recoveryState.aliveAt === null ? 0 : 1) + recoveryState.gaps.length,
      copied: recovery.inserted,
      updated: recovery.updated,
    },
  };
}
