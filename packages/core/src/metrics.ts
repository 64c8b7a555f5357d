import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DELIVERY_STATES, TASK_STATUSES, UNFINISHED_TASK_STATUSES, type Store, type StoreCounts } from './store/contract.js';
import { systemClock, type Clock } from './time/clock.js';

/** Statuses of `gitbridge_webhook_events_total` (DESIGN §8). */
export type EventStatus = 'accepted' | 'duplicate' | 'ignored' | 'rate_limited' | 'unauthorized' | 'forbidden' | 'invalid' | 'error' | 'ping' | 'too_large' | 'unsupported_media_type' | 'unavailable';

/** Rejection reasons of `gitbridge_webhook_rejections_total`. */
export type RejectionReason = 'signature' | 'address' | 'rate_limit' | 'size' | 'content_type' | 'validation' | 'store' | 'shutting_down' | 'timeout' | 'proxy';

/**
 * GitBridge's metrics on their own registry (DESIGN §8). Label values are
 * always bounded: never a delivery id, task id or free text. Durations are
 * in seconds (Prometheus base unit). `docs/metrics.md` documents each one.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'route' | 'status_code'>;
  readonly events: Counter<'type' | 'action' | 'status'>;
  readonly rejections: Counter<'reason'>;
  readonly signatureSlot: Counter<'slot'>;
  readonly storeCommitDuration: Histogram;
  readonly storeCommitBatch: Histogram;
  readonly masSubmissions: Counter<'outcome'>;
  readonly masSubmissionDuration: Histogram<'outcome'>;
  readonly callbacks: Counter<'outcome'>;
  readonly notifications: Counter<'outcome'>;
  readonly processing: Counter<'outcome'>;
  readonly rateLimiterErrors: Counter;
  /** Tasks that ended `dead`, by reason: `retries_exhausted`, `max_age`, `stale` (held back by its rule). */
  readonly tasksDead: Counter<'reason'>;
  /** Submissions marked `stale: true` (a newer event of the entity was already accepted). */
  readonly staleSubmissions: Counter;
  readonly ipRangesRefresh: Counter<'outcome'>;
  readonly recoveryPasses: Counter<'outcome'>;
  readonly recoveryDeliveriesListed: Counter;
  readonly recoveryMissing: Counter<'reason'>;
  readonly recoveryRedeliveries: Counter<'outcome'>;
  readonly recoveryArrived: Counter;
  readonly recoveryLateAnswers: Counter;
  readonly recoveryGaps: Counter;
  readonly recoveryLastSuccess: Gauge;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const LABEL_VALUE = /^[a-z0-9_.-]{1,64}$/;

/** Keeps a label value bounded: lower-case identifiers only, else `other`. */
export function labelValue(v: string | null | undefined, fallback = 'none'): string {
  if (v === null || v === undefined || v === '') return fallback;
  return LABEL_VALUE.test(v) ? v : 'other';
}

/**
 * Creates the metrics. When `store` is given, the queue-depth and task-state
 * gauges are read from it exactly at each scrape; `clock` (default the
 * system clock) gives the time the task ages are measured against.
 */
export function createMetrics(options: { store?: Store; defaultMetrics?: boolean; clock?: Clock } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const store = options.store;
  // While the store cannot be reached (a database outage) the gauges keep their
  // last values: /metrics must keep answering when it matters most.
  // The four gauges below are collected together at each scrape: they share
  // one read of the store (one query on PostgreSQL, not four).
  let reading: Promise<StoreCounts | undefined> | undefined;
  const counts = (): Promise<StoreCounts | undefined> => {
    if (!store) return Promise.resolve(undefined);
    reading ??= store.counts().then(
      (c) => c,
      () => undefined,
    ).finally(() => {
      reading = undefined;
    });
    return reading;
  };
  new Gauge({
    name: 'gitbridge_event_queue_depth',
    help: 'Deliveries stored and waiting to be turned into tasks',
    registers: [registry],
    async collect() {
      const c = await counts();
      if (c) this.set(c.deliveries.queued);
    },
  });
  new Gauge({
    name: 'gitbridge_tasks',
    help: 'Tasks tracked in the store, by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const c = await counts();
      if (c) for (const s of TASK_STATUSES) this.set({ status: s }, c.tasks[s]);
    },
  });
  new Gauge({
    name: 'gitbridge_tasks_held_for_order',
    help: 'Queued tasks waiting for an earlier task of the same entity to reach the MAS',
    registers: [registry],
    async collect() {
      const c = await counts();
      if (c) this.set(c.tasksHeld);
    },
  });
  const clock = options.clock ?? systemClock;
  new Gauge({
    name: 'gitbridge_tasks_oldest_age_seconds',
    help: 'Seconds the longest-waiting task of each unfinished status has waited: queued since created, pending and running since the MAS last said anything about it (0 when none)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const c = await counts();
      if (!c) return;
      const now = clock.now();
      for (const s of UNFINISHED_TASK_STATUSES) {
        const t = c.oldestTasks[s];
        this.set({ status: s }, t === null ? 0 : Math.max(0, (now - Date.parse(t)) / 1000));
      }
    },
  });
  new Gauge({
    name: 'gitbridge_deliveries',
    help: 'Deliveries in the store, by queue state (queued, processed, ignored, dead)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const c = await counts();
      if (c) for (const s of DELIVERY_STATES) this.set({ state: s }, c.deliveries[s]);
    },
  });
  return {
    registry,
    requestDuration: new Histogram({ name: 'gitbridge_webhook_request_duration_seconds', help: 'Time to answer an HTTP request, by route and status code', labelNames: ['route', 'status_code'], buckets: LATENCY_BUCKETS, registers: [registry] }),
    events: new Counter({ name: 'gitbridge_webhook_events_total', help: 'Webhook deliveries by event type, action and outcome', labelNames: ['type', 'action', 'status'], registers: [registry] }),
    rejections: new Counter({ name: 'gitbridge_webhook_rejections_total', help: 'Rejected webhook requests by reason', labelNames: ['reason'], registers: [registry] }),
    signatureSlot: new Counter({ name: 'gitbridge_webhook_signature_slot_total', help: 'Verified deliveries by the index of the secret that matched (rotation)', labelNames: ['slot'], registers: [registry] }),
    storeCommitDuration: new Histogram({ name: 'gitbridge_store_commit_duration_seconds', help: 'Duration of one group commit of deliveries', buckets: LATENCY_BUCKETS, registers: [registry] }),
    storeCommitBatch: new Histogram({ name: 'gitbridge_store_commit_batch_size', help: 'Deliveries committed per group commit', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: [registry] }),
    masSubmissions: new Counter({ name: 'gitbridge_mas_submissions_total', help: 'MAS submission attempts by outcome', labelNames: ['outcome'], registers: [registry] }),
    masSubmissionDuration: new Histogram({ name: 'gitbridge_mas_submission_duration_seconds', help: 'Duration of MAS submission attempts by outcome', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers: [registry] }),
    callbacks: new Counter({ name: 'gitbridge_mas_callbacks_total', help: 'MAS callbacks by outcome', labelNames: ['outcome'], registers: [registry] }),
    notifications: new Counter({ name: 'gitbridge_notifications_total', help: 'Chat notification attempts by outcome', labelNames: ['outcome'], registers: [registry] }),
    processing: new Counter({ name: 'gitbridge_delivery_processing_total', help: 'Deliveries processed into tasks by outcome', labelNames: ['outcome'], registers: [registry] }),
    tasksDead: new Counter({ name: 'gitbridge_tasks_dead_total', help: 'Tasks that ended dead, by reason (retries_exhausted, max_age, stale)', labelNames: ['reason'], registers: [registry] }),
    staleSubmissions: new Counter({ name: 'gitbridge_mas_stale_submissions_total', help: 'Tasks submitted marked stale: a newer event of the same entity had already been accepted', registers: [registry] }),
    rateLimiterErrors: new Counter({ name: 'gitbridge_rate_limiter_errors_total', help: 'Rate limiter backend failures (the limiter then fails open)', registers: [registry] }),
    ipRangesRefresh: new Counter({ name: 'gitbridge_ip_ranges_refresh_total', help: 'Refreshes of GitHub hook ranges by outcome', labelNames: ['outcome'], registers: [registry] }),
    recoveryPasses: new Counter({ name: 'gitbridge_recovery_passes_total', help: 'Recovery passes by outcome (success, failure, skipped: another node held the lock)', labelNames: ['outcome'], registers: [registry] }),
    recoveryDeliveriesListed: new Counter({ name: 'gitbridge_recovery_deliveries_listed_total', help: "Delivery attempts read from GitHub's hook deliveries API", registers: [registry] }),
    recoveryMissing: new Counter({ name: 'gitbridge_recovery_missing_total', help: 'Deliveries found missing (first time), by reason (failed, answered_elsewhere)', labelNames: ['reason'], registers: [registry] }),
    recoveryRedeliveries: new Counter({ name: 'gitbridge_recovery_redeliveries_total', help: 'Redelivery requests by outcome (requested, failed, given_up)', labelNames: ['outcome'], registers: [registry] }),
    recoveryArrived: new Counter({ name: 'gitbridge_recovery_redeliveries_arrived_total', help: 'Requested redeliveries that arrived and were stored', registers: [registry] }),
    recoveryLateAnswers: new Counter({ name: 'gitbridge_recovery_late_answers_total', help: 'Deliveries stored here that GitHub counts as failed (GitBridge answered too late)', registers: [registry] }),
    recoveryGaps: new Counter({ name: 'gitbridge_recovery_gaps_total', help: "Spans of time older than GitHub's window when recovery got to them: their deliveries cannot be recovered", registers: [registry] }),
    recoveryLastSuccess: new Gauge({ name: 'gitbridge_recovery_last_success_timestamp_seconds', help: 'When the last successful recovery pass finished, Unix seconds', registers: [registry] }),
  };
}
