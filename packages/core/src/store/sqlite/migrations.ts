import type { Migration } from '../schema.js';

/**
 * Schema migrations of the SQLite store, applied in order at open. Each runs
 * in a transaction and is recorded in `schema_migrations`; never edit a
 * migration that has shipped, add a new one.
 *
 * Versions may have holes: work done in parallel reserves its numbers, and a
 * store is current when every version listed here is applied (the runner
 * applies the missing ones, whatever their number; a store with a version
 * this list does not know is newer than this code).
 * (Versions 6 to 9 were made in parallel; they touch different tables.)
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE deliveries (
        delivery_id      TEXT PRIMARY KEY,
        event            TEXT NOT NULL,
        action           TEXT,
        hook_id          TEXT,
        repo             TEXT,
        repo_id          INTEGER,
        installation_id  INTEGER,
        received_at      TEXT NOT NULL,
        content_type     TEXT NOT NULL,
        headers          TEXT NOT NULL,
        body             BLOB NOT NULL,
        size             INTEGER NOT NULL,
        signature_slot   INTEGER,
        source_ip        TEXT,
        state            TEXT NOT NULL,
        outcome          TEXT,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL DEFAULT 0,
        lease_until      INTEGER,
        last_error       TEXT,
        processed_at     TEXT,
        replay_of        TEXT
      ) STRICT;
      CREATE INDEX deliveries_queue ON deliveries (next_attempt_at) WHERE state = 'queued';
      CREATE INDEX deliveries_received ON deliveries (received_at);

      CREATE TABLE tasks (
        id               TEXT PRIMARY KEY,
        task_id          TEXT UNIQUE,
        delivery_id      TEXT NOT NULL REFERENCES deliveries (delivery_id),
        idempotency_key  TEXT NOT NULL UNIQUE,
        task_type        TEXT NOT NULL,
        priority         TEXT NOT NULL,
        rule             TEXT NOT NULL,
        repo             TEXT,
        payload          TEXT NOT NULL,
        status           TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL DEFAULT 0,
        lease_until      INTEGER,
        last_error       TEXT,
        result           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      ) STRICT;
      CREATE INDEX tasks_queue ON tasks (next_attempt_at) WHERE status = 'queued';
      CREATE INDEX tasks_delivery ON tasks (delivery_id);
      CREATE INDEX tasks_created ON tasks (created_at);

      CREATE TABLE task_history (
        id           INTEGER PRIMARY KEY,
        task_ref     TEXT NOT NULL REFERENCES tasks (id),
        from_status  TEXT,
        to_status    TEXT NOT NULL,
        at           TEXT NOT NULL,
        source       TEXT NOT NULL,
        detail       TEXT
      ) STRICT;
      CREATE INDEX task_history_task ON task_history (task_ref);

      CREATE TABLE journal (
        id           INTEGER PRIMARY KEY,
        delivery_id  TEXT NOT NULL,
        type         TEXT NOT NULL,
        action       TEXT,
        repo         TEXT,
        number       INTEGER,
        timestamp    TEXT NOT NULL,
        recorded_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX journal_delivery ON journal (delivery_id);

      CREATE TABLE notifications (
        id               INTEGER PRIMARY KEY,
        delivery_id      TEXT NOT NULL,
        task_ref         TEXT,
        channel          TEXT NOT NULL,
        text             TEXT NOT NULL,
        url              TEXT,
        status           TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL DEFAULT 0,
        lease_until      INTEGER,
        last_error       TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      ) STRICT;
      CREATE INDEX notifications_queue ON notifications (next_attempt_at) WHERE status = 'pending';
    `,
  },
  {
    version: 2,
    name: 'state indexes for the metrics gauges',
    sql: `
      CREATE INDEX deliveries_state ON deliveries (state);
      CREATE INDEX tasks_status ON tasks (status);
    `,
  },
  {
    version: 3,
    name: 'covering due indexes for the queue claims',
    // The state indexes of version 2 made SQLite claim from the queue by
    // reading and sorting every queued row (and a delivery's lease_until sits
    // behind its 21 KB body). These cover the claim's filter and order, so a
    // claim reads `limit` index entries whatever the backlog; the claims and
    // nextDue name them with INDEXED BY.
    sql: `
      CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_until) WHERE state = 'queued';
      CREATE INDEX tasks_due ON tasks (next_attempt_at, lease_until) WHERE status = 'queued';
      DROP INDEX deliveries_queue;
      DROP INDEX tasks_queue;
    `,
  },
  {
    version: 4,
    name: 'delivery bodies in their own table',
    // A delivery's queue columns change twice after it is stored (claimed,
    // then completed). With the raw body in the same row, each change rewrote
    // the whole record and its overflow pages (a 21 KB body is six 4 KB pages)
    // into the WAL. The body is written once and only read afterwards, so it
    // gets a table of its own and the queue row stays a few hundred bytes.
    sql: `
      CREATE TABLE delivery_bodies (
        delivery_id  TEXT PRIMARY KEY,
        body         BLOB NOT NULL
      ) STRICT;
      INSERT INTO delivery_bodies (delivery_id, body) SELECT delivery_id, body FROM deliveries;
      ALTER TABLE deliveries DROP COLUMN body;
    `,
  },
  {
    version: 5,
    name: 'claim tokens, one due index per queue, one journal entry per delivery, singleton locks',
    // A claim writes a token that fences the claimer (a worker whose lease
    // ran out can neither complete nor renew) and folds its lease into
    // next_attempt_at: an item is due when its retry time has come or its
    // lease has ended, whichever is later, so "claim the due items" and "when
    // is the next one due" are both one range read of a single-column index,
    // whatever the backlog (the MIN(MAX(next_attempt_at, lease_until)) of
    // version 3 read every queued row).
    sql: `
      ALTER TABLE deliveries ADD COLUMN claim_token TEXT;
      ALTER TABLE tasks ADD COLUMN claim_token TEXT;
      ALTER TABLE notifications ADD COLUMN claim_token TEXT;
      UPDATE deliveries SET next_attempt_at = MAX(next_attempt_at, COALESCE(lease_until, 0)) WHERE state = 'queued' AND lease_until > next_attempt_at;
      UPDATE tasks SET next_attempt_at = MAX(next_attempt_at, COALESCE(lease_until, 0)) WHERE status = 'queued' AND lease_until > next_attempt_at;
      UPDATE notifications SET next_attempt_at = MAX(next_attempt_at, COALESCE(lease_until, 0)) WHERE status = 'pending' AND lease_until > next_attempt_at;
      DROP INDEX deliveries_due;
      DROP INDEX tasks_due;
      DROP INDEX notifications_queue;
      CREATE INDEX deliveries_next ON deliveries (next_attempt_at) WHERE state = 'queued';
      CREATE INDEX tasks_next ON tasks (next_attempt_at) WHERE status = 'queued';
      CREATE INDEX notifications_next ON notifications (next_attempt_at) WHERE status = 'pending';
      DELETE FROM journal WHERE id NOT IN (SELECT MIN(id) FROM journal GROUP BY delivery_id);
      DROP INDEX journal_delivery;
      CREATE UNIQUE INDEX journal_delivery ON journal (delivery_id);
      CREATE INDEX journal_recorded ON journal (recorded_at);
      CREATE TABLE locks (
        name    TEXT PRIMARY KEY,
        holder  TEXT NOT NULL,
        until   INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'per-entity order of tasks',
    // Tasks of one entity (a pull request, an issue, a workflow job) are
    // submitted in the order they were created: only the earliest queued task
    // of an entity is unblocked, and only unblocked tasks are in the due
    // index, so a claim never waits on a held task and never reads them.
    // `entities` keeps the newest event time the MAS accepted per entity, so
    // that an older event is submitted marked stale. Tasks stored before this
    // version are ordered only among their own delivery's.
    sql: `
      ALTER TABLE tasks ADD COLUMN entity TEXT NOT NULL DEFAULT '';
      ALTER TABLE tasks ADD COLUMN event TEXT;
      ALTER TABLE tasks ADD COLUMN event_at TEXT NOT NULL DEFAULT '';
      ALTER TABLE tasks ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN on_stale TEXT NOT NULL DEFAULT 'submit';
      UPDATE tasks SET entity = 'delivery:' || delivery_id, event_at = created_at;
      DROP INDEX tasks_next;
      CREATE INDEX tasks_next ON tasks (next_attempt_at) WHERE status = 'queued' AND blocked = 0;
      CREATE INDEX tasks_entity_queue ON tasks (entity) WHERE status = 'queued';
      CREATE INDEX tasks_held ON tasks (blocked) WHERE status = 'queued' AND blocked = 1;
      CREATE INDEX tasks_queued_created ON tasks (created_at) WHERE status = 'queued';
      CREATE TABLE entities (
        entity         TEXT PRIMARY KEY,
        last_event_at  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'recovery: redelivery requests, checkpoints per hook, heartbeat, gaps',
    // Recovery (DESIGN §11) keeps its state in tables of its own: nothing on
    // the ingest path reads or writes them. "Recovered" in the read model is a
    // join of a delivery with its request record.
    sql: `
      CREATE TABLE redelivery_requests (
        delivery_id         TEXT PRIMARY KEY,
        hook                TEXT NOT NULL,
        github_delivery_id  INTEGER NOT NULL,
        event               TEXT NOT NULL,
        action              TEXT,
        reason              TEXT NOT NULL,
        requests            INTEGER NOT NULL,
        first_requested_at  TEXT NOT NULL,
        last_requested_at   TEXT NOT NULL,
        outcome             TEXT NOT NULL,
        detail              TEXT,
        arrived_at          TEXT
      ) STRICT;
      CREATE INDEX redelivery_requests_waiting ON redelivery_requests (delivery_id) WHERE arrived_at IS NULL;
      CREATE INDEX redelivery_requests_last ON redelivery_requests (last_requested_at);
      CREATE TABLE recovery_checkpoints (
        hook        TEXT PRIMARY KEY,
        checkpoint  TEXT NOT NULL
      ) STRICT;
      CREATE TABLE heartbeat (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        alive_at  TEXT NOT NULL
      ) STRICT;
      CREATE TABLE recovery_gaps (
        hook         TEXT NOT NULL,
        starts_at    TEXT NOT NULL,
        ends_at      TEXT NOT NULL,
        reported_at  TEXT NOT NULL,
        PRIMARY KEY (hook, starts_at)
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: 'shared settings',
    // Small values every daemon on the store shares: the hook ranges one node
    // refreshed from GitHub's meta API, read by the others.
    sql: `
      CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 9,
    name: 'replays without chat notifications, replays marked in the journal, why a delivery was ignored',
    // An operator's replay re-creates its tasks but notifies the chat only
    // when asked (`notify`); its journal entry names the delivery it replays.
    // An ignored delivery keeps why no rule made a task. Journal entries of
    // earlier replays are marked from their delivery.
    sql: `
      ALTER TABLE deliveries ADD COLUMN notify INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE deliveries ADD COLUMN ignored_reason TEXT;
      ALTER TABLE journal ADD COLUMN replay_of TEXT;
      UPDATE journal SET replay_of = (SELECT d.replay_of FROM deliveries d WHERE d.delivery_id = journal.delivery_id)
        WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE replay_of IS NOT NULL);
    `,
  },
  {
    version: 10,
    name: 'the task the MAS has been silent about longest, found by a seek',
    // gitbridge_tasks_oldest_age_seconds reads, at each scrape, the oldest
    // updated_at of the pending and of the running tasks. A MAS that never
    // calls back leaves every task pending: without these indexes, each
    // scrape would read them all.
    sql: `
      CREATE INDEX tasks_pending_updated ON tasks (updated_at) WHERE status = 'pending';
      CREATE INDEX tasks_running_updated ON tasks (updated_at) WHERE status = 'running';
    `,
  },
];
