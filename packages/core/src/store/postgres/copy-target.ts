import type { PoolClient } from 'pg';
import type { CopyNotification, CopyTarget } from '../copy.js';
import { withoutNul } from './guarded-client.js';

/** An ISO time the database accepts, or `fallback` (a task stored before ordering existed may have no event time). */
const validTime = (t: string | null | undefined, fallback: string): string => (t && !Number.isNaN(Date.parse(t)) ? t : fallback);

/** A notification as the target compares it (U+0000 as the target stores it, see GuardedClient). */
const notificationKey = (n: { taskRef: string | null; channel: string; text: string; url: string | null; status: string; attempts: number; lastError: string | null }): string =>
  JSON.stringify([n.taskRef, n.channel, n.text, n.url, n.status, n.attempts, n.lastError].map(withoutNul));

/**
 * The PostgreSQL store as the target of `gitbridge store copy`. Each write
 * is one transaction (`tx`): records the database does not hold are
 * inserted with what belongs to them (a delivery's body and notifications, a
 * task's history); records it holds are brought up to date where the source
 * changed since (a delivery processed, a task completed by a callback, a
 * notification sent), their notifications or history replaced by the
 * source's. So the copy run again after the old daemon stopped brings over
 * what arrived and what changed, and nothing twice. Claims and leases are
 * not copied: what was queued is due again on the new store. The target must
 * not be in use by daemons while it is copied into.
 */
export function createCopyTarget(tx: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>): CopyTarget {
  const insertNotifications = async (c: PoolClient, notifications: readonly CopyNotification[]): Promise<void> => {
    for (const n of notifications) {
      await c.query(`INSERT INTO notifications (delivery_id, task_ref, channel, text, url, status, attempts, next_attempt_at, last_error, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [n.deliveryId, n.taskRef, n.channel, n.text, n.url, n.status, n.attempts, n.nextAttemptAt, n.lastError, n.createdAt, n.updatedAt]);
    }
  };
  return {
    writeDeliveries: (items) => tx(async (c) => {
      const d = items.map((i) => i.delivery);
      // xmax = 0: the row was inserted by this statement, not updated.
      const rows = (await c.query<{ delivery_id: string; inserted: boolean }>(`INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id,
          received_at, content_type, headers, size, signature_slot, source_ip, state, outcome, attempts, next_attempt_at, last_error, processed_at, replay_of, notify, ignored_reason)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::text[],
          $11::integer[], $12::integer[], $13::text[], $14::text[], $15::text[], $16::integer[], $17::timestamptz[], $18::text[], $19::timestamptz[], $20::text[],
          $21::boolean[], $22::text[])
        ON CONFLICT (delivery_id) DO UPDATE SET state = excluded.state, outcome = excluded.outcome, attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
          last_error = excluded.last_error, processed_at = excluded.processed_at, ignored_reason = excluded.ignored_reason
          WHERE (deliveries.state, deliveries.outcome, deliveries.attempts, deliveries.last_error, deliveries.processed_at, deliveries.ignored_reason)
            IS DISTINCT FROM (excluded.state, excluded.outcome, excluded.attempts, excluded.last_error, excluded.processed_at, excluded.ignored_reason)
        RETURNING delivery_id, (xmax = 0) AS inserted`, [
        d.map((x) => x.deliveryId), d.map((x) => x.event), d.map((x) => x.action), d.map((x) => x.hookId), d.map((x) => x.repo), d.map((x) => x.repoId),
        d.map((x) => x.installationId), d.map((x) => x.receivedAt), d.map((x) => x.contentType), d.map((x) => JSON.stringify(x.headers)), d.map((x) => x.size),
        d.map((x) => x.signatureSlot), d.map((x) => x.sourceIp), d.map((x) => x.state), d.map((x) => x.outcome), d.map((x) => x.attempts),
        items.map((x) => x.nextAttemptAt), d.map((x) => x.lastError), d.map((x) => x.processedAt), d.map((x) => x.replayOf),
        d.map((x) => x.notify), d.map((x) => x.ignoredReason),
      ])).rows;
      const inserted = new Set(rows.filter((r) => r.inserted).map((r) => r.delivery_id));
      const changed = new Set(rows.filter((r) => !r.inserted).map((r) => r.delivery_id));
      // Notifications change on their own (sent, failed) after their delivery settled: compare those of every delivery the target held.
      const held = items.filter((i) => !inserted.has(i.delivery.deliveryId));
      if (held.length > 0) {
        const there = new Map<string, string[]>();
        const r = await c.query<{ delivery_id: string; task_ref: string | null; channel: string; text: string; url: string | null; status: string; attempts: number; last_error: string | null }>(
          'SELECT delivery_id, task_ref, channel, text, url, status, attempts, last_error FROM notifications WHERE delivery_id = ANY($1::text[])', [held.map((i) => i.delivery.deliveryId)]);
        for (const n of r.rows) {
          const key = notificationKey({ taskRef: n.task_ref, channel: n.channel, text: n.text, url: n.url, status: n.status, attempts: n.attempts, lastError: n.last_error });
          there.set(n.delivery_id, [...(there.get(n.delivery_id) ?? []), key]);
        }
        for (const i of held) {
          const want = i.notifications.map(notificationKey).sort().join('\n');
          if ((there.get(i.delivery.deliveryId) ?? []).sort().join('\n') !== want) changed.add(i.delivery.deliveryId);
        }
      }
      let along = 0;
      for (const i of items) {
        const id = i.delivery.deliveryId;
        if (inserted.has(id)) {
          // Binary parameter: the body byte for byte as GitHub sent it.
          await c.query('INSERT INTO delivery_bodies (delivery_id, body) VALUES ($1, $2)', [id, i.body]);
        } else if (changed.has(id)) {
          await c.query('DELETE FROM notifications WHERE delivery_id = $1', [id]);
        } else {
          continue;
        }
        await insertNotifications(c, i.notifications);
        along += i.notifications.length;
      }
      return { inserted: inserted.size, updated: changed.size, along };
    }),

    writeTasks: (items) => tx(async (c) => {
      let inserted = 0;
      let updated = 0;
      let along = 0;
      // One by one, in creation order: `seq` keeps the order of an entity's queued tasks.
      for (const { task: t, history } of items) {
        const r = await c.query<{ inserted: boolean }>(`INSERT INTO tasks (id, task_id, delivery_id, idempotency_key, task_type, priority, rule, repo, payload, status, attempts,
            next_attempt_at, last_error, result, created_at, updated_at, entity, event, event_at, blocked, on_stale)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
          ON CONFLICT (id) DO UPDATE SET task_id = excluded.task_id, idempotency_key = excluded.idempotency_key, status = excluded.status, attempts = excluded.attempts,
            next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, result = excluded.result, updated_at = excluded.updated_at, blocked = excluded.blocked
            WHERE (tasks.task_id, tasks.idempotency_key, tasks.status, tasks.attempts, tasks.updated_at, tasks.blocked)
              IS DISTINCT FROM (excluded.task_id, excluded.idempotency_key, excluded.status, excluded.attempts, excluded.updated_at, excluded.blocked)
          RETURNING (xmax = 0) AS inserted`, [t.id, t.taskId, t.deliveryId, t.idempotencyKey, t.taskType, t.priority, t.rule, t.repo, JSON.stringify(t.payload), t.status,
          t.attempts, t.nextAttemptAt ?? t.updatedAt, t.lastError, t.result === null ? null : JSON.stringify(t.result), t.createdAt, t.updatedAt, t.entity, t.event,
          validTime(t.eventAt, t.createdAt), t.held, t.onStale]);
        if (r.rowCount !== 1) continue;
        if (r.rows[0]!.inserted) inserted++;
        else {
          updated++;
          await c.query('DELETE FROM task_history WHERE task_ref = $1', [t.id]);
        }
        for (const h of history) {
          await c.query('INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail) VALUES ($1, $2, $3, $4, $5, $6)', [t.id, h.from, h.to, h.at, h.source, h.detail]);
          along++;
        }
      }
      return { inserted, updated, along };
    }),

    writeJournal: (items) => tx(async (c) => {
      const r = await c.query(`INSERT INTO journal (delivery_id, type, action, repo, number, timestamp, recorded_at, replay_of)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], $8::text[])
        ON CONFLICT (delivery_id) DO NOTHING`, [items.map((j) => j.deliveryId), items.map((j) => j.type), items.map((j) => j.action), items.map((j) => j.repo),
        items.map((j) => j.number), items.map((j) => j.timestamp), items.map((j) => j.recordedAt), items.map((j) => j.replayOf)]);
      return { inserted: r.rowCount ?? 0, updated: 0, along: 0 };
    }),

    writeEntities: (items) => tx(async (c) => {
      const r = await c.query<{ inserted: boolean }>(`INSERT INTO entities (entity, last_event_at) SELECT * FROM unnest($1::text[], $2::timestamptz[])
        ON CONFLICT (entity) DO UPDATE SET last_event_at = GREATEST(entities.last_event_at, excluded.last_event_at) WHERE entities.last_event_at < excluded.last_event_at
        RETURNING (xmax = 0) AS inserted`,
      [items.map((e) => e.entity), items.map((e) => validTime(e.lastEventAt, '1970-01-01T00:00:00.000Z'))]);
      const inserted = r.rows.filter((row) => row.inserted).length;
      return { inserted, updated: r.rows.length - inserted, along: 0 };
    }),

    writeRecovery: (recovery) => tx(async (c) => {
      let inserted = 0;
      let updated = 0;
      const count = (rows: readonly { inserted: boolean }[]) => {
        for (const row of rows) {
          if (row.inserted) inserted++;
          else updated++;
        }
      };
      const r = recovery.requests;
      count((await c.query<{ inserted: boolean }>(`INSERT INTO redelivery_requests (delivery_id, hook, github_delivery_id, event, action, reason, requests,
          first_requested_at, last_requested_at, outcome, detail, arrived_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::timestamptz[], $9::timestamptz[],
          $10::text[], $11::text[], $12::timestamptz[])
        ON CONFLICT (delivery_id) DO UPDATE SET hook = excluded.hook, github_delivery_id = excluded.github_delivery_id, event = excluded.event, action = excluded.action,
          reason = excluded.reason, requests = GREATEST(redelivery_requests.requests, excluded.requests), first_requested_at = LEAST(redelivery_requests.first_requested_at, excluded.first_requested_at),
          last_requested_at = excluded.last_requested_at, outcome = excluded.outcome, detail = excluded.detail, arrived_at = COALESCE(redelivery_requests.arrived_at, excluded.arrived_at)
          WHERE redelivery_requests.last_requested_at < excluded.last_requested_at
            OR (redelivery_requests.arrived_at IS NULL AND excluded.arrived_at IS NOT NULL)
        RETURNING (xmax = 0) AS inserted`, [
        r.map((x) => x.deliveryId), r.map((x) => x.hook), r.map((x) => x.githubDeliveryId), r.map((x) => x.event), r.map((x) => x.action), r.map((x) => x.reason),
        r.map((x) => x.requests), r.map((x) => x.firstRequestedAt), r.map((x) => x.lastRequestedAt), r.map((x) => x.outcome), r.map((x) => x.detail), r.map((x) => x.arrivedAt),
      ])).rows);
      count((await c.query<{ inserted: boolean }>(`INSERT INTO recovery_checkpoints (hook, checkpoint) SELECT * FROM unnest($1::text[], $2::timestamptz[])
        ON CONFLICT (hook) DO UPDATE SET checkpoint = excluded.checkpoint WHERE recovery_checkpoints.checkpoint < excluded.checkpoint
        RETURNING (xmax = 0) AS inserted`, [recovery.checkpoints.map((x) => x.hook), recovery.checkpoints.map((x) => x.checkpoint)])).rows);
      if (recovery.aliveAt !== null) {
        count((await c.query<{ inserted: boolean }>(`INSERT INTO heartbeat (id, alive_at) VALUES (1, $1)
          ON CONFLICT (id) DO UPDATE SET alive_at = excluded.alive_at WHERE heartbeat.alive_at < excluded.alive_at
          RETURNING (xmax = 0) AS inserted`, [recovery.aliveAt])).rows);
      }
      const g = recovery.gaps;
      count((await c.query<{ inserted: boolean }>(`INSERT INTO recovery_gaps (hook, starts_at, ends_at, reported_at)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
        ON CONFLICT (hook, starts_at) DO NOTHING
        RETURNING true AS inserted`, [g.map((x) => x.hook), g.map((x) => x.start), g.map((x) => x.end), g.map((x) => x.reportedAt)])).rows);
      return { inserted, updated, along: 0 };
    }),

    writeSettings: (items) => tx(async (c) => {
      const r = await c.query(`INSERT INTO settings (key, value, updated_at) SELECT k, v, now() FROM unnest($1::text[], $2::text[]) AS s (k, v)
        ON CONFLICT (key) DO NOTHING`, [items.map((s) => s.key), items.map((s) => s.value)]);
      return { inserted: r.rowCount ?? 0, updated: 0, along: 0 };
    }),
  };
}
