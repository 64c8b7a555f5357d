/**
 * Rows as both engines read them, and their mapping to the domain types of
 * the contract. The engines store the same columns under the same names;
 * where their SQL types differ (SQLite keeps queue times as ms integers and
 * flags as 0/1, PostgreSQL as timestamptz and boolean) a row field accepts
 * both forms.
 */
import type { Priority, TaskPayload } from '../routing/rules.js';
import type { WebhookContentType } from '../webhook/delivery.js';
import type { Delivery, DeliveryState, JournalRecord, Notification, NotificationStatus, RedeliveryOutcome, RedeliveryReason, RedeliveryRequest, Task, TaskStatus, TaskTransition, TaskWithoutPayload, TransitionSource } from './contract.js';

/** ISO-8601 of ms since the epoch. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** A stored JSON text parsed, or the text itself when it is not JSON; null stays null. */
export function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A `deliveries` row (`SELECT *`). */
export interface DeliveryRow {
  delivery_id: string;
  event: string;
  action: string | null;
  hook_id: string | null;
  repo: string | null;
  repo_id: number | null;
  installation_id: number | null;
  received_at: string;
  content_type: string;
  /** JSON text. */
  headers: string;
  size: number;
  signature_slot: number | null;
  source_ip: string | null;
  state: DeliveryState;
  outcome: string | null;
  attempts: number;
  last_error: string | null;
  processed_at: string | null;
  replay_of: string | null;
  /** 0/1 (SQLite) or boolean (PostgreSQL). */
  notify: number | boolean;
  ignored_reason: string | null;
}

/** A `tasks` row (`SELECT *`). */
export interface TaskRow {
  id: string;
  task_id: string | null;
  delivery_id: string;
  idempotency_key: string;
  task_type: string;
  priority: string;
  rule: string;
  repo: string | null;
  /** JSON text. */
  payload: string;
  status: TaskStatus;
  attempts: number;
  /** ms since the epoch (SQLite) or ISO time (PostgreSQL). */
  next_attempt_at: number | string;
  last_error: string | null;
  /** JSON text. */
  result: string | null;
  created_at: string;
  updated_at: string;
  entity: string;
  event: string | null;
  event_at: string;
  /** 0/1 (SQLite) or boolean (PostgreSQL). */
  blocked: number | boolean;
  on_stale: string;
}

/** The columns of a notification the domain type shows. */
export interface NotificationRow {
  id: number;
  delivery_id: string;
  task_ref: string | null;
  channel: string;
  text: string;
  url: string | null;
  status: NotificationStatus;
  attempts: number;
}

/** The columns of `notifications` that {@link toNotification} reads. */
export const NOTIFICATION_COLUMNS = 'id, delivery_id, task_ref, channel, text, url, status, attempts';

/** A `task_history` row as the read model selects it. */
export interface HistoryRow {
  at: string;
  from_status: TaskStatus | null;
  to_status: TaskStatus;
  source: TransitionSource;
  detail: string | null;
}

/** The columns of `task_history` that {@link toTransition} reads. */
export const HISTORY_COLUMNS = 'at, from_status, to_status, source, detail';

/** A `journal` row as the read model selects it. */
export interface JournalRow {
  delivery_id: string;
  type: string;
  action: string | null;
  repo: string | null;
  number: number | null;
  timestamp: string;
  recorded_at: string;
  replay_of: string | null;
}

/** The columns of `journal` that {@link toJournalRecord} reads. */
export const JOURNAL_COLUMNS = 'delivery_id, type, action, repo, number, timestamp, recorded_at, replay_of';

export function toDelivery(r: DeliveryRow): Delivery {
  const headers = parseJson(r.headers);
  return {
    deliveryId: r.delivery_id,
    event: r.event,
    action: r.action,
    hookId: r.hook_id,
    repo: r.repo,
    repoId: r.repo_id,
    installationId: r.installation_id,
    receivedAt: r.received_at,
    contentType: r.content_type as WebhookContentType,
    headers: headers !== null && typeof headers === 'object' ? (headers as Record<string, string>) : {},
    size: r.size,
    signatureSlot: r.signature_slot,
    sourceIp: r.source_ip,
    state: r.state,
    outcome: r.outcome,
    attempts: r.attempts,
    lastError: r.last_error,
    processedAt: r.processed_at,
    replayOf: r.replay_of,
    notify: Boolean(r.notify),
    ignoredReason: r.ignored_reason,
  };
}

/**
 * The columns of a task but its payload (`t.` prefixed when `alias` is
 * given), in the order of {@link TaskRow}: what {@link toTaskWithoutPayload} reads.
 */
export function taskColumnsWithoutPayload(alias = ''): string {
  return ['id', 'task_id', 'delivery_id', 'idempotency_key', 'task_type', 'priority', 'rule', 'repo', 'status', 'attempts', 'next_attempt_at',
    'last_error', 'result', 'created_at', 'updated_at', 'entity', 'event', 'event_at', 'blocked', 'on_stale'].map((c) => (alias ? `${alias}.${c}` : c)).join(', ');
}

/** A task row as a domain task; `stale` comes from the entity's newest accepted event. */
export function toTask(r: TaskRow, stale: boolean): Task {
  return { ...toTaskWithoutPayload(r, stale), payload: parseJson(r.payload) as TaskPayload };
}

/** A task row read without its payload ({@link taskColumnsWithoutPayload}) as a domain task without it. */
export function toTaskWithoutPayload(r: Omit<TaskRow, 'payload'>, stale: boolean): TaskWithoutPayload {
  return {
    id: r.id,
    taskId: r.task_id,
    deliveryId: r.delivery_id,
    idempotencyKey: r.idempotency_key,
    taskType: r.task_type,
    priority: r.priority as Priority,
    rule: r.rule,
    repo: r.repo,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'queued' ? (typeof r.next_attempt_at === 'number' ? iso(r.next_attempt_at) : r.next_attempt_at) : null,
    lastError: r.last_error,
    result: parseJson(r.result),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    entity: r.entity,
    event: r.event,
    eventAt: r.event_at,
    held: r.status === 'queued' && Boolean(r.blocked),
    stale,
    onStale: r.on_stale === 'hold' ? 'hold' : 'submit',
  };
}

export function toNotification(r: NotificationRow): Notification {
  return { id: r.id, deliveryId: r.delivery_id, taskRef: r.task_ref, channel: r.channel, text: r.text, url: r.url, status: r.status, attempts: r.attempts };
}

export function toTransition(h: HistoryRow): TaskTransition {
  return { at: h.at, from: h.from_status, to: h.to_status, source: h.source, detail: h.detail };
}

export function toJournalRecord(j: JournalRow): JournalRecord {
  return { deliveryId: j.delivery_id, type: j.type, action: j.action, repo: j.repo, number: j.number, timestamp: j.timestamp, recordedAt: j.recorded_at, replayOf: j.replay_of };
}

/** A `redelivery_requests` row (`SELECT *`). */
export interface RedeliveryRow {
  delivery_id: string;
  hook: string;
  github_delivery_id: number;
  event: string;
  action: string | null;
  reason: string;
  requests: number;
  first_requested_at: string;
  last_requested_at: string;
  outcome: string;
  detail: string | null;
  arrived_at: string | null;
}

export function toRedelivery(r: RedeliveryRow): RedeliveryRequest {
  return {
    deliveryId: r.delivery_id,
    hook: r.hook,
    githubDeliveryId: r.github_delivery_id,
    event: r.event,
    action: r.action,
    reason: r.reason as RedeliveryReason,
    requests: r.requests,
    firstRequestedAt: r.first_requested_at,
    lastRequestedAt: r.last_requested_at,
    outcome: r.outcome as RedeliveryOutcome,
    detail: r.detail,
    arrivedAt: r.arrived_at,
  };
}

/** The JSON text of a callback's error detail (a string is kept as is). */
export function errorText(error: unknown): string {
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** One condition of a list query: `<column> <op> <value>`. */
export interface FilterTerm {
  readonly column: string;
  readonly op: '=' | '>=';
  readonly value: unknown;
}

/** The columns each filter field of the read model compares (`since`: a lower bound). */
export const FILTER_COLUMNS = {
  deliveries: { state: 'state', repo: 'repo', event: 'event', since: 'received_at' },
  tasks: { status: 'status', repo: 'repo', type: 'task_type', since: 'created_at' },
  journal: { repo: 'repo', type: 'type', since: 'recorded_at' },
} as const;

/**
 * The conditions of a list query: one term per filter field that is set
 * (`since` is a lower bound, the others equalities), and the limit (100 by
 * default). Each engine renders the terms with its own placeholders.
 */
export function filterTerms<F extends { readonly limit?: number }>(filter: F, columns: Readonly<Partial<Record<Exclude<keyof F, 'limit'>, string>>>): { terms: FilterTerm[]; limit: number } {
  const terms: FilterTerm[] = [];
  for (const [key, column] of Object.entries(columns) as [string, string][]) {
    const value = (filter as Record<string, unknown>)[key];
    if (value === undefined || value === null || value === '') continue;
    terms.push({ column, op: key === 'since' ? '>=' : '=', value });
  }
  return { terms, limit: filter.limit ?? 100 };
}
