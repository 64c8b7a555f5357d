/**
 * `startReferenceMas`: wires the parts of the reference MAS (options, task
 * registry, callback sender, failure modes, routes) into one running server.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createAuthorizer } from './auth.js';
import { CallbackSender } from './callbacks.js';
import { createEmitter } from './events.js';
import { createFailureModes } from './failure-modes.js';
import { resolveOptions } from './options.js';
import { registerControlRoutes } from './routes/control.js';
import { registerReadRoutes } from './routes/read.js';
import { registerSubmitTask } from './routes/submit-task.js';
import { SubmissionLog } from './submissions.js';
import { TaskRegistry } from './tasks.js';
import { Timers } from './timers.js';
import type { RunState } from './timers.js';
import type { ReferenceMas, ReferenceMasOptions } from './types.js';

/**
 * Starts a reference MAS server speaking MAS protocol 2.1 and resolves once
 * it is listening.
 *
 * Endpoints:
 * - `POST /tasks` body `{task_type: string, payload: object, callback_url: "http(s)://..."}`,
 *   header `Idempotency-Key` required (`X-GitHub-Delivery` recorded when present):
 *   201 `{task_id, status: "pending"}` for a new key, 200 with the task as it
 *   stands (`{task_id, status, result?}`) for a known key; 400 `{statusCode, code, error, message}` for invalid JSON / body or a
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
  const run: RunState = { closed: false };
  const emit = createEmitter(opts.onEvent);
  const timers = new Timers();
  const authorized = createAuthorizer(opts.token);
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

  const app = createApp({ logger: opts.logger, submissions });
  /** The port asked for until listening, then the one bound. */
  let port = opts.port;
  const modes = createFailureModes({ server: app.server, host, port: () => port, timers, run, emit });
  app.addHook('onSend', (request, reply, payload) => modes.onSend(request, reply, payload));
  registerReadRoutes(app, { authorized, tasks });
  registerSubmitTask(app, { authorized, modes, timers, run, tasks, submissions });
  if (opts.control) registerControlRoutes(app, { authorized, failureModes: modes.api });

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
