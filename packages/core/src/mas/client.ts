import { request, type Dispatcher } from 'undici';
import { parseRetryAfter } from '../time/backoff.js';
import { GitBridgeError } from '../errors/errors.js';
import { describeNetworkError } from '../errors/network.js';
import { USER_AGENT } from '../version.js';

/** How to reach the MAS. */
export interface MasClientOptions {
  /** Base URL; tasks go to `<masUrl>/tasks`. */
  readonly masUrl: string;
  /** Bearer token, if the MAS wants one. */
  readonly token?: string | undefined;
  /** `<public URL>/mas/callback`. */
  readonly callbackUrl: string;
  /** Per-attempt timeout, ms (headers and body). */
  readonly timeoutMs: number;
}

/** A task to submit (protocol 2.1). */
export interface MasSubmission {
  readonly taskType: string;
  /** The task object (DESIGN §4). */
  readonly payload: unknown;
  /** `<delivery id>:<task type>`: the same on every attempt, so the MAS holds one task. */
  readonly idempotencyKey: string;
  readonly deliveryId: string;
  /** `pull_request.opened` (null for a task stored before protocol 2.1's ordering fields). */
  readonly event: string | null;
  /** The event's own time, ISO-8601. */
  readonly eventAt: string;
  /** The entity the event concerns, e.g. `repo:1296269/pull/1`. */
  readonly entity: string;
  /** True when the MAS has already accepted a newer event of the same entity. */
  readonly stale: boolean;
}

/**
 * A failed submission. `retryable` false means permanent (a 4xx other than
 * 408 and 429): mark the task failed, do not retry. `retryAfterMs` is the
 * MAS's `Retry-After` on 429/503.
 */
export class MasError extends GitBridgeError {
  readonly retryable: boolean;
  readonly status: number | null;
  readonly retryAfterMs: number | null;

  constructor(code: 'GB_MAS_UNREACHABLE' | 'GB_MAS_REJECTED' | 'GB_MAS_RETRYABLE', message: string, extra: { retryable: boolean; status?: number | null; retryAfterMs?: number | null; cause?: unknown }) {
    super(code, { message, cause: extra.cause });
    this.retryable = extra.retryable;
    this.status = extra.status ?? null;
    this.retryAfterMs = extra.retryAfterMs ?? null;
  }
}

/** What the MAS's 2xx answer to a submission said. */
export interface MasAcceptance {
  /** The MAS's task id. */
  readonly taskId: string;
  /** The HTTP status (200, 201 or 202). */
  readonly status: number;
  /** Where the task stands at the MAS: `pending` unless the answer says `running`, `completed` or `failed`. */
  readonly masStatus: 'pending' | 'running' | 'completed' | 'failed';
  readonly result?: unknown;
  readonly error?: unknown;
}

/**
 * Submits one task to the MAS (protocol 2.1, DESIGN §5):
 * `POST <masUrl>/tasks` `{task_type, payload, callback_url, delivery_id,
 * event, event_at, entity, stale}` with `Idempotency-Key` and `X-GitHub-Delivery`.
 *
 * @returns the MAS's `task_id`, the HTTP status, and the task's status as the
 *   answer gives it (`masStatus`; `pending` when absent or not one of the
 *   protocol's). A MAS that already had the task (same Idempotency-Key) may
 *   answer with where it stands, `result` or `error` included (optional in protocol 2.1; docs/mas-protocol.md).
 * @throws MasError `GB_MAS_REJECTED` (permanent: 4xx other than 408/429, or a 2xx without task_id),
 *   `GB_MAS_RETRYABLE` (429, 408, 5xx), `GB_MAS_UNREACHABLE` (connection error or timeout)
 */
export async function submitTask(options: MasClientOptions, task: MasSubmission): Promise<MasAcceptance> {
  const body = JSON.stringify({
    task_type: task.taskType,
    payload: task.payload,
    callback_url: options.callbackUrl,
    delivery_id: task.deliveryId,
    event: task.event,
    event_at: task.eventAt,
    entity: task.entity,
    stale: task.stale,
  });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'idempotency-key': task.idempotencyKey,
    'x-github-delivery': task.deliveryId,
    'user-agent': USER_AGENT,
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(`${options.masUrl}/tasks`, {
      method: 'POST',
      headers,
      body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    throw new MasError('GB_MAS_UNREACHABLE', `MAS unreachable: ${describeNetworkError(err, options.timeoutMs)}`, { retryable: true, cause: err });
  }
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw new MasError('GB_MAS_UNREACHABLE', `MAS response body failed: ${describeNetworkError(err, options.timeoutMs)}`, { retryable: true, cause: err });
  }
  const status = res.statusCode;
  if (status === 200 || status === 201 || status === 202) {
    let answer: { task_id?: unknown; status?: unknown; result?: unknown; error?: unknown } = {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object') answer = parsed as typeof answer;
    } catch {
      // no task_id: handled below
    }
    const taskId = answer.task_id;
    if ((typeof taskId !== 'string' && typeof taskId !== 'number') || taskId === '') {
      throw new MasError('GB_MAS_RETRYABLE', `MAS answered ${status} without a task_id`, { retryable: true, status });
    }
    const masStatus = answer.status === 'running' || answer.status === 'completed' || answer.status === 'failed' ? answer.status : 'pending';
    return {
      taskId: String(taskId),
      status,
      masStatus,
      ...(answer.result !== undefined ? { result: answer.result } : {}),
      ...(answer.error !== undefined ? { error: answer.error } : {}),
    };
  }
  const reason = text.slice(0, 500);
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | string[] | undefined);
  if (status === 408 || status === 429 || status >= 500) {
    throw new MasError('GB_MAS_RETRYABLE', `MAS answered ${status}: ${reason}`, { retryable: true, status, retryAfterMs });
  }
  throw new MasError('GB_MAS_REJECTED', `MAS rejected the task with ${status}: ${reason}`, { retryable: false, status });
}
