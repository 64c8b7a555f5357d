import type { PoolClient } from 'pg';
import type { CopyTarget } from '../copy.js';

/** An ISO time the database accepts, or `fallback` (a task stored before ordering existed may have no event time). */
const validTime = (t: string | null | undefined, fallback: string): string => (t && !Number.isNaN(Date.parse(t)) ? t : fallback);

/**
 * The PostgreSQL store as the target of `gitbridge store copy`. Each write
 * is one transaction (`tx`) that inserts only the records the database does
 * not hold (`ON CONFLICT DO NOTHING`), with what belongs to them: a
 * delivery's body and notifications, a task's history. Claims and leases are
 * not copied: what was queued is due again on the new store.
 */
export function createCopyTarget(tx: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>): CopyTarget {
  return {
    writeDeliveries: (items) => tx(async (c) => {
      const d = items.map((i) => i.delivery);
      const inserted = new Set((await c.query<{ delivery_id: string }>(`INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id,
          received_at, content_type, headers, size, signature_slot, source_ip, state, outcome, attempts, next_attempt_at, last_error, processed_at, replay_of, notify, ignored_reason)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::text[],
          $11::integer[], $12::integer[], $13::text[], $14::text[], $15::text[], $16::integer[], $17::timestamptz[], $18::text[], $19::timestamptz[], $20::text[],
          $21::boolean[], $22::text[])
        ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id`, [
        d.map((x) => x.deliveryId), d.map((x) => x.event), d.map((x) => x.action), d.map((x) => x.hookId), d.map((x) => x.repo), d.map((x) => x.repoId),
        d.map((x) => x.installationId), d.map((x) => x.receivedAt), d.map((x) => x.contentType), d.map((x) => JSON.stringify(x.headers)), d.map((x) => x.size),
        d.map((x) => x.signatureSlot), d.map((x) => x.sourceIp), d.map((x) => x.state), d.map((x) => x.outcome), d.map((x) => x.attempts),
        items.map((x) => x.nextAttemptAt), d.map((x) => x.lastError), d.map((x) => x.processedAt), d.map((x) => x.replayOf),
        d.map((x) => x.notify), d.map((x) => x.ignoredReason),
      ])).rows.map((r) => r.delivery_id));
      const fresh = items.filter((i) => inserted.has(i.delivery.deliveryId));
      let along = 0;
      for (const i of fresh) {
        // Binary parameter: the body byte for byte as GitHub sent it.
        await c.query('INSERT INTO delivery_bodies (delivery_id, body) VALUES ($1, $2)', [i.delivery.deliveryId, i.body]);
        for (const n of i.notifications) {
          await c.query(`INSERT INTO notifications (delivery_id, task_ref, channel, text, url, status, attempts, next_attempt_at, last_error, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [n.deliveryId, n.taskRef, n.channel, n.text, n.url, n.status, n.attempts, n.nextAttemptAt, n.lastError, n.createdAt, n.updatedAt]);
          along++;
        }
      }
      return { inserted: fresh.length, along };
    }),

    writeTasks: (items) => tx(async (c) => {
      let inserted = 0;
      let along = 0;
      // One by one, in creation order: `seq` keeps the order of an entity's queued tasks.
      for (const { task: t, history } of items) {
        const r = await c.query(`INSERT INTO tasks (id, task_id, delivery_id, idempotency_key, task_type, priority, rule, repo, payload, status, attempts,
            next_attempt_at, last_error, result, created_at, updated_at, entity, event, event_at, blocked, on_stale)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
          ON CONFLICT DO NOTHING`, [t.id, t.taskId, t.deliveryId, t.idempotencyKey, t.taskType, t.priority, t.rule, t.repo, JSON.stringify(t.payload), t.status,
          t.attempts, t.nextAttemptAt ?? t.updatedAt, t.lastError, t.result === null ? null : JSON.stringify(t.result), t.createdAt, t.updatedAt, t.entity, t.event,
          validTime(t.eventAt, t.createdAt), t.held, t.onStale]);
        if (r.rowCount !== 1) continue;
        inserted++;
        for (const h of history) {
          await c.query('INSERT INTO task_history (task_ref, from_status, to_status, at, source, detail) VALUES ($1, $2, $3, $4, $5, $6)', [t.id, h.from, h.to, h.at, h.source, h.detail]);
          along++;
        }
      }
      return { inserted, along };
    }),

    writeJournal: (items) => tx(async (c) => {
      const r = await c.query(`INSERT INTO journal (delivery_id, type, action, repo, number, timestamp, recorded_at, replay_of)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], $8::text[])
        ON CONFLICT (delivery_id) DO NOTHING`, [items.map((j) => j.deliveryId), items.map((j) => j.type), items.map((j) => j.action), items.map((j) => j.repo),
        items.map((j) => j.number), items.map((j) => j.timestamp), items.map((j) => j.recordedAt), items.map((j) => j.replayOf)]);
      return { inserted: r.rowCount ?? 0, along: 0 };
    }),

    writeEntities: (items) => tx(async (c) => {
      const r = await c.query(`INSERT INTO entities (entity, last_event_at) SELECT * FROM unnest($1::text[], $2::timestamptz[])
        ON CONFLICT (entity) DO UPDATE SET last_event_at = GREATEST(entities.last_event_at, excluded.last_event_at) WHERE entities.last_event_at < excluded.last_event_at`,
      [items.map((e) => e.entity), items.map((e) => validTime(e.lastEventAt, '1970-01-01T00:00:00.000Z'))]);
      return { inserted: r.rowCount ?? 0, along: 0 };
    }),

    writeSettings: (items) => tx(async (c) => {
      const r = await c.query(`INSERT INTO settings (key, value, updated_at) SELECT k, v, now() FROM unnest($1::text[], $2::text[]) AS s (k, v)
        ON CONFLICT (key) DO NOTHING`, [items.map((s) => s.key), items.map((s) => s.value)]);
      return { inserted: r.rowCount ?? 0, along: 0 };
    }),
  };
}
