/**
 * `POST /tasks`: task submission, idempotent on the `Idempotency-Key` header.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UNAUTHORIZED } from '../auth.js';
import type { Authorizer } from '../auth.js';
import type { FailureModeControl } from '../failure-modes.js';
import { dropConnection, isPlainObject, parseJsonObject, sendError } from '../http.js';
import type { ErrorReply } from '../http.js';
import type { SubmissionOrdering } from '../types.js';
import { REJECTED, orderingOf, submissionHeaders } from '../submissions.js';
import type { SubmissionHeaders, SubmissionLog } from '../submissions.js';
import type { TaskRecord, TaskRegistry } from '../tasks.js';
import type { RunState, Timers } from '../timers.js';

/** What `POST /tasks` needs. */
export interface SubmitTaskDeps {
  /** Bearer-token check. */
  readonly authorized: Authorizer;
  /** Injected failures, `hang` and `acceptThenHang`. */
  readonly modes: FailureModeControl;
  /** Sleeps of `hang`. */
  readonly timers: Timers;
  /** A request still waiting when the server closes is dropped. */
  readonly run: RunState;
  /** Where tasks are found and created. */
  readonly tasks: TaskRegistry;
  /** Where every request is logged. */
  readonly submissions: SubmissionLog;
}

/** How one `POST /tasks` is answered. */
type Decision = (
  | { readonly accepted: false; readonly error: ErrorReply }
  | { readonly accepted: true; readonly status: 200 | 201; readonly task: TaskRecord; readonly created: boolean }
) & { readonly ordering?: SubmissionOrdering | null };

/**
 * Decides a `POST /tasks`, checking in this order: an injected failure
 * (`failNext`), the token, the `Idempotency-Key`, the body
 * `{task_type, payload, callback_url}`; then answers 200 with the task
 * already created under the key, or creates one (201).
 */
function decide(request: FastifyRequest, headers: SubmissionHeaders, deps: SubmitTaskDeps): Decision {
  const reject = (error: ErrorReply): Decision => ({ accepted: false, error });
  const invalid = (message: string): Decision => reject({ status: 400, code: 'INVALID_BODY', message });

  const injected = deps.modes.takeInjectedFailure();
  if (injected) return reject(injected);
  if (!deps.authorized(request)) return reject(UNAUTHORIZED);
  const { idempotencyKey, deliveryId } = headers;
  if (idempotencyKey === null) {
    return reject({ status: 400, code: 'MISSING_IDEMPOTENCY_KEY', message: 'the Idempotency-Key header is required (<delivery id>:<task type>)' });
  }
  const parsed = parseJsonObject(request.body);
  if (!parsed.ok) return reject(parsed.error);
  const ordering = orderingOf(parsed.value);
  const { task_type: taskType, payload, callback_url: callbackUrl } = parsed.value;
  if (typeof taskType !== 'string' || taskType.trim() === '') return invalid('task_type must be a non-empty string');
  if (!isPlainObject(payload)) return invalid('payload must be a JSON object');
  if (typeof callbackUrl !== 'string') return invalid('callback_url must be a string');
  let url: URL;
  try {
    url = new URL(callbackUrl);
  } catch {
    return invalid('callback_url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid('callback_url must use http or https');

  const existing = deps.tasks.findByIdempotencyKey(idempotencyKey);
  if (existing) return { accepted: true, status: 200, task: existing, created: false, ordering };
  const task = deps.tasks.create({
    task_type: taskType,
    payload,
    callback_url: callbackUrl,
    idempotency_key: idempotencyKey,
    delivery_id: deliveryId,
    ordering,
  });
  return { accepted: true, status: 201, task, created: true, ordering };
}

/**
 * Registers `POST /tasks`. Body `{task_type: string, payload: object,
 * callback_url: "http(s)://..."}`, header `Idempotency-Key` required
 * (`X-GitHub-Delivery` recorded when present). Answers 201
 * `{task_id, status: "pending"}` for a new key, 200 with the same body for a
 * known key, else `{statusCode, code, error, message}`: the injected status,
 * 401, or 400 (`MISSING_IDEMPOTENCY_KEY`, `INVALID_JSON`, `INVALID_BODY`).
 * Each decided request is logged as a submission. Under `hang` it first
 * waits (ms); under `acceptThenHang` the answer is withheld until `reset()`
 * (`close()` drops the connection instead).
 */
export function registerSubmitTask(app: FastifyInstance, deps: SubmitTaskDeps): void {
  const { modes, timers, run, submissions } = deps;
  app.post('/tasks', async (request, reply) => {
    if (modes.hangMs > 0) await timers.sleep(modes.hangMs);
    if (run.closed) return dropConnection(reply);
    const headers = submissionHeaders(request);
    const decision = decide(request, headers, deps);
    const status = decision.accepted ? decision.status : decision.error.status;
    const outcome = decision.accepted
      ? { taskId: decision.task.task_id, taskType: decision.task.task_type, created: decision.created }
      : REJECTED;
    if (modes.acceptThenHang) {
      const sub = submissions.record(headers, null, outcome, decision.ordering ?? null);
      const release = await modes.hold();
      if (!release || run.closed) return dropConnection(reply);
      sub.status_code = status;
    } else {
      submissions.record(headers, status, outcome, decision.ordering ?? null);
    }
    if (!decision.accepted) return sendError(reply, decision.error);
    // A known key: the task as it stands now (optional in MAS protocol 2.1), so that a
    // caller that missed its callbacks learns how it ended.
    const t = decision.task;
    return reply.code(status).send({ task_id: t.task_id, status: t.status, ...(t.result !== undefined && t.status === 'completed' ? { result: t.result } : {}) });
  });
}
