/**
 * The store contract (DESIGN §6, §10): everything GitBridge keeps, behind one
 * asynchronous interface in domain types, implemented by the SQLite engine
 * (the embedded default) and the PostgreSQL engine (several daemons on one
 * database). One contract test suite (`packages/core/test/store-contract.ts`)
 * holds every engine to the same behaviour.
 *
 * Conventions:
 * - Times are ISO-8601 UTC strings with milliseconds (`IsoTime`); durations
 *   are milliseconds, relative to the store's own clock (SQLite: the clock it
 *   was opened with; PostgreSQL: the database's `now()`), never a node's.
 * - Every write is durable when its promise resolves (group commits included).
 * - Errors are GitBridgeErrors: `GB_STORE_CLAIM_LOST` when a claim token is
 *   stale, `GB_STORE_UNAVAILABLE` when the store cannot be reached or cannot
 *   commit, `GB_STORE_ERROR` for anything else the engine reports (its own
 *   error is the `cause`).
 */
import type { WebhookContentType } from '../webhook/delivery.js';
import type { EventOrder } from '../routing/ordering.js';
import type { JournalEntry, Priority, TaskDraft, TaskPayload } from '../routing/rules.js';

/** ISO-8601 UTC time with milliseconds, e.g. `2026-12-01T08:00:00.000Z`. */
export type IsoTime = string;

/** Delivery states in the work queue. */
export type DeliveryState = 'queued' | 'processed' | 'ignored' | 'dead';

/** All delivery states. */
export const DELIVERY_STATES: readonly DeliveryState[] = ['queued', 'processed', 'ignored', 'dead'];

/** Task states (DESIGN §5): `queued` → `pending` → `running` → `completed` | `failed`; `dead` when retries are exhausted. */
export type TaskStatus = 'queued' | 'pending' | 'running' | 'completed' | 'failed' | 'dead';

/** All task states, in lifecycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'pending', 'running', 'completed', 'failed', 'dead'];

/** The task statuses that are not final. */
export type UnfinishedTaskStatus = 'queued' | 'pending' | 'running';
/** {@link UnfinishedTaskStatus} as a list, in the order a task goes through them. */
export const UNFINISHED_TASK_STATUSES: readonly UnfinishedTaskStatus[] = ['queued', 'pending', 'running'];

/** Rank of a task state: a state only ever moves to a higher rank; rank 3 is final. */
export const STATUS_RANK: Readonly<Record<TaskStatus, number>> = { queued: 0, pending: 1, running: 2, completed: 3, failed: 3, dead: 3 };

/** True for task states that never change again. */
export function isTerminal(s: TaskStatus): boolean {
  return STATUS_RANK[s] === 3;
}

/** The three leased queues of the store. */
export type QueueName = 'deliveries' | 'tasks' | 'notifications';

/** A delivery to store, as the ingest module accepted it. */
export interface NewDelivery {
  /** `X-GitHub-Delivery` (for a replay: `<original>:replay:<n>`). */
  readonly deliveryId: string;
  readonly event: string;
  readonly action: string | null;
  readonly hookId: string | null;
  readonly repo: string | null;
  readonly repoId: number | null;
  readonly installationId: number | null;
  readonly receivedAt: IsoTime;
  readonly contentType: WebhookContentType;
  /** Request headers kept for replay (never a signature). */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body exactly as received. */
  readonly body: Uint8Array;
  /** Index of the webhook secret that verified it (rotation), or null. */
  readonly signatureSlot: number | null;
  readonly sourceIp: string | null;
  /** `queued` for the delivery worker, `processed` for deliveries that need no work (`ping`). */
  readonly state: 'queued' | 'processed';
  readonly outcome: string | null;
  /** The delivery id this one replays, if any. */
  readonly replayOf?: string | null;
  /**
   * Whether processing it may send chat notifications (default true). An
   * operator's replay is stored with false unless the operator asked for
   * them: its tasks are made again, its chat messages are not.
   */
  readonly notify?: boolean;
}

/** A stored delivery, without its body ({@link Store.getDeliveryBody}). */
export interface Delivery {
  readonly deliveryId: string;
  readonly event: string;
  readonly action: string | null;
  readonly hookId: string | null;
  readonly repo: string | null;
  readonly repoId: number | null;
  readonly installationId: number | null;
  readonly receivedAt: IsoTime;
  readonly contentType: WebhookContentType;
  readonly headers: Readonly<Record<string, string>>;
  /** Size of the raw body, bytes. */
  readonly size: number;
  readonly signatureSlot: number | null;
  readonly sourceIp: string | null;
  readonly state: DeliveryState;
  /** `tasks`, `ignored`, `ping`, `dead`, or null while queued. */
  readonly outcome: string | null;
  /** Processing attempts so far. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly processedAt: IsoTime | null;
  readonly replayOf: string | null;
  /** Whether processing it sends chat notifications (false for a replay made without asking for them). */
  readonly notify: boolean;
  /** Why no rule made a task, when it was `ignored` (`no rule for push`, `rule ci-failure: condition … failed`); else null. */
  readonly ignoredReason: string | null;
}

/** A claimed delivery: the stored delivery and its raw body. */
export interface ClaimedDelivery extends Delivery {
  readonly body: Buffer;
}

/** A task tracked by GitBridge. `id` is GitBridge's own (`gbt_…`), `taskId` the MAS's (null until accepted). */
export interface Task {
  readonly id: string;
  readonly taskId: string | null;
  /** The delivery id it came from (`github_event_id` in the CLI's JSON). */
  readonly deliveryId: string;
  /** `<delivery id>:<task type>` (plus `:retry:<n>` after an operator retry of an accepted task). */
  readonly idempotencyKey: string;
  readonly taskType: string;
  readonly priority: Priority;
  /** The routing rule that made it. */
  readonly rule: string;
  readonly repo: string | null;
  /** The task object sent to the MAS (DESIGN §4). */
  readonly payload: TaskPayload;
  readonly status: TaskStatus;
  /** Submission attempts so far. */
  readonly attempts: number;
  /** When a queued task is next due; null once it left the queue. */
  readonly nextAttemptAt: IsoTime | null;
  readonly lastError: string | null;
  /** The MAS's `result` from its callback (any JSON), or null. */
  readonly result: unknown;
  readonly createdAt: IsoTime;
  readonly updatedAt: IsoTime;
  /** The entity its event concerns (`repo:1296269/pull/1`); tasks of one entity are submitted in the order they were created. */
  readonly entity: string;
  /** `pull_request.opened`, or null for a task stored before ordering existed. */
  readonly event: string | null;
  /** The event's own time (ISO-8601). */
  readonly eventAt: IsoTime;
  /** True while it waits for an earlier queued task of its entity (it is not claimed until that one leaves the queue). */
  readonly held: boolean;
  /** True when the MAS has already accepted a task of the same entity with a newer event time. */
  readonly stale: boolean;
  /** Its rule's `on_stale`: `submit` (marked stale) or `hold` (ends dead instead). */
  readonly onStale: 'submit' | 'hold';
}

/** Who moved a task: GitBridge itself, the MAS's answer, a MAS callback, or an operator. */
export type TransitionSource = 'gitbridge' | 'mas' | 'mas-callback' | 'operator';

/** One task state transition, kept forever with the task. */
export interface TaskTransition {
  readonly at: IsoTime;
  readonly from: TaskStatus | null;
  readonly to: TaskStatus;
  readonly source: TransitionSource;
  readonly detail: string | null;
}

/** Outcome states of a chat notification. */
export type NotificationStatus = 'pending' | 'sent' | 'failed' | 'skipped';

/** A chat notification in the outbox. */
export interface Notification {
  readonly id: number;
  readonly deliveryId: string;
  /** GitBridge id of the task it announces, if any. */
  readonly taskRef: string | null;
  readonly channel: string;
  readonly text: string;
  readonly url: string | null;
  readonly status: NotificationStatus;
  readonly attempts: number;
}

/** A journal entry as stored: one per delivery. */
export interface JournalRecord extends JournalEntry {
  readonly deliveryId: string;
  readonly recordedAt: IsoTime;
  /** The delivery its delivery replays, when it is an operator's replay; else null. */
  readonly replayOf: string | null;
}

/**
 * A claimed queue item under a lease. The token fences the claim: once the
 * lease ran out and another worker claimed the item, every call with the old
 * token is refused with `GB_STORE_CLAIM_LOST` (bullmq's lock token).
 */
export interface Claim<T> {
  readonly item: T;
  readonly token: string;
}

/** What processing a claimed delivery produced, recorded by {@link Store.completeDelivery} in one transaction. */
export interface DeliveryResult {
  /** Tasks to create (at most one per task type; an existing (delivery, type) task is kept). */
  readonly drafts: readonly TaskDraft[];
  /** The delivery's journal entry (one per delivery: a second one is ignored). */
  readonly journal: JournalEntry;
  /** Repository (or organization) the tasks belong to. */
  readonly repo: string | null;
  /** The event, its entity and its own time; absent: the tasks are ordered only among themselves (`delivery:<id>`). */
  readonly order?: EventOrder;
  /** Why no rule made a task (kept with an `ignored` delivery); ignored when there are drafts. */
  readonly ignoredReason?: string | null;
}

/** What a MAS status update carries besides the status ({@link Store.applyCallback}). */
export interface CallbackDetail {
  readonly result?: unknown;
  readonly error?: unknown;
  /** Who said so, as the task's history records it: a callback (default) or the MAS's answer to a resubmission. */
  readonly source?: Extract<TransitionSource, 'mas-callback' | 'mas'>;
}

/** What {@link Store.applyCallback} did. */
export type CallbackOutcome =
  | { readonly outcome: 'unknown' }
  | { readonly outcome: 'ignored' | 'applied'; readonly task: TaskWithoutPayload };

/**
 * A task without its payload (the event's data sent to the MAS, often tens
 * of KB): what a callback answers with. A callback never needs the payload,
 * and reading it for every callback cost the PostgreSQL drain a large share
 * of its time.
 */
export type TaskWithoutPayload = Omit<Task, 'payload'>;

/** What {@link Store.retryTask} did. */
export type RetryOutcome =
  | { readonly outcome: 'unknown' }
  | { readonly outcome: 'refused' | 'retried'; readonly task: Task };

/** Filters for {@link Store.listTasks}. */
export interface TaskFilter {
  readonly status?: TaskStatus;
  readonly repo?: string;
  readonly type?: string;
  /** Lower bound on `createdAt`. */
  readonly since?: IsoTime;
  /** Default 100. */
  readonly limit?: number;
}

/** Filters for {@link Store.listDeliveries}. */
export interface DeliveryFilter {
  readonly state?: DeliveryState;
  readonly repo?: string;
  readonly event?: string;
  /** Lower bound on `receivedAt`. */
  readonly since?: IsoTime;
  /** Default 100. */
  readonly limit?: number;
}

/** Filters for {@link Store.listJournal}. */
export interface JournalFilter {
  readonly repo?: string;
  /** Event name (`type`). */
  readonly type?: string;
  /** Lower bound on `recordedAt`. */
  readonly since?: IsoTime;
  /** Default 100. */
  readonly limit?: number;
}

/** Counts for the metrics gauges. */
export interface StoreCounts {
  readonly deliveries: Readonly<Record<DeliveryState, number>>;
  readonly tasks: Readonly<Record<TaskStatus, number>>;
  /** Queued tasks held for order (an earlier task of their entity is still queued). */
  readonly tasksHeld: number;
  /**
   * How long the longest-waiting unfinished task has waited, as a time: for
   * `queued`, the creation of the oldest queued task (not yet accepted by the
   * MAS); for `pending` and `running`, the oldest `updatedAt` among tasks of
   * that status (the MAS's acceptance or its last callback: the longest the
   * MAS has been silent about a task). Null when no task has the status.
   * Each is one seek on a partial index, whatever the size of the store.
   */
  readonly oldestTasks: Readonly<Record<UnfinishedTaskStatus, IsoTime | null>>;
}

/** Readiness of the store. */
export interface StoreHealth {
  /** True when a write would commit now. */
  readonly writable: boolean;
  /** Why not, when not (an error code such as `SQLITE_FULL`, `ECONNREFUSED`). */
  readonly reason?: string;
}

/** The outcome of {@link Store.runExclusive}. */
export type ExclusiveOutcome<T> = { readonly ran: true; readonly value: T } | { readonly ran: false };

// ---- recovery (DESIGN §11) -------------------------------------------------

/**
 * Why recovery asks GitHub to redeliver a delivery: every attempt `failed`
 * at GitHub, or one succeeded but GitBridge never stored it, so something
 * else `answered_elsewhere` for the hook.
 */
export type RedeliveryReason = 'failed' | 'answered_elsewhere';

/**
 * The state of the latest request: `pending` from the reservation until
 * GitHub answered, then `requested` (GitHub answered 202) or `failed`;
 * `given_up` once the last allowed request did not bring the delivery.
 */
export type RedeliveryOutcome = 'pending' | 'requested' | 'failed' | 'given_up';

/** One more redelivery request that recovery is about to make ({@link Store.reserveRedelivery}). */
export interface RedeliveryIntent {
  /** The delivery's GUID (`X-GitHub-Delivery`, GitHub's `guid`). */
  readonly deliveryId: string;
  /** The hook it is requested through, as its API path (`repos/o/r/hooks/1`, `orgs/o/hooks/2`, `app`). */
  readonly hook: string;
  /** GitHub's id of the delivery attempt the request names (`POST …/deliveries/{id}/attempts`). */
  readonly githubDeliveryId: number;
  readonly event: string;
  readonly action: string | null;
  readonly reason: RedeliveryReason;
}

/** What the store remembers of the redelivery requests made for one delivery GUID. */
export interface RedeliveryRequest extends RedeliveryIntent {
  /** Requests made so far (reservations included). */
  readonly requests: number;
  readonly firstRequestedAt: IsoTime;
  readonly lastRequestedAt: IsoTime;
  /** The latest request's outcome. */
  readonly outcome: RedeliveryOutcome;
  /** Why the latest request failed (GitHub's answer), or null. */
  readonly detail: string | null;
  /** When recovery first saw the delivery stored ({@link Store.markRedeliveriesArrived}), or null. */
  readonly arrivedAt: IsoTime | null;
}

/** A span of time whose deliveries can no longer be examined: older than GitHub's window when recovery got to them. */
export interface RecoveryGap {
  /** The hook's API path. */
  readonly hook: string;
  /** Start of the span (the last checkpoint or the last sign of life). */
  readonly start: IsoTime;
  /** End of the span: the oldest time GitHub still keeps deliveries for. */
  readonly end: IsoTime;
}

/**
 * The store contract. See the module comment for conventions shared by
 * every method.
 */
export interface Store {
  /** Which engine this is. */
  readonly engine: 'sqlite' | 'postgres';
  /** Where the store lives, for logs (a file path, or a database URL without its password). */
  readonly location: string;

  // ---- ingest -----------------------------------------------------------

  /**
   * Stores one delivery and its queue entry, committed before the promise
   * resolves; engines group the deliveries that arrive together into one
   * transaction. A delivery id already stored is a `duplicate` and is left
   * untouched (a GitHub redelivery, or one event through a repository and an
   * organization hook), also when the same id is ingested twice at once.
   *
   * @throws GitBridgeError `GB_STORE_UNAVAILABLE` when it could not commit (answer 503: GitHub can redeliver)
   */
  ingest(delivery: NewDelivery): Promise<'stored' | 'duplicate'>;

  /**
   * Stores an explicit replay of a stored delivery: a new delivery
   * `<original id>:replay:<n>` (the first unused n) built by `build` from
   * the original and its body, queued past de-duplication.
   *
   * @param build pure and synchronous: returns the new delivery for `replayId`
   * @returns the replay's delivery id, or null when the original is unknown
   */
  insertReplay(originalId: string, build: (original: ClaimedDelivery, replayId: string) => NewDelivery): Promise<string | null>;

  // ---- the delivery queue -----------------------------------------------

  /** Claims up to `limit` due deliveries for `leaseMs`; each claim counts as an attempt. */
  claimDeliveries(limit: number, leaseMs: number): Promise<Claim<ClaimedDelivery>[]>;
  /**
   * Records the processing of a claimed delivery in one transaction: its
   * tasks (queued), their notifications (none when the delivery's `notify`
   * is false), its journal entry (with the delivery's `replayOf`), and its
   * new state (`processed` with tasks, `ignored` without, with the result's
   * `ignoredReason`).
   *
   * @returns the GitBridge ids of the tasks created
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST` when the claim is stale
   */
  completeDelivery(claim: Claim<ClaimedDelivery>, result: DeliveryResult): Promise<string[]>;
  /**
   * Records a processing failure: due again in `retryInMs`, or `dead` when null.
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST` when the claim is stale
   */
  failDelivery(claim: Claim<ClaimedDelivery>, error: string, retryInMs: number | null): Promise<void>;
  /** Extends a claim's lease to `leaseMs` from now. @throws GitBridgeError `GB_STORE_CLAIM_LOST` when the claim is stale */
  renewDelivery(claim: Claim<ClaimedDelivery>, leaseMs: number): Promise<void>;
  /** Puts a `dead` delivery back in the queue with a fresh attempt count. @returns false when unknown or not dead */
  requeueDelivery(deliveryId: string): Promise<boolean>;

  // ---- the task queue ---------------------------------------------------

  /**
   * Claims up to `limit` due queued tasks for `leaseMs`; each claim counts as
   * an attempt. Only the earliest queued task of each entity is ever due: the
   * others are held until it leaves the queue (accepted, failed or dead), so
   * tasks of one entity reach the MAS in the order they were created, and
   * tasks of different entities never wait on each other.
   */
  claimTasks(limit: number, leaseMs: number): Promise<Claim<Task>[]>;
  /** The MAS accepted the task: record its task id, status `pending`. @throws GitBridgeError `GB_STORE_CLAIM_LOST` */
  markTaskSubmitted(claim: Claim<Task>, masTaskId: string): Promise<void>;
  /**
   * A retryable submission failure: due again in `retryInMs`. With
   * `refundAttempt` the attempt does not count (a probe while the MAS as a
   * whole is down says nothing about this task).
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST`
   */
  retryTaskLater(claim: Claim<Task>, error: string, retryInMs: number, options?: { readonly refundAttempt?: boolean }): Promise<void>;
  /** Ends a claimed task as `failed` (permanent MAS rejection) or `dead`, keeping the reason. @throws GitBridgeError `GB_STORE_CLAIM_LOST` */
  endTask(claim: Claim<Task>, status: 'failed' | 'dead', reason: string, source: TransitionSource): Promise<void>;
  /** Extends a task claim's lease. @throws GitBridgeError `GB_STORE_CLAIM_LOST` */
  renewTask(claim: Claim<Task>, leaseMs: number): Promise<void>;
  /** Makes every queued task that waits out a backoff due now (the MAS is back). @returns how many */
  releaseTaskBackoff(): Promise<number>;
  /**
   * Ends as `dead` (with `reason`) up to `limit` queued tasks created before
   * `createdBefore` that are not under a lease: the bound on a task's age,
   * whatever the circuit breaker says.
   * @returns the tasks that died
   */
  expireTasks(createdBefore: IsoTime, reason: string, limit: number): Promise<Task[]>;
  /**
   * Puts a `failed` or `dead` task (by GitBridge id or MAS task id) back in
   * the queue with its attempts reset; a task the MAS had accepted gets a new
   * idempotency key (`<key>:retry:<n>`) so that the MAS runs it again.
   */
  retryTask(ref: string): Promise<RetryOutcome>;
  /**
   * Applies a MAS status update to the task with this MAS task id. States
   * only move forward, terminal states are final, a duplicate or late update
   * is `ignored`. `detail.source` is what the task's history records: a
   * callback (`mas-callback`, the default) or the MAS's answer to a
   * submission of a task it already had (`mas`).
   */
  applyCallback(masTaskId: string, status: 'running' | 'completed' | 'failed', detail: CallbackDetail): Promise<CallbackOutcome>;

  // ---- the notification outbox ------------------------------------------

  /** Claims up to `limit` due pending notifications for `leaseMs`. */
  claimNotifications(limit: number, leaseMs: number): Promise<Claim<Notification>[]>;
  /**
   * Records a notification's outcome; `pending` with `retryInMs` schedules another attempt.
   * @throws GitBridgeError `GB_STORE_CLAIM_LOST`
   */
  settleNotification(claim: Claim<Notification>, status: NotificationStatus, error: string | null, retryInMs: number | null): Promise<void>;

  // ---- scheduling -------------------------------------------------------

  /**
   * Milliseconds until the next item of `queue` is due (0 when one is due
   * now; an item under a lease is due when its lease ends), or null when the
   * queue is empty. Its cost does not depend on the backlog's size.
   */
  msUntilDue(queue: QueueName): Promise<number | null>;
  /**
   * Calls `fn` when new work may be waiting in `queue`: after a commit of
   * this process, and (PostgreSQL) of any other node. Polling stays the
   * backstop. @returns a function that unsubscribes
   */
  onWake(queue: QueueName, fn: () => void): () => void;

  // ---- read model (the CLI) ---------------------------------------------

  /** One delivery, without its body. */
  getDelivery(deliveryId: string): Promise<Delivery | undefined>;
  /**
   * The ids of stored deliveries that start with `prefix` (compared exactly,
   * case and all), sorted, at most `limit`: the first ones in id order.
   * Operators' replays are left out: their ids extend the original's
   * (`<id>:replay:<n>`), so any prefix of a replayed delivery would match
   * them too. An index answers it (no scan of the deliveries); `%` and `_`
   * are plain characters.
   */
  findDeliveryIds(prefix: string, limit: number): Promise<string[]>;
  /** A delivery's raw body, byte-identical to what GitHub sent (up to 25 MB). */
  getDeliveryBody(deliveryId: string): Promise<Buffer | undefined>;
  /** Deliveries, newest first. */
  listDeliveries(filter?: DeliveryFilter): Promise<Delivery[]>;
  /** Tasks, newest first. */
  listTasks(filter?: TaskFilter): Promise<Task[]>;
  /** One task by GitBridge id or MAS task id. */
  getTask(ref: string): Promise<Task | undefined>;
  /**
   * The GitBridge ids (`gbt_…`) of tasks whose GitBridge id or MAS task id
   * starts with `prefix` (compared exactly), sorted, without repeats:
   * min(`limit`, matches) of them (all of them when fewer than `limit`
   * match). Indexes answer it (no scan of the tasks).
   */
  findTaskIds(prefix: string, limit: number): Promise<string[]>;
  /** A task's transitions, oldest first. */
  taskHistory(id: string): Promise<TaskTransition[]>;
  /** The tasks made from a delivery, oldest first. */
  tasksForDelivery(deliveryId: string): Promise<Task[]>;
  /** The notifications of a delivery, oldest first. */
  notificationsForDelivery(deliveryId: string): Promise<Notification[]>;
  /** Journal entries, newest first. */
  listJournal(filter?: JournalFilter): Promise<JournalRecord[]>;
  /** Deliveries and tasks by state (the metrics gauges). */
  counts(): Promise<StoreCounts>;

  // ---- shared settings --------------------------------------------------

  /**
   * A small value every node shares (the hook ranges snapshot that one node
   * refreshed), or undefined when none was stored.
   */
  getSetting(key: string): Promise<string | undefined>;
  /** Stores (or replaces) a shared setting, durable when the promise resolves. */
  putSetting(key: string, value: string): Promise<void>;

  // ---- recovery (DESIGN §11): what GitHub could not deliver ---------------
  //
  // Recovery compares the deliveries GitHub lists for a hook with what the
  // store holds, asks GitHub to redeliver what is missing, and remembers each
  // request, a checkpoint per hook, the daemon's last sign of life and the
  // gaps it could not recover. None of it is read or written on the ingest
  // path: a redelivery is ingested like any delivery.

  /**
   * Which of `deliveryIds` are stored as deliveries (exact ids: a replay's
   * `<id>:replay:<n>` is not its original). Any number of ids; order of the
   * answer not significant.
   */
  storedDeliveryIds(deliveryIds: readonly string[]): Promise<string[]>;
  /** The redelivery records of those of `deliveryIds` that have one (any order). */
  redeliveryRequests(deliveryIds: readonly string[]): Promise<RedeliveryRequest[]>;
  /**
   * Reserves one more redelivery request for `intent.deliveryId`, atomically
   * (two passes on two nodes cannot both take the last one): unless
   * `maxRequests` were already made, counts the request, sets the outcome to
   * `pending` and the request time to now, and keeps the hook, GitHub's
   * delivery id and the reason of this request. Call it before asking GitHub,
   * so that a crash in between never lets a GUID be requested more often.
   *
   * @returns the record after the reservation, or null when `maxRequests` were made already
   */
  reserveRedelivery(intent: RedeliveryIntent, maxRequests: number): Promise<RedeliveryRequest | null>;
  /**
   * Records GitHub's answer to the latest request of a GUID, or that
   * recovery gave up on it (`detail`: why). Unknown GUIDs are ignored.
   */
  settleRedelivery(deliveryId: string, outcome: Exclude<RedeliveryOutcome, 'pending'>, detail: string | null): Promise<void>;
  /**
   * Marks the requested GUIDs that are now stored as arrived (at the time
   * they were received), once each.
   *
   * @returns the records that arrived since the last call
   */
  markRedeliveriesArrived(): Promise<RedeliveryRequest[]>;
  /** A hook's checkpoint: every delivery GitHub attempted before it was examined. Null before the first pass. */
  recoveryCheckpoint(hook: string): Promise<IsoTime | null>;
  /** Moves a hook's checkpoint to `at`; never backwards (an older `at` is ignored). */
  advanceRecoveryCheckpoint(hook: string, at: IsoTime): Promise<void>;
  /** Records that a daemon is alive now (the store's clock); never moves backwards. @returns the time recorded */
  recordHeartbeat(): Promise<IsoTime>;
  /** The last sign of life of any daemon on this store, or null when none ever recorded one. */
  lastHeartbeat(): Promise<IsoTime | null>;
  /**
   * Records a gap recovery could not cover. A gap of the same hook and start
   * is one gap: a later `end` extends it.
   *
   * @returns true for a new gap, false for one already recorded
   */
  recordRecoveryGap(gap: RecoveryGap): Promise<boolean>;

  // ---- upkeep -----------------------------------------------------------

  /**
   * Retention, one batch: deletes up to `batch` deliveries received before
   * `before` that are done and whose tasks are all final, with their bodies,
   * tasks, history and notifications, and the redelivery records and gaps
   * of recovery last touched before `before`. The journal is kept.
   * @returns how many deliveries were deleted: fewer than `batch` when done
   *   (on PostgreSQL also when rows were busy under another transaction; the next run takes them)
   */
  purge(before: IsoTime, batch: number): Promise<number>;
  /** Readiness: whether a write would commit now. Never throws. */
  health(): Promise<StoreHealth>;
  /**
   * Runs `fn` unless another holder (this node or another) runs a job of
   * the same `name` now: retention, the hook-range refresh, recovery.
   * A holder that dies releases the lock (lease or session end).
   */
  runExclusive<T>(name: string, fn: () => Promise<T>): Promise<ExclusiveOutcome<T>>;
  /** The highest applied schema migration. */
  schemaVersion(): Promise<number>;
  /** Commits whatever writes are queued now (shutdown). */
  flush(): Promise<void>;
  /** Flushes and closes the store; later calls fail. */
  close(): Promise<void>;
}

/** How a process uses the store. */
export type StoreAccess =
  /** The daemon: creates and migrates the store, checkpoints in the background. */
  | 'owner'
  /** A tool that writes to a store a daemon owns (`tasks retry`): never migrates; the schema must match. */
  | 'write'
  /** A tool that only reads (`tasks ls`): never writes; the schema must match. */
  | 'read';
