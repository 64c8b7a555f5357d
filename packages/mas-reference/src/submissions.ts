/**
 * The log of every `POST /tasks` received (repeats and rejections included),
 * each one also reported as a `submission` event.
 */
import type { FastifyRequest } from 'fastify';
import type { Emit } from './events.js';
import { singleHeader } from './http.js';
import { nowIso } from './timers.js';
import type { Submission, SubmissionOrdering } from './types.js';

/** The headers of a `POST /tasks` that identify it; `null` when absent or blank. */
export interface SubmissionHeaders {
  /** `Idempotency-Key` (`<delivery id>:<task type>`). */
  readonly idempotencyKey: string | null;
  /** `X-GitHub-Delivery`. */
  readonly deliveryId: string | null;
}

/** What a `POST /tasks` led to: the task created or matched, if any. */
export interface SubmissionOutcome {
  /** Task created or matched; `null` when rejected. */
  readonly taskId: string | null;
  /** Its type; `null` when rejected. */
  readonly taskType: string | null;
  /** `true` only when a new task was created. */
  readonly created: boolean;
}

/** The outcome of a rejected `POST /tasks`. */
export const REJECTED: SubmissionOutcome = { taskId: null, taskType: null, created: false };

/**
 * The ordering fields of a submission body (protocol 2.1: `event`, `event_at`,
 * `entity`, `stale`), or null when the body has none of them.
 */
export function orderingOf(body: Readonly<Record<string, unknown>> | null): SubmissionOrdering | null {
  if (body === null || (body.event === undefined && body.event_at === undefined && body.entity === undefined && body.stale === undefined)) return null;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return { event: str(body.event), event_at: str(body.event_at), entity: str(body.entity), stale: body.stale === true };
}

/** A logged submission whose `status_code` can still be filled in (see `acceptThenHang`). */
export interface MutableSubmission {
  idempotency_key: string | null;
  delivery_id: string | null;
  ordering: SubmissionOrdering | null;
  status_code: number | null;
  task_id: string | null;
  at: string;
}

/** Reads the {@link SubmissionHeaders} of a request. */
export function submissionHeaders(request: FastifyRequest): SubmissionHeaders {
  return {
    idempotencyKey: singleHeader(request.headers['idempotency-key']),
    deliveryId: singleHeader(request.headers['x-github-delivery']),
  };
}

/** Every `POST /tasks` of one server, in the order decided. */
export class SubmissionLog {
  readonly #entries: MutableSubmission[] = [];
  readonly #emit: Emit;

  constructor(emit: Emit) {
    this.#emit = emit;
  }

  /**
   * Logs one decided `POST /tasks` (at = now) and emits its `submission` event.
   *
   * @param statusCode the status answered; `null` while the answer is withheld
   * @returns the logged entry, whose `status_code` the caller may fill in later
   */
  record(headers: SubmissionHeaders, statusCode: number | null, outcome: SubmissionOutcome, ordering: SubmissionOrdering | null = null): MutableSubmission {
    const sub: MutableSubmission = {
      idempotency_key: headers.idempotencyKey,
      delivery_id: headers.deliveryId,
      ordering,
      status_code: statusCode,
      task_id: outcome.taskId,
      at: nowIso(),
    };
    this.#entries.push(sub);
    this.#emit({ event: 'submission', created: outcome.created, task_type: outcome.taskType, ...sub });
    return sub;
  }

  /** Frozen copies of all entries, in order. */
  snapshots(): Submission[] {
    return this.#entries.map((s) => Object.freeze({ ...s }));
  }
}
