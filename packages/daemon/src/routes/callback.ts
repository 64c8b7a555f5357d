import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isObject, jsonDeeperThan, verifySignature, webhookContentType, type Metrics, type Store } from '@gitbridge/core';
import { rawBody, sendError } from '../http.js';

/** What the callback route needs. */
export interface CallbackRouteDeps {
  readonly callbackSecret: string;
  readonly store: Pick<Store, 'applyCallback'>;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly security: Logger;
}

/** Callback bodies are small JSON documents: nothing larger than this is read, bytes. */
export const CALLBACK_MAX_BYTES = 1024 * 1024;

/** Deepest nesting of arrays and objects a callback's `result` or `error` may have (MAS protocol 2.1). */
export const CALLBACK_MAX_DEPTH = 64;

/**
 * `POST /mas/callback` (MAS protocol 2.1): a task's status update, signed
 * with `X-MAS-Signature-256` over the raw body. Any node serves it: the
 * update is applied to the shared store. The `200` is sent after the state
 * change is durable.
 */
export function callbackRoute(app: FastifyInstance, deps: CallbackRouteDeps): void {
  const { metrics, log, security, store } = deps;
  app.post('/mas/callback', { bodyLimit: CALLBACK_MAX_BYTES }, async (req, reply) => {
    const body = rawBody(req.body);
    const v = verifySignature([deps.callbackSecret], body, req.headers['x-mas-signature-256']);
    if (!v.ok) {
      metrics.callbacks.inc({ outcome: 'unauthorized' });
      security.warn({ kind: 'callback_signature_failed', reason: v.reason, ip: req.gbClientIp }, 'MAS callback signature verification failed');
      return sendError(reply, 'GB_CALLBACK_SIGNATURE_MISMATCH');
    }
    const invalid = (message: string) => {
      metrics.callbacks.inc({ outcome: 'invalid' });
      return sendError(reply, 'GB_CALLBACK_INVALID', message);
    };
    // The protocol's body is JSON, said so by its Content-Type (docs/mas-protocol.md); parameters and case are ignored.
    if (webhookContentType(req.headers['content-type']) !== 'json') {
      metrics.callbacks.inc({ outcome: 'invalid' });
      return sendError(reply, 'GB_BAD_REQUEST', 'Content-Type must be application/json');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed)) return invalid('Callback body must be a JSON object');
    const { task_id: taskId, status, result, error } = parsed;
    if ((typeof taskId !== 'string' && typeof taskId !== 'number') || String(taskId) === '') return invalid('Callback field "task_id" is required');
    if (status !== 'running' && status !== 'completed' && status !== 'failed') return invalid('Callback field "status" must be running, completed or failed');
    // Stored as JSON: a value nested deeper than any real result would overflow the stack there.
    for (const [name, value] of [['result', result], ['error', error]] as const) {
      if (jsonDeeperThan(value, CALLBACK_MAX_DEPTH)) return invalid(`Callback field "${name}" is nested deeper than ${CALLBACK_MAX_DEPTH} levels`);
    }
    const r = await store.applyCallback(String(taskId), status, { result, error });
    if (r.outcome === 'unknown') {
      metrics.callbacks.inc({ outcome: 'unknown_task' });
      return sendError(reply, 'GB_CALLBACK_UNKNOWN_TASK', `No task with task_id ${String(taskId).slice(0, 100)} is tracked`);
    }
    metrics.callbacks.inc({ outcome: r.outcome });
    log.info({ deliveryId: r.task.deliveryId, taskId: String(taskId), status, applied: r.outcome === 'applied' }, r.outcome === 'applied' ? `task ${status}` : 'callback ignored: task already at or past this state');
    return reply.code(200).send({ task_id: String(taskId), status: r.task.status, applied: r.outcome === 'applied' });
  });
}
