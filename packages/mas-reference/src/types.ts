/**
 * Public types of the reference MAS: options, tasks, submissions, callback
 * attempts, failure modes, events and the running-server handle. Re-exported
 * unchanged by `index.ts`.
 */

/** Lifecycle status of a task held by the reference MAS. */
export type TaskStatus = 'pending' | 'running' | 'completed' | 'failed';

/** Status values carried by a callback (a task is never called back as `pending`). */
export type CallbackStatus = Exclude<TaskStatus, 'pending'>;

/**
 * Options for {@link startReferenceMas}. All durations are in milliseconds.
 */
export interface ReferenceMasOptions {
  /** TCP port to listen on; `0` (default) picks a free port, read it back from {@link ReferenceMas.port}. */
  port?: number;
  /** Interface to bind; default `'127.0.0.1'`. */
  host?: string;
  /**
   * Secret used to sign callbacks: every callback carries
   * `X-MAS-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
   * Required and non-empty; {@link startReferenceMas} throws otherwise.
   */
  callbackSecret: string;
  /**
   * When set (non-empty), every endpoint except `GET /healthz` requires
   * `Authorization: Bearer <token>` and answers 401 otherwise.
   */
  token?: string;
  /** Delay from task creation until the task goes `running` and that callback is sent, in ms. Default 50. */
  callbackDelayMs?: number;
  /** Simulated work time from `running` until `completed`, in ms. Default 200. */
  completeAfterMs?: number;
  /** Attempts per callback (first try included) before giving up. Default 8. */
  callbackMaxAttempts?: number;
  /** Backoff before the 2nd callback attempt, in ms; doubles after each failed attempt. Default 100. */
  callbackRetryBaseMs?: number;
  /** Timeout for one callback attempt (connect, headers and body each), in ms. Default 5000. */
  callbackTimeoutMs?: number;
  /** Serve the `/_control/...` failure-injection API. Default `true`; `false` answers 404 there. */
  control?: boolean;
  /** Enable fastify's (pino) request logger on stdout. Default `false`. */
  logger?: boolean;
  /**
   * Called synchronously for every submission, callback attempt and
   * failure-mode change (see {@link ReferenceMasEvent}). Exceptions thrown
   * by the listener are swallowed. The `gitbridge-mas` binary prints each
   * event as one JSON line.
   */
  onEvent?: (event: ReferenceMasEvent) => void;
}

/**
 * A task as recorded by the reference MAS (a snapshot: later status changes
 * are not reflected in an object already read).
 */
export interface ReferenceMasTask {
  /** Server-assigned id (UUID v4). */
  readonly task_id: string;
  /** `task_type` from the submission body. */
  readonly task_type: string;
  /** `payload` from the submission body (a JSON object). */
  readonly payload: Readonly<Record<string, unknown>>;
  /** Where status callbacks are POSTed. */
  readonly callback_url: string;
  /** The `Idempotency-Key` header that created the task (`<delivery id>:<task type>`). */
  readonly idempotency_key: string;
  /** The `X-GitHub-Delivery` header of the creating request, `null` when absent. */
  readonly delivery_id: string | null;
  /** The ordering fields of the creating request (protocol 2.1), `null` when it had none. */
  readonly ordering: SubmissionOrdering | null;
  /** Creation time, ISO-8601. */
  readonly created_at: string;
  /** Time of the last status change, ISO-8601. */
  readonly updated_at: string;
  /** Current status (changes on schedule whether or not the callback got through). */
  readonly status: TaskStatus;
  /** Result sent with the `completed` callback, once completed. */
  readonly result?: Readonly<Record<string, unknown>>;
}

/** The ordering fields GitBridge sends with a task (MAS protocol 2.1): the event, its own time, its entity, whether it is stale. */
export interface SubmissionOrdering {
  /** `pull_request.opened`, or null when absent. */
  readonly event: string | null;
  /** ISO-8601, or null when absent. */
  readonly event_at: string | null;
  /** `repo:1296269/pull/1`, or null when absent. */
  readonly entity: string | null;
  /** True when GitBridge marked the task stale. */
  readonly stale: boolean;
}

/** One `POST /tasks` request as received (repeats and rejections included). */
export interface Submission {
  /** The `Idempotency-Key` header, `null` when absent. */
  readonly idempotency_key: string | null;
  /** The `X-GitHub-Delivery` header, `null` when absent. */
  readonly delivery_id: string | null;
  /** The body's ordering fields, `null` when the body was not a JSON object or had none. */
  readonly ordering: SubmissionOrdering | null;
  /**
   * HTTP status answered. `null` while the response is withheld by
   * `acceptThenHang` (filled in if a `reset()` later releases it; stays
   * `null` if the server is closed first).
   */
  readonly status_code: number | null;
  /** Task created or matched, `null` when the request was rejected. */
  readonly task_id: string | null;
  /** When the request was decided, ISO-8601. */
  readonly at: string;
}

/**
 * One callback attempt. Exactly one of `status_code` (an HTTP answer was
 * received; 2xx counts as delivered) or `error` (connection error, timeout,
 * ...) is set.
 */
export type CallbackAttempt = {
  readonly task_id: string;
  /** Status carried by the callback. */
  readonly status: CallbackStatus;
  /** 1-based attempt number for this callback. */
  readonly attempt: number;
  /** When the attempt finished, ISO-8601. */
  readonly at: string;
} & (
  | { readonly status_code: number; readonly error?: undefined }
  | { readonly error: string; readonly status_code?: undefined }
);

/** Snapshot of the active failure modes (see {@link FailureModes}). */
export interface FailureModeState {
  /** Pending injected failures of `POST /tasks`, or `null`. */
  readonly failNext: {
    readonly remaining: number;
    readonly status: number;
    readonly retryAfterS: number | null;
  } | null;
  /** Delay before handling each `POST /tasks`, in ms (0 = off). */
  readonly hangMs: number;
  /** Whether `POST /tasks` creates the task but withholds the answer. */
  readonly acceptThenHang: boolean;
  /** Whether the listening socket is currently closed. */
  readonly refusingConnections: boolean;
  /** Delay added to every response except `/_control/...`, in ms (0 = off). */
  readonly slowMs: number;
}

/**
 * Failure injection for tests and demos. The same operations are served over
 * HTTP under `POST /_control/...` unless `options.control === false`.
 * Modes stay active until {@link FailureModes.reset} (or until used up for
 * `failNext`); each call replaces the previous setting of that mode.
 */
export interface FailureModes {
  /**
   * The next `count` `POST /tasks` requests answer `status` (400-599) with a
   * `{statusCode, code: 'INJECTED_FAILURE', error, message}` body, and a
   * `Retry-After: <retryAfterS>` header (seconds) when given. Nothing is
   * created or recorded under the key. Checked before auth and validation.
   */
  failNext(count: number, status: number, options?: { retryAfterS?: number }): void;
  /** Every `POST /tasks` waits `ms` before being handled (0 turns it off). */
  hang(ms: number): void;
  /**
   * `POST /tasks` is handled normally (the task is created and its
   * callbacks run) but the response is withheld until `reset()` (then it is
   * sent) or `close()` (then the connection is destroyed). Models "accepted,
   * then the client timed out".
   */
  acceptThenHang(): void;
  /**
   * Closes the listening socket now (new connections get ECONNREFUSED;
   * idle keep-alive connections are closed, requests in flight finish with
   * `Connection: close`) and listens again on the same host and port after
   * `ms`. Calling it again while refusing restarts the countdown. The
   * promise resolves once listening again (or on `reset()`/`close()`); it
   * never rejects.
   */
  refuseConnections(ms: number): Promise<void>;
  /** Delays every response except `/_control/...` by `ms` (0 turns it off). */
  slow(ms: number): void;
  /** Clears every mode: releases withheld responses and listens again immediately if refusing. */
  reset(): void;
  /** Current modes. */
  readonly state: FailureModeState;
}

/** Names of failure-mode changes reported in `control` events. */
export type ControlAction =
  | 'fail_next'
  | 'hang'
  | 'accept_then_hang'
  | 'refuse_connections'
  | 'listening_again'
  | 'slow'
  | 'reset';

/**
 * Events passed to {@link ReferenceMasOptions.onEvent}; flat JSON-friendly
 * objects, discriminated by `event`.
 *
 * - `submission`: one `POST /tasks` was decided (`created` is true only for a new task).
 * - `callback`: one callback attempt finished; `will_retry` tells whether another attempt follows.
 * - `control`: a failure mode changed (`params` holds its numeric arguments, ms / seconds / counts).
 * - `error`: something went wrong in the background (e.g. listening again failed; it is retried).
 */
export type ReferenceMasEvent =
  | ({ readonly event: 'submission'; readonly created: boolean; readonly task_type: string | null } & Submission)
  | ({ readonly event: 'callback'; readonly callback_url: string; readonly will_retry: boolean } & CallbackAttempt)
  | {
      readonly event: 'control';
      readonly action: ControlAction;
      readonly params: Readonly<Record<string, number>>;
      readonly at: string;
    }
  | { readonly event: 'error'; readonly message: string; readonly at: string };

/** A running reference MAS, returned by {@link startReferenceMas}. */
export interface ReferenceMas {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  /** The bound TCP port (useful with `port: 0`). */
  readonly port: number;
  /** Snapshot of all tasks, in creation order. */
  readonly tasks: readonly ReferenceMasTask[];
  /** Every `POST /tasks` received, in order (including repeats and rejections). */
  readonly submissions: readonly Submission[];
  /** Every callback attempt, in order of completion. */
  readonly callbacks: readonly CallbackAttempt[];
  /** Failure injection (also served under `POST /_control/...`). */
  readonly failureModes: FailureModes;
  /**
   * Stops the server: cancels pending status changes, callback retries and
   * timers, aborts callbacks in flight, destroys open connections (withheld
   * responses included). Idempotent.
   */
  close(): Promise<void>;
}
