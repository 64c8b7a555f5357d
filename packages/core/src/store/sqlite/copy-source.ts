import type { Database } from 'better-sqlite3';
import type { CopyDelivery, CopySource, CopyTask } from '../copy.js';
import {
  HISTORY_COLUMNS,
  JOURNAL_COLUMNS,
  NOTIFICATION_COLUMNS,
  iso,
  toDelivery,
  toJournalRecord,
  toNotification,
  toTask,
  toRedelivery,
  toTransition,
  type DeliveryRow,
  type HistoryRow,
  type JournalRow,
  type NotificationRow,
  type RedeliveryRow,
  type TaskRow,
} from '../rows.js';

/** Body bytes in one page of deliveries, at most (plus the last body). */
const PAGE_BYTES = 32 * 1024 * 1024;

/** The next cursor of a page: the last row's rowid, or null when the page was not full. */
const nextOf = (rows: readonly { rowid: number }[], limit: number): number | null => (rows.length < limit ? null : rows.at(-1)!.rowid);

/**
 * The SQLite store as the source of `gitbridge store copy`: pages in rowid
 * (creation) order, read from the store's connection.
 */
export function createCopySource(db: Database): CopySource {
  return {
    async totals() {
      const n = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      return { deliveries: n('deliveries'), tasks: n('tasks'), journal: n('journal') };
    },

    async deliveries(after, limit) {
      const rows = db.prepare(`SELECT rowid, * FROM deliveries WHERE rowid > ? ORDER BY rowid LIMIT ?`).all(after, limit) as (DeliveryRow & { rowid: number; next_attempt_at: number })[];
      const body = db.prepare('SELECT body FROM delivery_bodies WHERE delivery_id = ?');
      const notifications = db.prepare(`SELECT ${NOTIFICATION_COLUMNS}, last_error, next_attempt_at, created_at, updated_at FROM notifications WHERE delivery_id = ? ORDER BY id`);
      const items: CopyDelivery[] = [];
      let bytes = 0;
      for (const r of rows) {
        // Bodies reach 25 MB: a page ends early once it holds PAGE_BYTES of them.
        if (bytes >= PAGE_BYTES) return { items, next: items.length > 0 ? rows[items.length - 1]!.rowid : null };
        const b = (body.get(r.delivery_id) as { body: Buffer } | undefined)?.body ?? Buffer.alloc(0);
        bytes += b.length;
        items.push({
          delivery: toDelivery(r),
          body: b,
          nextAttemptAt: iso(r.next_attempt_at),
          notifications: (notifications.all(r.delivery_id) as (NotificationRow & { last_error: string | null; next_attempt_at: number; created_at: string; updated_at: string })[])
            .map((n) => ({ ...toNotification(n), lastError: n.last_error, nextAttemptAt: iso(n.next_attempt_at), createdAt: n.created_at, updatedAt: n.updated_at })),
        });
      }
      return { items, next: nextOf(rows, limit) };
    },

    async tasks(after, limit) {
      const rows = db.prepare(`SELECT rowid, * FROM tasks WHERE rowid > ? ORDER BY rowid LIMIT ?`).all(after, limit) as (TaskRow & { rowid: number })[];
      const history = db.prepare(`SELECT ${HISTORY_COLUMNS} FROM task_history WHERE task_ref = ? ORDER BY id`);
      const items = rows.map((r): CopyTask => ({ task: toTask(r, false), history: (history.all(r.id) as HistoryRow[]).map(toTransition) }));
      return { items, next: nextOf(rows, limit) };
    },

    async journal(after, limit) {
      const rows = db.prepare(`SELECT id AS rowid, ${JOURNAL_COLUMNS} FROM journal WHERE id > ? ORDER BY id LIMIT ?`).all(after, limit) as (JournalRow & { rowid: number })[];
      return { items: rows.map(toJournalRecord), next: nextOf(rows, limit) };
    },

    async entities() {
      return (db.prepare('SELECT entity, last_event_at FROM entities ORDER BY entity').all() as { entity: string; last_event_at: string }[])
        .map((e) => ({ entity: e.entity, lastEventAt: e.last_event_at }));
    },

    async settings() {
      return db.prepare('SELECT key, value FROM settings ORDER BY key').all() as { key: string; value: string }[];
    },

    async recovery() {
      // Small tables: one request per delivery GitHub could not deliver in its window, one row per hook.
      const alive = db.prepare('SELECT alive_at FROM heartbeat WHERE id = 1').get() as { alive_at: string } | undefined;
      return {
        requests: (db.prepare('SELECT * FROM redelivery_requests ORDER BY delivery_id').all() as RedeliveryRow[]).map(toRedelivery),
        checkpoints: db.prepare('SELECT hook, checkpoint FROM recovery_checkpoints ORDER BY hook').all() as { hook: string; checkpoint: string }[],
        aliveAt: alive?.alive_at ?? null,
        gaps: db.prepare('SELECT hook, starts_at AS start, ends_at AS "end", reported_at AS reportedAt FROM recovery_gaps ORDER BY hook, starts_at').all() as { hook: string; start: string; end: string; reportedAt: string }[],
      };
    },
  };
}
