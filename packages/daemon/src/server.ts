import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  IpAllowlist,
  clientAddress,
  normalizeAddress,
  decodePayload,
  errorBody,
  identifyDelivery,
  isGitBridgeError,
  labelValue,
  rateLimitSubject,
  readDeliveryHeaders,
  verifySignature,
  webhookContentType,
  type Config,
  type ErrorCode,
  type EventStatus,
  type GroupCommitter,
  type Loggers,
  type Metrics,
  type RateLimiter,
  type RejectionReason,
  type Store,
  type TransactionBatcher,
  type WebhookContentType,
} from '@gitbridge/core';

/** What {@link buildServer} needs; every I/O part is injected. */
export interface ServerDeps {
  readonly config: Config;
  readonly store: Store;
  readonly committer: GroupCommitter;
  /** Batches the callback and replay routes' writes into shared transactions (and holds them during a WAL restart). */
  readonly writes: TransactionBatcher;
  readonly limiter: RateLimiter;
  /** Returns the allowlist in force (it is swapped when the hook ranges refresh). */
  readonly allowlist: () => IpAllowlist;
  /** Returns GitHub's hook ranges alone: addresses every hook on GitHub shares, never shed by address. */
  readonly githubRanges: () => IpAllowlist;
  readonly metrics: Metrics;
  readonly loggers: Loggers;
  /** Lifecycle flags shared with main (draining during shutdown). */
  readonly lifecycle: { draining: boolean };
  /** Called after a delivery is committed, to wake the worker. */
  readonly onAccepted?: () => void;
  /** Extra readiness check (Redis reachable). */
  readonly ready?: () => Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyRequest {
    gbClientIp: string | undefined;
    gbStarted: number;
    gbEvent: string | undefined;
    gbAction: string | undefined;
    gbDeliveryId: string | undefined;
    /** The hook content type, set by the webhook route's onRequest check. */
    gbContentType: WebhookContentType | null;
  }
}

/** Headers kept with a stored delivery for replay; signatures are never stored. */
const KEPT_HEADERS = [
  'x-github-event',
  'x-github-delivery',
  'x-github-hook-id',
  'x-github-hook-installation-target-type',
  'x-github-hook-installation-target-id',
  'x-github-enterprise-version',
  'x-github-enterprise-host',
  'user-agent',
  'content-type',
  // set by `gitbridge replay --to` on a delivery re-sent from another GitBridge
  'x-gitbridge-replay-of',
];

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GB_WEBHOOK_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GB_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GB_WEBHOOK_INVALID_PAYLOAD',
};

/** A header value made safe for a log line: at most 128 plain characters. */
function safeId(v: string | string[] | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  return v.slice(0, 128).replace(/[^A-Za-z0-9._:-]/g, '?');
}

function sendError(reply: FastifyReply, code: ErrorCode, message?: string, headers: Record<string, string> = {}): FastifyReply {
  const body = errorBody(code, message);
  return reply.code(body.statusCode).headers(headers).type('application/json; charset=utf-8').send(body);
}

/**
 * Builds the gitbridged HTTP server (DESIGN §3). Never listens: the caller
 * calls `listen` (main) or `inject` (tests).
 *
 * Routes: `POST /webhook`, `POST /mas/callback`, `GET /metrics`,
 * `GET /healthz`, `GET /readyz`. Every error body is
 * `{statusCode, code, error, message}`.
 */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const { config, metrics, loggers, store } = deps;
  const { log, security } = loggers;
  const trustProxy = Array.isArray(config.trustProxy) ? new IpAllowlist(config.trustProxy, []) : (config.trustProxy as false | number);
  const app = Fastify({
    logger: false,
    // Malformed URLs and the like get the common error shape, without echoing input.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, 'GB_BAD_REQUEST', err.code === 'FST_ERR_BAD_URL' ? 'Malformed URL' : 'Bad request');
    },
    // Errors Node's HTTP parser raises before a request exists (bad framing,
    // oversized headers, body timeouts) also get the common error shape.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const code: ErrorCode = timeout ? 'GB_REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'GB_HEADERS_TOO_LARGE' : 'GB_BAD_REQUEST';
      if (timeout) {
        metrics.rejections.inc({ reason: 'timeout' });
        security.warn({ kind: 'request_timeout', ip: normalizeAddress(socket.remoteAddress ?? '') }, 'request body did not arrive in time: connection dropped');
      }
      if (!socket.writable) return void socket.destroy();
      const error = errorBody(code);
      const body = JSON.stringify(error);
      socket.end(`HTTP/1.1 ${error.statusCode} ${error.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
    bodyLimit: config.maxPayloadBytes,
    // A body that stalls is dropped by Node's request timeout (408) without
    // slowing other requests. Node checks it every connectionsCheckingInterval
    // (30 s by default), so the interval follows the timeout.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: config.bodyTimeoutMs,
          headersTimeout: Math.min(config.bodyTimeoutMs, 60_000),
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.bodyTimeoutMs / 4))),
        },
        handler,
      ),
    // Draining is answered by the routes themselves (503 with Retry-After and the error shape).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  // Keep the raw bytes: the signature is verified over them before any parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const events = (req: FastifyRequest, status: EventStatus) => {
    metrics.events.inc({ type: labelValue(req.gbEvent, 'unknown'), action: labelValue(req.gbAction), status });
  };
  const reject = (req: FastifyRequest, reply: FastifyReply, reason: RejectionReason, status: EventStatus, code: ErrorCode, message?: string, headers?: Record<string, string>) => {
    metrics.rejections.inc({ reason });
    events(req, status);
    return sendError(reply, code, message, headers);
  };

  app.addHook('onRequest', async (req) => {
    req.gbStarted = performance.now();
    req.gbClientIp = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustProxy);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requestDuration.observe({ route, status_code: String(reply.statusCode) }, (performance.now() - req.gbStarted) / 1000);
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (isGitBridgeError(err)) return sendError(reply, err.code, err.message, { ...err.headers });
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped === 'GB_WEBHOOK_PAYLOAD_TOO_LARGE') {
      security.warn({ kind: 'payload_too_large', ip: req.gbClientIp, limitBytes: config.maxPayloadBytes, deliveryId: safeId(req.headers['x-github-delivery']) }, 'payload over the size limit');
      return reject(req, reply, 'size', 'too_large', mapped, `Payload is larger than the limit of ${config.maxPayloadBytes} bytes`);
    }
    if (mapped) return sendError(reply, mapped);
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendError(reply, 'GB_BAD_REQUEST', err.message);
    log.error({ err, deliveryId: req.gbDeliveryId, url: req.url }, 'unhandled error');
    events(req, 'error');
    return sendError(reply, 'GB_INTERNAL');
  });

  app.setNotFoundHandler((_req, reply) => sendError(reply, 'GB_NOT_FOUND'));

  const sheddable = (ip: string | undefined) => config.rateLimitUnauthenticated > 0 && !deps.githubRanges().allows(ip);
  /** The failed-signature budget of a source address (checked before the body, spent after a bad signature). */
  const unauthKey = (ip: string | undefined) => `rate_limit:webhook:unauthenticated_${ip ?? 'unknown'}`;

  app.post('/webhook', {
    // Cheap checks first, before the body is read.
    onRequest: async (req, reply) => {
      if (deps.lifecycle.draining) {
        return reject(req, reply, 'shutting_down', 'unavailable', 'GB_SHUTTING_DOWN', undefined, { 'retry-after': '5', connection: 'close' });
      }
      const ip = req.gbClientIp;
      if (!deps.allowlist().allows(ip)) {
        security.warn({ kind: 'address_denied', ip, deliveryId: safeId(req.headers['x-github-delivery']) }, 'source address not in allowlist');
        return reject(req, reply, 'address', 'forbidden', 'GB_WEBHOOK_FORBIDDEN_ADDRESS', `Source address ${ip ?? 'unknown'} is not allowed`);
      }
      req.gbContentType = webhookContentType(req.headers['content-type']);
      if (req.gbContentType === null) {
        return reject(req, reply, 'content_type', 'unsupported_media_type', 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE',
          `Unsupported content type "${String(req.headers['content-type'] ?? '').slice(0, 100)}": set the hook's content type to application/json (application/x-www-form-urlencoded is also accepted)`);
      }
      // Floods of bad signatures are shed by address before the body is read,
      // but never from GitHub's own hook ranges: every hook on GitHub shares
      // them, so anyone could otherwise lock out real deliveries.
      if (sheddable(ip)) {
        const unauth = await deps.limiter.peek(unauthKey(ip), config.rateLimitUnauthenticated, config.rateLimitWindowS);
        if (!unauth.allowed) {
          security.warn({ kind: 'rate_limited_unauthenticated', ip, deliveryId: safeId(req.headers['x-github-delivery']) }, 'too many failed signatures from this address');
          return reject(req, reply, 'rate_limit', 'rate_limited', 'GB_WEBHOOK_RATE_LIMITED', 'Too many requests with bad signatures from this address', { 'retry-after': String(unauth.resetS) });
        }
      }
    },
    handler: async (req, reply) => {
      const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const get = (name: string) => req.headers[name];
      let ids: ReturnType<typeof readDeliveryHeaders>;
      try {
        ids = readDeliveryHeaders(get);
      } catch (err) {
        if (!isGitBridgeError(err)) throw err;
        return reject(req, reply, 'validation', 'invalid', err.code, err.message);
      }
      req.gbDeliveryId = ids.deliveryId;
      const deliveryId = ids.deliveryId;

      const verified = verifySignature(config.webhookSecrets, body, req.headers['x-hub-signature-256']);
      if (!verified.ok) {
        if (sheddable(req.gbClientIp)) {
          await deps.limiter.consume(unauthKey(req.gbClientIp), config.rateLimitUnauthenticated, config.rateLimitWindowS);
        }
        security.warn({ kind: 'signature_failed', reason: verified.reason, deliveryId: ids.deliveryId, ip: req.gbClientIp }, 'webhook signature verification failed');
        log.warn({ deliveryId, reason: verified.reason }, 'rejected: bad signature');
        return reject(req, reply, 'signature', 'unauthorized',
          verified.reason === 'missing' ? 'GB_WEBHOOK_SIGNATURE_MISSING' : 'GB_WEBHOOK_SIGNATURE_MISMATCH',
          verified.reason === 'malformed' ? 'The X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>' : undefined);
      }
      // From here the headers are authentic enough to label metrics with.
      req.gbEvent = ids.event;
      metrics.signatureSlot.inc({ slot: String(verified.slot) });
      if (verified.slot > 0) security.info({ kind: 'secret_slot', slot: verified.slot, deliveryId: ids.deliveryId }, 'delivery verified with a rotated secret');

      const type = req.gbContentType!;
      let delivery;
      try {
        delivery = identifyDelivery(ids, decodePayload(body, type));
      } catch (err) {
        if (!isGitBridgeError(err)) throw err;
        log.warn({ deliveryId, event: ids.event, code: err.code }, `rejected: ${err.message}`);
        return reject(req, reply, 'validation', 'invalid', err.code, err.message);
      }
      req.gbAction = delivery.action ?? undefined;

      const subject = rateLimitSubject(delivery);
      const limit = await deps.limiter.consume(`rate_limit:webhook:${subject}`, config.rateLimitPerRepo, config.rateLimitWindowS);
      if (!limit.allowed) {
        security.warn({ kind: 'rate_limited', deliveryId: ids.deliveryId, subject, repo: delivery.repo, limit: limit.limit, retryAfterS: limit.resetS }, 'delivery rate limited; redeliver it later');
        log.warn({ deliveryId, event: ids.event, action: delivery.action, repo: delivery.repo }, 'rejected: rate limited');
        return reject(req, reply, 'rate_limit', 'rate_limited', 'GB_WEBHOOK_RATE_LIMITED',
          `Rate limit of ${limit.limit} deliveries per ${config.rateLimitWindowS} s exceeded for ${subject}`, { 'retry-after': String(limit.resetS) });
      }

      const headers: Record<string, string> = {};
      for (const h of KEPT_HEADERS) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const isPing = delivery.event === 'ping';
      let outcome: 'stored' | 'duplicate';
      try {
        outcome = await deps.committer.submit({
          deliveryId: delivery.deliveryId,
          event: delivery.event,
          action: delivery.action,
          hookId: delivery.hookId,
          repo: delivery.repo ?? delivery.org,
          repoId: delivery.repoId,
          installationId: delivery.installationId,
          receivedAt: new Date().toISOString(),
          contentType: type,
          headers,
          body,
          signatureSlot: verified.slot,
          sourceIp: req.gbClientIp ?? null,
          state: isPing ? 'processed' : 'queued',
          outcome: isPing ? 'ping' : null,
        });
      } catch (err) {
        log.error({ deliveryId, err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'store commit failed: answering 503');
        return reject(req, reply, 'store', 'unavailable', 'GB_WEBHOOK_STORE_UNAVAILABLE');
      }
      if (outcome === 'duplicate') {
        log.info({ deliveryId, event: delivery.event, action: delivery.action, repo: delivery.repo }, 'duplicate delivery id: already stored');
        events(req, 'duplicate');
        return reply.code(200).send({ delivery_id: delivery.deliveryId, status: 'duplicate' });
      }
      if (isPing) {
        log.info({ deliveryId, event: 'ping', hookId: delivery.hookId, zen: typeof delivery.payload.zen === 'string' ? delivery.payload.zen : undefined }, 'ping received');
        events(req, 'ping');
        return reply.code(200).send({ delivery_id: delivery.deliveryId, status: 'ping' });
      }
      log.info({ deliveryId, event: delivery.event, action: delivery.action, repo: delivery.repo, size: body.length, ip: req.gbClientIp }, 'delivery accepted');
      events(req, 'accepted');
      deps.onAccepted?.();
      return reply.code(202).send({ delivery_id: delivery.deliveryId, status: 'accepted' });
    },
  });

  // Callbacks are small JSON documents: 1 MiB is plenty, and nothing larger is read.
  app.post('/mas/callback', { bodyLimit: 1024 * 1024 }, async (req, reply) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const v = verifySignature([config.masCallbackSecret], body, req.headers['x-mas-signature-256']);
    if (!v.ok) {
      metrics.callbacks.inc({ outcome: 'unauthorized' });
      security.warn({ kind: 'callback_signature_failed', reason: v.reason, ip: req.gbClientIp }, 'MAS callback signature verification failed');
      return sendError(reply, 'GB_CALLBACK_SIGNATURE_MISMATCH');
    }
    let parsed: Record<string, unknown>;
    try {
      const p: unknown = JSON.parse(body.toString('utf8'));
      if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new Error('not an object');
      parsed = p as Record<string, unknown>;
    } catch {
      metrics.callbacks.inc({ outcome: 'invalid' });
      return sendError(reply, 'GB_CALLBACK_INVALID', 'Callback body must be a JSON object');
    }
    const taskId = parsed.task_id;
    const status = parsed.status;
    if ((typeof taskId !== 'string' && typeof taskId !== 'number') || String(taskId) === '') {
      metrics.callbacks.inc({ outcome: 'invalid' });
      return sendError(reply, 'GB_CALLBACK_INVALID', 'Callback field "task_id" is required');
    }
    if (status !== 'running' && status !== 'completed' && status !== 'failed') {
      metrics.callbacks.inc({ outcome: 'invalid' });
      return sendError(reply, 'GB_CALLBACK_INVALID', 'Callback field "status" must be running, completed or failed');
    }
    const r = await deps.writes.run(() => store.applyCallback(String(taskId), status, { result: parsed.result, error: parsed.error }));
    if (r.outcome === 'unknown') {
      metrics.callbacks.inc({ outcome: 'unknown_task' });
      return sendError(reply, 'GB_CALLBACK_UNKNOWN_TASK', `No task with task_id ${String(taskId).slice(0, 100)} is tracked`);
    }
    metrics.callbacks.inc({ outcome: r.outcome });
    log.info({ deliveryId: r.task.delivery_id, taskId: String(taskId), status, applied: r.outcome === 'applied' }, r.outcome === 'applied' ? `task ${status}` : 'callback ignored: task already at or past this state');
    return reply.code(200).send({ task_id: String(taskId), status: r.task.status, applied: r.outcome === 'applied' });
  });

  // Admin API: bearer token GITBRIDGE_ADMIN_TOKEN; disabled when unset.
  const admin = async (req: FastifyRequest, reply: FastifyReply) => {
    const token = config.adminToken;
    const auth = req.headers.authorization;
    const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? Buffer.from(auth.slice(7)) : Buffer.alloc(0);
    const ok = token !== undefined && given.length === Buffer.byteLength(token) && timingSafeEqual(given, Buffer.from(token));
    if (!ok) {
      security.warn({ kind: 'admin_unauthorized', ip: req.gbClientIp, url: req.url }, 'admin call refused');
      return sendError(reply, 'GB_ADMIN_UNAUTHORIZED', token === undefined ? 'Admin endpoints are disabled: set GITBRIDGE_ADMIN_TOKEN' : undefined);
    }
  };

  app.post<{ Params: { deliveryId: string } }>('/admin/replay/:deliveryId', { onRequest: admin, bodyLimit: 1024 }, async (req, reply) => {
    const original = req.params.deliveryId;
    let replayId: string | null;
    try {
      // Through the batcher, like every other write after ingest: it waits for the write gate (a WAL restart).
      replayId = await deps.writes.run(() => store.insertReplay(original));
    } catch (err) {
      log.error({ deliveryId: original, err: { message: (err as Error).message } }, 'replay could not be stored');
      return sendError(reply, 'GB_WEBHOOK_STORE_UNAVAILABLE');
    }
    if (replayId === null) return sendError(reply, 'GB_DELIVERY_NOT_FOUND', `No stored delivery ${original.slice(0, 128)}`);
    security.info({ kind: 'replay', deliveryId: original, replayId, ip: req.gbClientIp }, 'delivery replayed by an operator');
    log.info({ deliveryId: replayId, replayOf: original }, 'replay accepted');
    deps.onAccepted?.();
    return reply.code(202).send({ delivery_id: replayId, replay_of: original, status: 'accepted' });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks = {
      // A full disk still lets a transaction start; only the commits fail.
      store: store.writable() && deps.committer.failing === null,
      draining: deps.lifecycle.draining,
      redis: deps.ready ? await deps.ready() : true,
    };
    const ok = checks.store && !checks.draining && checks.redis;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });

  return app;
}

