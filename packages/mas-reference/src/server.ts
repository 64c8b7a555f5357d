import type { AddressInfo } from 'node:net';
import { fastify } from 'fastify';
import type { FastifyError, FastifyRequest } from 'fastify';
import { UNAUTHORIZED, createAuthorizer, unauthorized } from './auth.js';
import { CallbackSender } from './callbacks.js';
import { createEmitter } from './events.js';
import { createFailureModes } from './failure-modes.js';
import { dropConnection, isPlainObject, parseJsonObject, sendError } from './http.js';
import type { ErrorReply } from './http.js';
import { resolveOptions } from './options.js';
import { REJECTED, SubmissionLog, submissionHeaders } from './submissions.js';
import type { SubmissionHeaders } from './submissions.js';
import { TaskRegistry, snapshotTask } from './tasks.js';
import type { TaskRecord } from './tasks.js';
import { Timers } from './timers.js';
import type { RunState } from './timers.js';
import type { ReferenceMas, ReferenceMasOptions } from './types.js';

type SubmitDecision =
  | { readonly accepted: false; readonly error: ErrorReply }
  | { readonly accepted: true; readonly status: 200 | 201; readonly task: TaskRecord; readonly created: boolean };

/**
 * Starts a reference MAS server speaking MAS protocol 2.1 and resolves once
 * it is listening.
 *
 * Endpoints:
 * - `POST /tasks` body `{task_type: string, payload: object, callback_url: "http(s)://..."}`,
 *   header `Idempotency-Key` required (`X-GitHub-Delivery` recorded when present):
 *   201 `{task_id, status: "pending"}` for a new key, 200 with the same body for a
 *   known key; 400 `{statusCode, code, error, message}` for invalid JSON / body or a
 *   missing key; 401 for a missing/wrong bearer token when `token` is set.
 * - `GET /tasks` → `{tasks: ReferenceMasTask[]}`; `GET /tasks/:id` → task or 404; `GET /healthz` → `{status: "ok"}`.
 * - `POST /_control/{fail-next,hang,accept-then-hang,refuse-connections,slow,reset}` and
 *   `GET /_control` (state), unless `control: false`.
 *
 * Each new task goes `running` `callbackDelayMs` after creation and
 * `completed` (result `{summary: "reference MAS handled <task_type>"}`)
 * `completeAfterMs` later; each change is POSTed to `callback_url` as
 * `{task_id, status, result?, updated_at}` signed with `X-MAS-Signature-256`.
 * Callbacks of one task are delivered in order; a non-2xx answer or a
 * connection error is retried after `callbackRetryBaseMs` doubling, up to
 * `callbackMaxAttempts` attempts.
 *
 * @throws Error when `callbackSecret` is missing/empty or an option is out of range;
 *   rejects when the port cannot be bound.
 */
export async function startReferenceMas(options: ReferenceMasOptions): Promise<ReferenceMas> {
  const opts = resolveOptions(options);
  const { host } = opts;
  const authorized = createAuthorizer(opts.token);
  const run: RunState = { closed: false };
  const emit = createEmitter(opts.onEvent);
  const timers = new Timers();
  const sender = new CallbackSender({
    secret: opts.callbackSecret,
    maxAttempts: opts.callbackMaxAttempts,
    retryBaseMs: opts.callbackRetryBaseMs,
    timeoutMs: opts.callbackTimeoutMs,
    timers,
    run,
    emit,
  });
  const tasks = new TaskRegistry({
    callbackDelayMs: opts.callbackDelayMs,
    completeAfterMs: opts.completeAfterMs,
    timers,
    run,
    onChange: (task, change) => sender.send(task.callback_url, change),
  });
  const submissions = new SubmissionLog(emit);

  function submit(request: FastifyRequest, headers: SubmissionHeaders): SubmitDecision {
    const reject = (error: ErrorReply): SubmitDecision => ({ accepted: false, error });
    const injected = modes.takeInjectedFailure();
    if (injected) return reject(injected);
    if (!authorized(request)) return reject(UNAUTHORIZED);
    const idempotencyKey = headers.idempotencyKey;
    if (idempotencyKey === null) {
      return reject({ status: 400, code: 'MISSING_IDEMPOTENCY_KEY', message: 'the Idempotency-Key header is required (<delivery id>:<task type>)' });
    }
    const parsed = parseJsonObject(request.body);
    if (!parsed.ok) return reject(parsed.error);
    const invalid = (message: string): SubmitDecision => reject({ status: 400, code: 'INVALID_BODY', message });
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

    const existing = tasks.findByIdempotencyKey(idempotencyKey);
    if (existing) return { accepted: true, status: 200, task: existing, created: false };
    const task = tasks.create({
      task_type: taskType,
      payload,
      callback_url: callbackUrl,
      idempotency_key: idempotencyKey,
      delivery_id: headers.deliveryId,
    });
    return { accepted: true, status: 201, task, created: true };
  }

  // --- fastify app -----------------------------------------------------------
  const app = fastify({ logger: opts.logger, forceCloseConnections: true });
  let port = opts.port;
  const modes = createFailureModes({ server: app.server, host, port: () => port, timers, run, emit });

  // Keep the raw bytes; handlers JSON.parse them so they control the 400.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (request.method === 'POST' && request.routeOptions.url === '/tasks') {
      submissions.record(submissionHeaders(request), status, REJECTED);
    }
    const message = status >= 500 ? 'internal error in the reference MAS' : error.message;
    return sendError(reply, { status, code: error.code ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST'), message });
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, { status: 404, code: 'NOT_FOUND', message: `route ${request.method} ${request.url.split('?')[0] ?? ''} not found` }),
  );

  app.addHook('onSend', (request, reply, payload) => modes.onSend(request, reply, payload));

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post('/tasks', async (request, reply) => {
    if (modes.hangMs > 0) await timers.sleep(modes.hangMs);
    if (run.closed) return dropConnection(reply);
    const headers = submissionHeaders(request);
    const decision = submit(request, headers);
    const outcome = decision.accepted
      ? { taskId: decision.task.task_id, taskType: decision.task.task_type, created: decision.created }
      : REJECTED;
    if (modes.acceptThenHang) {
      const sub = submissions.record(headers, null, outcome);
      const release = await modes.hold();
      if (!release || run.closed) return dropConnection(reply);
      sub.status_code = decision.accepted ? decision.status : decision.error.status;
    } else {
      submissions.record(headers, decision.accepted ? decision.status : decision.error.status, outcome);
    }
    if (!decision.accepted) return sendError(reply, decision.error);
    return reply.code(decision.status).send({ task_id: decision.task.task_id, status: 'pending' });
  });

  app.get('/tasks', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    return { tasks: tasks.snapshots() };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    const task = tasks.get(request.params.id);
    if (!task) return sendError(reply, { status: 404, code: 'TASK_NOT_FOUND', message: `no task with id ${request.params.id}` });
    return snapshotTask(task);
  });

  if (opts.control) {
    const failureModes = modes.api;
    /** Wraps a control action: auth, JSON body (optional), 400 on bad parameters, answers the new state. */
    const control = (
      path: string,
      act: (body: Record<string, unknown>) => void,
    ): void => {
      app.post(`/_control/${path}`, async (request, reply) => {
        if (!authorized(request)) return unauthorized(reply);
        const parsed = parseJsonObject(request.body, {});
        if (!parsed.ok) return sendError(reply, parsed.error);
        try {
          act(parsed.value);
        } catch (err) {
          return sendError(reply, { status: 400, code: 'INVALID_BODY', message: (err as Error).message });
        }
        return { ok: true, state: failureModes.state };
      });
    };
    control('fail-next', (b) => {
      const o = b.retry_after_s === undefined ? undefined : { retryAfterS: b.retry_after_s as number };
      failureModes.failNext((b.count ?? 1) as number, (b.status ?? 503) as number, o);
    });
    control('hang', (b) => failureModes.hang(b.ms as number));
    control('accept-then-hang', () => failureModes.acceptThenHang());
    control('refuse-connections', (b) => {
      void failureModes.refuseConnections(b.ms as number);
    });
    control('slow', (b) => failureModes.slow(b.ms as number));
    control('reset', () => failureModes.reset());
    app.get('/_control', async (request, reply) => {
      if (!authorized(request)) return unauthorized(reply);
      return { state: failureModes.state };
    });
  }

  await app.listen({ port: opts.port, host });
  port = (app.server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;

  return {
    url,
    port,
    get tasks() {
      return tasks.snapshots();
    },
    get submissions() {
      return submissions.snapshots();
    },
    get callbacks() {
      return sender.attempts();
    },
    failureModes: modes.api,
    close() {
      if (closing) return closing;
      run.closed = true;
      modes.close();
      timers.cancelAll();
      sender.abort();
      closing = (async () => {
        await app.close();
        await sender.destroy();
      })();
      return closing;
    },
  };
}
