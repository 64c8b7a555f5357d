import { setMaxListeners } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify } from 'fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Agent, request as httpRequest } from 'undici';
import { sign } from '@gitbridge/core/signature';
import type {
  CallbackAttempt,
  CallbackStatus,
  ControlAction,
  FailureModes,
  FailureModeState,
  ReferenceMas,
  ReferenceMasEvent,
  ReferenceMasOptions,
  ReferenceMasTask,
  TaskStatus,
} from './types.js';
import { MAX_MS, assertInt, assertMs, resolveOptions } from './options.js';
import { Timers, nowIso } from './timers.js';
import { createEmitter, describeError } from './events.js';
import { dropConnection, errorBody, isPlainObject, parseJsonObject, sendError, singleHeader } from './http.js';
import type { ErrorReply } from './http.js';
import { UNAUTHORIZED, createAuthorizer, unauthorized } from './auth.js';

// ---------------------------------------------------------------------------
// Implementation helpers
// ---------------------------------------------------------------------------

interface TaskRecord {
  task_id: string;
  task_type: string;
  payload: Record<string, unknown>;
  callback_url: string;
  idempotency_key: string;
  delivery_id: string | null;
  created_at: string;
  updated_at: string;
  status: TaskStatus;
  result?: Record<string, unknown>;
  /** Tail of this task's callback chain: callbacks are delivered one after the other. */
  queue: Promise<void>;
}

interface MutableSubmission {
  idempotency_key: string | null;
  delivery_id: string | null;
  status_code: number | null;
  task_id: string | null;
  at: string;
}

interface SubmitResponse {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  taskId: string | null;
  taskType: string | null;
  created: boolean;
}

function snapshotTask(t: TaskRecord): ReferenceMasTask {
  const snap: ReferenceMasTask = {
    task_id: t.task_id,
    task_type: t.task_type,
    payload: t.payload,
    callback_url: t.callback_url,
    idempotency_key: t.idempotency_key,
    delivery_id: t.delivery_id,
    created_at: t.created_at,
    updated_at: t.updated_at,
    status: t.status,
    ...(t.result !== undefined ? { result: t.result } : {}),
  };
  return Object.freeze(snap);
}

// ---------------------------------------------------------------------------
// startReferenceMas
// ---------------------------------------------------------------------------

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
  const {
    callbackSecret: secret,
    host,
    port: requestedPort,
    callbackDelayMs,
    completeAfterMs,
    callbackMaxAttempts: maxAttempts,
    callbackRetryBaseMs: retryBaseMs,
    callbackTimeoutMs,
    control: controlEnabled,
    logger,
    onEvent,
  } = resolveOptions(options);
  const authorized = createAuthorizer(options.token);

  // --- state ---------------------------------------------------------------
  const tasks = new Map<string, TaskRecord>();
  const byKey = new Map<string, TaskRecord>();
  const submissions: MutableSubmission[] = [];
  const callbacks: CallbackAttempt[] = [];
  const timers = new Timers();
  const agent = new Agent({
    connect: { timeout: callbackTimeoutMs },
    headersTimeout: callbackTimeoutMs,
    bodyTimeout: callbackTimeoutMs,
  });
  const abort = new AbortController();
  // One signal cancels every callback in flight on close(); there may be many at once.
  setMaxListeners(0, abort.signal);
  let closed = false;

  let failNext: { remaining: number; status: number; retryAfterS: number | null } | null = null;
  let hangMs = 0;
  let acceptThenHang = false;
  let slowMs = 0;
  let refusing = false;
  let relistenTimer: NodeJS.Timeout | undefined;
  let relistenWaiters: Array<() => void> = [];
  /** Responses withheld by acceptThenHang: resolve(true) sends, resolve(false) drops. */
  const held = new Set<(release: boolean) => void>();

  const emit = createEmitter(onEvent);

  // --- callbacks -------------------------------------------------------------
  async function deliver(task: TaskRecord, status: CallbackStatus, raw: Buffer): Promise<void> {
    const signature = sign(secret, raw);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (closed) return;
      let outcome: { status_code: number } | { error: string };
      try {
        const res = await httpRequest(task.callback_url, {
          method: 'POST',
          dispatcher: agent,
          signal: abort.signal,
          headers: {
            'content-type': 'application/json',
            'x-mas-signature-256': signature,
            'user-agent': 'gitbridge-mas-reference',
          },
          body: raw,
        });
        try {
          await res.body.dump();
        } catch {
          // The status line is what matters; a broken body does not change it.
        }
        outcome = { status_code: res.statusCode };
      } catch (err) {
        if (closed) return;
        outcome = { error: describeError(err) };
      }
      if (closed) return;
      const delivered = 'status_code' in outcome && outcome.status_code >= 200 && outcome.status_code < 300;
      const record: CallbackAttempt = { task_id: task.task_id, status, attempt, at: nowIso(), ...outcome };
      callbacks.push(record);
      const willRetry = !delivered && attempt < maxAttempts;
      emit({ event: 'callback', callback_url: task.callback_url, will_retry: willRetry, ...record });
      if (!willRetry) return;
      const fired = await timers.sleep(Math.min(retryBaseMs * 2 ** (attempt - 1), MAX_MS));
      if (!fired) return;
    }
  }

  function transition(task: TaskRecord, status: CallbackStatus, result?: Record<string, unknown>): void {
    if (closed) return;
    task.status = status;
    task.updated_at = nowIso();
    if (result !== undefined) task.result = result;
    const body: Record<string, unknown> = { task_id: task.task_id, status, updated_at: task.updated_at };
    if (result !== undefined) body.result = result;
    const raw = Buffer.from(JSON.stringify(body), 'utf8');
    task.queue = task.queue.then(() => deliver(task, status, raw)).catch(() => undefined);
  }

  function scheduleLifecycle(task: TaskRecord): void {
    void (async () => {
      if (!(await timers.sleep(callbackDelayMs))) return;
      transition(task, 'running');
      if (!(await timers.sleep(completeAfterMs))) return;
      transition(task, 'completed', { summary: `reference MAS handled ${task.task_type}` });
    })();
  }

  // --- POST /tasks logic -----------------------------------------------------
  function submit(request: FastifyRequest, idempotencyKey: string | null, deliveryId: string | null): SubmitResponse {
    const reject = (status: number, code: string, message: string, headers?: Readonly<Record<string, string>>): SubmitResponse => ({
      status,
      body: errorBody(status, code, message),
      taskId: null,
      taskType: null,
      created: false,
      ...(headers ? { headers } : {}),
    });
    const rejectWith = (error: ErrorReply): SubmitResponse => reject(error.status, error.code, error.message, error.headers);

    if (failNext && failNext.remaining > 0) {
      const { status, retryAfterS } = failNext;
      failNext.remaining -= 1;
      if (failNext.remaining === 0) failNext = null;
      return reject(
        status,
        'INJECTED_FAILURE',
        `failure injected by the reference MAS (failNext)`,
        retryAfterS !== null ? { 'retry-after': String(retryAfterS) } : undefined,
      );
    }
    if (!authorized(request)) {
      return rejectWith(UNAUTHORIZED);
    }
    if (idempotencyKey === null) {
      return reject(400, 'MISSING_IDEMPOTENCY_KEY', 'the Idempotency-Key header is required (<delivery id>:<task type>)');
    }
    const parsed = parseJsonObject(request.body);
    if (!parsed.ok) return rejectWith(parsed.error);
    const body = parsed.value;
    const { task_type: taskType, payload, callback_url: callbackUrl } = body;
    if (typeof taskType !== 'string' || taskType.trim() === '') {
      return reject(400, 'INVALID_BODY', 'task_type must be a non-empty string');
    }
    if (!isPlainObject(payload)) return reject(400, 'INVALID_BODY', 'payload must be a JSON object');
    if (typeof callbackUrl !== 'string') return reject(400, 'INVALID_BODY', 'callback_url must be a string');
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      return reject(400, 'INVALID_BODY', 'callback_url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return reject(400, 'INVALID_BODY', 'callback_url must use http or https');
    }

    const existing = byKey.get(idempotencyKey);
    if (existing) {
      return {
        status: 200,
        body: { task_id: existing.task_id, status: 'pending' },
        taskId: existing.task_id,
        taskType: existing.task_type,
        created: false,
      };
    }
    const at = nowIso();
    const task: TaskRecord = {
      task_id: randomUUID(),
      task_type: taskType,
      payload,
      callback_url: callbackUrl,
      idempotency_key: idempotencyKey,
      delivery_id: deliveryId,
      created_at: at,
      updated_at: at,
      status: 'pending',
      queue: Promise.resolve(),
    };
    tasks.set(task.task_id, task);
    byKey.set(idempotencyKey, task);
    scheduleLifecycle(task);
    return { status: 201, body: { task_id: task.task_id, status: 'pending' }, taskId: task.task_id, taskType, created: true };
  }

  function recordSubmission(
    idempotencyKey: string | null,
    deliveryId: string | null,
    statusCode: number | null,
    taskId: string | null,
    taskType: string | null,
    created: boolean,
  ): MutableSubmission {
    const sub: MutableSubmission = {
      idempotency_key: idempotencyKey,
      delivery_id: deliveryId,
      status_code: statusCode,
      task_id: taskId,
      at: nowIso(),
    };
    submissions.push(sub);
    emit({ event: 'submission', created, task_type: taskType, ...sub });
    return sub;
  }

  // --- failure modes -----------------------------------------------------------
  const controlEvent = (action: ControlAction, params: Record<string, number> = {}): void => {
    emit({ event: 'control', action, params, at: nowIso() });
  };

  function finishRefusing(): void {
    refusing = false;
    const waiters = relistenWaiters;
    relistenWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function relisten(): void {
    relistenTimer = undefined;
    if (closed || !refusing) return;
    const server = app.server;
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      emit({ event: 'error', message: `listening again on ${host}:${port} failed: ${describeError(err)}; retrying in 100 ms`, at: nowIso() });
      if (!closed && refusing) relistenTimer = setTimeout(relisten, 100);
    };
    const onListening = (): void => {
      server.off('error', onError);
      if (closed) {
        server.close();
        return;
      }
      finishRefusing();
      controlEvent('listening_again', { port });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host });
  }

  const failureModes: FailureModes = {
    failNext(count, status, opts) {
      assertInt('count', count, 0, 1_000_000);
      assertInt('status', status, 400, 599);
      const retryAfterS = opts?.retryAfterS === undefined ? null : assertInt('retryAfterS', opts.retryAfterS, 0, 86_400 * 365);
      failNext = count > 0 ? { remaining: count, status, retryAfterS } : null;
      controlEvent('fail_next', { count, status, ...(retryAfterS !== null ? { retry_after_s: retryAfterS } : {}) });
    },
    hang(ms) {
      hangMs = assertMs('ms', ms);
      controlEvent('hang', { ms });
    },
    acceptThenHang() {
      acceptThenHang = true;
      controlEvent('accept_then_hang');
    },
    refuseConnections(ms) {
      assertMs('ms', ms);
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => relistenWaiters.push(resolve));
      if (!refusing) {
        refusing = true;
        // Stops accepting at once; Node also closes idle keep-alive sockets.
        // Active requests finish, answered with `Connection: close` (onSend hook).
        app.server.close();
        app.server.closeIdleConnections();
      }
      if (relistenTimer) clearTimeout(relistenTimer);
      relistenTimer = setTimeout(relisten, ms);
      controlEvent('refuse_connections', { ms });
      return done;
    },
    slow(ms) {
      slowMs = assertMs('ms', ms);
      controlEvent('slow', { ms });
    },
    reset() {
      failNext = null;
      hangMs = 0;
      acceptThenHang = false;
      slowMs = 0;
      for (const release of held) release(true);
      held.clear();
      if (refusing && relistenTimer) {
        clearTimeout(relistenTimer);
        relisten();
      }
      controlEvent('reset');
    },
    get state(): FailureModeState {
      return {
        failNext: failNext ? { ...failNext } : null,
        hangMs,
        acceptThenHang,
        refusingConnections: refusing,
        slowMs,
      };
    },
  };

  // --- fastify app -----------------------------------------------------------
  const app = fastify({ logger, forceCloseConnections: true });

  // Keep the raw bytes; handlers JSON.parse them so they control the 400.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (request.method === 'POST' && request.routeOptions.url === '/tasks') {
      recordSubmission(
        singleHeader(request.headers['idempotency-key']),
        singleHeader(request.headers['x-github-delivery']),
        status,
        null,
        null,
        false,
      );
    }
    const message = status >= 500 ? 'internal error in the reference MAS' : error.message;
    return sendError(reply, { status, code: error.code ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST'), message });
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, { status: 404, code: 'NOT_FOUND', message: `route ${request.method} ${request.url.split('?')[0] ?? ''} not found` }),
  );

  app.addHook('onSend', async (request, reply, payload) => {
    if (refusing) reply.header('connection', 'close');
    if (slowMs > 0 && !request.url.startsWith('/_control')) await timers.sleep(slowMs);
    return payload;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post('/tasks', async (request, reply) => {
    if (hangMs > 0) await timers.sleep(hangMs);
    if (closed) return dropConnection(reply);
    const idempotencyKey = singleHeader(request.headers['idempotency-key']);
    const deliveryId = singleHeader(request.headers['x-github-delivery']);
    const outcome = submit(request, idempotencyKey, deliveryId);
    if (acceptThenHang) {
      const sub = recordSubmission(idempotencyKey, deliveryId, null, outcome.taskId, outcome.taskType, outcome.created);
      const release = await new Promise<boolean>((resolve) => {
        if (closed) resolve(false);
        else held.add(resolve);
      });
      if (!release || closed) return dropConnection(reply);
      sub.status_code = outcome.status;
    } else {
      recordSubmission(idempotencyKey, deliveryId, outcome.status, outcome.taskId, outcome.taskType, outcome.created);
    }
    if (outcome.headers) reply.headers(outcome.headers);
    return reply.code(outcome.status).send(outcome.body);
  });

  app.get('/tasks', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    return { tasks: [...tasks.values()].map(snapshotTask) };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    const task = tasks.get(request.params.id);
    if (!task) return sendError(reply, { status: 404, code: 'TASK_NOT_FOUND', message: `no task with id ${request.params.id}` });
    return snapshotTask(task);
  });

  if (controlEnabled) {
    /** Wraps a control action: auth, JSON body (optional), 400 on bad parameters, answers the new state. */
    const control = (
      path: string,
      run: (body: Record<string, unknown>) => void,
    ): void => {
      app.post(`/_control/${path}`, async (request, reply) => {
        if (!authorized(request)) return unauthorized(reply);
        const parsed = parseJsonObject(request.body, {});
        if (!parsed.ok) return sendError(reply, parsed.error);
        try {
          run(parsed.value);
        } catch (err) {
          return sendError(reply, { status: 400, code: 'INVALID_BODY', message: (err as Error).message });
        }
        return { ok: true, state: failureModes.state };
      });
    };
    control('fail-next', (b) => {
      const opts = b.retry_after_s === undefined ? undefined : { retryAfterS: b.retry_after_s as number };
      failureModes.failNext((b.count ?? 1) as number, (b.status ?? 503) as number, opts);
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

  await app.listen({ port: requestedPort, host });
  const address = app.server.address() as AddressInfo;
  const port = address.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;

  return {
    url,
    port,
    get tasks() {
      return [...tasks.values()].map(snapshotTask);
    },
    get submissions() {
      return submissions.map((s) => Object.freeze({ ...s }));
    },
    get callbacks() {
      return [...callbacks];
    },
    failureModes,
    close() {
      if (closing) return closing;
      closed = true;
      if (relistenTimer) clearTimeout(relistenTimer);
      relistenTimer = undefined;
      finishRefusing();
      timers.cancelAll();
      for (const release of held) release(false);
      held.clear();
      abort.abort();
      closing = (async () => {
        await app.close();
        await agent.destroy().catch(() => undefined);
      })();
      return closing;
    },
  };
}
