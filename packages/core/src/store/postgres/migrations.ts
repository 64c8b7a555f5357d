import type { Migration } from '../schema.js';

/**
 * Schema migrations of the PostgreSQL store, applied in order at start-up
 * under an advisory lock (several daemons starting together migrate once).
 * Each runs in a transaction and is recorded in `schema_migrations`; never
 * edit a migration that has shipped, add a new one.
 *
 * The schema mirrors the SQLite store's (at its version 9) with
 * PostgreSQL's types: times are `timestamptz` (leases and retry times are
 * computed with the database's `now()`), flags are booleans, and `seq`
 * columns give the creation order that SQLite's rowid gives. JSON values
 * (headers, task payloads, results) are kept as text, exactly as written.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE deliveries (
        delivery_id      text PRIMARY KEY,
        seq              bigint GENERATED ALWAYS AS IDENTITY,
        event            text NOT NULL,
        action           text,
        hook_id          text,
        repo             text,
        repo_id          bigint,
        installation_id  bigint,
        received_at      timestamptz NOT NULL,
        content_type     text NOT NULL,
        headers          text NOT NULL,
        size             integer NOT NULL,
        signature_slot   integer,
        source_ip        text,
        state            text NOT NULL,
        outcome          text,
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        lease_until      timestamptz,
        claim_token      text,
        last_error       text,
        processed_at     timestamptz,
        replay_of        text,
        notify           boolean NOT NULL DEFAULT true,
        ignored_reason   text
      );
      -- A claim folds its lease into next_attempt_at, so "the due items" and
      -- "when is the next one due" are one range read of this index, whatever the backlog.
      CREATE INDEX deliveries_next ON deliveries (next_attempt_at) WHERE state = 'queued';
      CREATE INDEX deliveries_received ON deliveries (received_at);
      CREATE INDEX deliveries_state ON deliveries (state);
      CREATE INDEX deliveries_replay_of ON deliveries (replay_of) WHERE replay_of IS NOT NULL;
      -- Prefix lookups (ids a person types): LIKE 'prefix%' reads these, whatever the database's collation.
      CREATE INDEX deliveries_id_prefix ON deliveries (delivery_id text_pattern_ops) WHERE replay_of IS NULL;

      -- Written once at ingest, only read afterwards: the queue row stays small.
      CREATE TABLE delivery_bodies (
        delivery_id  text PRIMARY KEY,
        body         bytea NOT NULL
      );

      CREATE TABLE tasks (
        id               text PRIMARY KEY,
        seq              bigint GENERATED ALWAYS AS IDENTITY,
        task_id          text UNIQUE,
        delivery_id      text NOT NULL REFERENCES deliveries (delivery_id),
        idempotency_key  text NOT NULL UNIQUE,
        task_type        text NOT NULL,
        priority         text NOT NULL,
        rule             text NOT NULL,
        repo             text,
        payload          text NOT NULL,
        status           text NOT NULL,
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        lease_until      timestamptz,
        claim_token      text,
        last_error       text,
        result           text,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        entity           text NOT NULL,
        event            text,
        event_at         timestamptz NOT NULL,
        blocked          boolean NOT NULL DEFAULT false,
        on_stale         text NOT NULL DEFAULT 'submit'
      );
      -- Only the earliest queued task of an entity is unblocked, and only
      -- unblocked tasks are in the due index: a claim never reads a held task.
      CREATE INDEX tasks_next ON tasks (next_attempt_at) WHERE status = 'queued' AND NOT blocked;
      CREATE INDEX tasks_entity_queue ON tasks (entity, seq) WHERE status = 'queued';
      CREATE INDEX tasks_held ON tasks (entity) WHERE status = 'queued' AND blocked;
      CREATE INDEX tasks_queued_created ON tasks (created_at) WHERE status = 'queued';
      CREATE INDEX tasks_delivery ON tasks (delivery_id);
      CREATE INDEX tasks_created ON tasks (created_at);
      CREATE INDEX tasks_status ON tasks (status);
      CREATE INDEX tasks_id_prefix ON tasks (id text_pattern_ops);
      CREATE INDEX tasks_task_id_prefix ON tasks (task_id text_pattern_ops);

      CREATE TABLE task_history (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_ref     text NOT NULL REFERENCES tasks (id),
        from_status  text,
        to_status    text NOT NULL,
        at           timestamptz NOT NULL,
        source       text NOT NULL,
        detail       text
      );
      CREATE INDEX task_history_task ON task_history (task_ref);

      CREATE TABLE journal (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id  text NOT NULL UNIQUE,
        type         text NOT NULL,
        action       text,
        repo         text,
        number       bigint,
        timestamp    text NOT NULL,
        recorded_at  timestamptz NOT NULL,
        replay_of    text
      );
      CREATE INDEX journal_recorded ON journal (recorded_at);

      CREATE TABLE notifications (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id      text NOT NULL,
        task_ref         text,
        channel          text NOT NULL,
        text             text NOT NULL,
        url              text,
        status           text NOT NULL,
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        lease_until      timestamptz,
        claim_token      text,
        last_error       text,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL
      );
      CREATE INDEX notifications_next ON notifications (next_attempt_at) WHERE status = 'pending';
      CREATE INDEX notifications_delivery ON notifications (delivery_id);

      -- The newest event time the MAS accepted per entity: an older event is submitted marked stale.
      CREATE TABLE entities (
        entity         text PRIMARY KEY,
        last_event_at  timestamptz NOT NULL
      );

      -- Small values every node shares (the hook ranges one node refreshed).
      CREATE TABLE settings (
        key         text PRIMARY KEY,
        value       text NOT NULL,
        updated_at  timestamptz NOT NULL
      );

      -- Recovery (DESIGN §11): its own tables, never read or written on the ingest path.
      CREATE TABLE redelivery_requests (
        delivery_id         text PRIMARY KEY,
        hook                text NOT NULL,
        github_delivery_id  bigint NOT NULL,
        event               text NOT NULL,
        action              text,
        reason              text NOT NULL,
        requests            integer NOT NULL,
        first_requested_at  timestamptz NOT NULL,
        last_requested_at   timestamptz NOT NULL,
        outcome             text NOT NULL,
        detail              text,
        arrived_at          timestamptz
      );
      CREATE INDEX redelivery_requests_waiting ON redelivery_requests (delivery_id) WHERE arrived_at IS NULL;
      CREATE INDEX redelivery_requests_last ON redelivery_requests (last_requested_at);
      CREATE TABLE recovery_checkpoints (
        hook        text PRIMARY KEY,
        checkpoint  timestamptz NOT NULL
      );
      CREATE TABLE heartbeat (
        id        integer PRIMARY KEY CHECK (id = 1),
        alive_at  timestamptz NOT NULL
      );
      CREATE TABLE recovery_gaps (
        hook         text NOT NULL,
        starts_at    timestamptz NOT NULL,
        ends_at      timestamptz NOT NULL,
        reported_at  timestamptz NOT NULL,
        PRIMARY KEY (hook, starts_at)
      );
    `,
  },
  {
    version: 2,
    name: 'lz4 compression of bodies and task payloads',
    // Large values (a delivery's body, a task's payload: often tens of KB of
    // JSON) are compressed by TOAST; its default, pglz, was the largest cost
    // of a group commit in the ingest bench. lz4 (PostgreSQL 14+, in servers
    // built with it, as Debian's and the official images are) compresses
    // about as well for a fraction of the CPU: ~1.5x the ingest rate on this
    // machine. Only new values are written with it; old ones stay readable.
    // Servers without lz4 keep pglz.
    sql: `
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
          ALTER TABLE delivery_bodies ALTER COLUMN body SET COMPRESSION lz4;
          ALTER TABLE tasks ALTER COLUMN payload SET COMPRESSION lz4;
        END IF;
      END
      $$;
    `,
  },
  {
    version: 3,
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
