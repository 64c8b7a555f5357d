import { createServer, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  normalizeAddress,
  errorBody,
  isGitBridgeError,
  labelValue,
  type Config,
  type ErrorCode,
  type Ingest,
  type Loggers,
  type Metrics,
  type ProxyGuard,
  type Store,
} from '@gitbridge/core';
import { sendError, sendGitBridgeError } from './http.js';
import { adminRoutes } from './routes/admin.js';
import { callbackRoute } from './routes/callback.js';
import { healthRoutes, metricsRoute } from './routes/health.js';
import { webhookRequest, webhookRoute } from './routes/webhook.js';

/** What {@link buildServer} needs; every I/O part is injected. */
export interface ServerDeps {
  readonly config: Config;
  readonly store: Store;
  /** The ingest path (`POST /webhook` and the admin replay). */
  readonly ingest: Ingest;
  readonly metrics: Metrics;
  readonly loggers: Loggers;
  /** Proxy trust: derives client addresses and refuses forwarding headers from untrusted peers (one per daemon). */
  readonly proxyGuard: ProxyGuard;
  /** True while the daemon shuts down. */
  readonly draining: () => boolean;
  /** Extra readiness check (Redis reachable). */
  readonly ready?: () => Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyRequest {
    gbClientIp: string | undefined;
    gbStarted: number;
    gbDeliveryId: string | undefined;
  }
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GB_WEBHOOK_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GB_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GB_WEBHOOK_INVALID_PAYLOAD',
};

/** Longest path parameter the router matches, characters after decoding (longer: 400 `GB_BAD_REQUEST`). */
const MAX_PARAM_LENGTH = 1024;

/**
 * Answers with the common error shape from below fastify (Node's HTTP server
 * events), closing the connection: the request body is not read.
 */
function endWithError(res: ServerResponse, code: ErrorCode, message?: string): void {
  const error = errorBody(code, message);
  const body = JSON.stringify(error);
  res.writeHead(error.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
}

/**
 * Which routes a server answers:
 * - `all`: every route on one listener (no `GITBRIDGE_ADMIN_PORT`);
 * - `public`: `POST /webhook`, `POST /mas/callback` and the health routes,
 *   the webhook port when a management listener exists (it answers 404 for
 *   `/metrics` and `/admin/*`);
 * - `management`: `GET /metrics`, `/admin/*` and the health routes.
 */
export type ServerRole = 'all' | 'public' | 'management';

/**
 * Builds the gitbridged HTTP server (DESIGN §3). Never listens: the caller
 * calls `listen` (main) or `inject` (tests).
 *
 * Routes, one file each under routes/: `POST /webhook`, `POST /mas/callback`,
 * `POST /admin/replay/:id`, `GET /metrics`, `GET /healthz`, `GET /readyz`,
 * as `role` selects. On every route, forwarding headers from a peer that is
 * not a trusted proxy are refused (`GB_PROXY_UNTRUSTED`; on `/webhook` by
 * the ingest path's own pre-body checks). Every error body is
 * `{statusCode, code, error, message}`.
 */
export function buildServer(deps: ServerDeps, role: ServerRole = 'all'): FastifyInstance {
  const { config, metrics, loggers, proxyGuard } = deps;
  const { log, security } = loggers;
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
    // A path parameter is a delivery id: up to 128 characters, and a replay id
    // adds `:replay:<n>` per replay. The router's default limit (100) would
    // refuse those with a 400 before the admin route sees them.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A body that stalls is dropped by Node's request timeout (408) without
    // slowing other requests. Node checks it every connectionsCheckingInterval
    // (30 s by default), so the interval follows the timeout.
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout: config.bodyTimeoutMs,
          headersTimeout: Math.min(config.bodyTimeoutMs, 60_000),
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.bodyTimeoutMs / 4))),
          // Node would refuse an HTTP/1.1 request without Host with a bare 400; refused below with the common shape.
          requireHostHeader: false,
        },
        (req, res) => {
          // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
          if (req.httpVersion === '1.1' && req.headers.host === undefined) return endWithError(res, 'GB_BAD_REQUEST', 'Missing Host header');
          handler(req, res);
        },
      );
      // An Expect other than 100-continue: Node would answer a bare 417.
      server.on('checkExpectation', (_req, res: ServerResponse) => endWithError(res, 'GB_EXPECTATION_FAILED'));
      return server;
    },
    // Draining is answered by the routes themselves (503 with Retry-After and the error shape).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  // Keep the raw bytes: the signature is verified over them before any parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    req.gbStarted = performance.now();
    req.gbDeliveryId = undefined;
    const header = (name: string) => req.headers[name];
    req.gbClientIp = proxyGuard.clientAddress(req.socket.remoteAddress, header);
    // A proxied /mas/callback or /admin/* is the same trap as a proxied /webhook,
    // whose admission checks it itself (and counts it with the deliveries).
    if (req.routeOptions.url === '/webhook') return;
    const untrusted = proxyGuard.check(req.socket.remoteAddress, header, { route: req.routeOptions.url ?? 'unmatched' });
    if (untrusted) return sendGitBridgeError(reply, untrusted);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requestDuration.observe({ route, status_code: String(reply.statusCode) }, (performance.now() - req.gbStarted) / 1000);
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (isGitBridgeError(err)) {
      // A failure of ours (the store refused or could not be reached) is logged; a refusal of the request is the answer alone.
      if (err.statusCode >= 500) log.error({ err, deliveryId: req.gbDeliveryId, url: req.url, code: err.code }, 'request failed');
      return sendGitBridgeError(reply, err);
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped === 'GB_WEBHOOK_PAYLOAD_TOO_LARGE' && req.routeOptions.url === '/webhook') return sendGitBridgeError(reply, deps.ingest.tooLarge(webhookRequest(req)));
    if (mapped === 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE' && req.routeOptions.url !== '/webhook') {
      // Only the webhook route has content-type advice of its own; elsewhere it is a plain bad request.
      return sendError(reply, 'GB_BAD_REQUEST', 'Content-Type must be application/json');
    }
    if (mapped) return sendError(reply, mapped);
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendError(reply, 'GB_BAD_REQUEST', err.message);
    log.error({ err, deliveryId: req.gbDeliveryId, url: req.url }, 'unhandled error');
    if (req.routeOptions.url === '/webhook') metrics.events.inc({ type: 'unknown', action: labelValue(null), status: 'error' });
    return sendError(reply, 'GB_INTERNAL');
  });

  app.setNotFoundHandler((_req, reply) => sendError(reply, 'GB_NOT_FOUND'));

  if (role !== 'management') {
    webhookRoute(app, deps.ingest);
    callbackRoute(app, { callbackSecret: config.masCallbackSecret, store: deps.store, metrics, log, security });
  }
  if (role !== 'public') {
    adminRoutes(app, { adminToken: config.adminToken, ingest: deps.ingest, store: deps.store, security });
    metricsRoute(app, metrics);
  }
  healthRoutes(app, { store: deps.store, draining: deps.draining, ...(deps.ready ? { ready: deps.ready } : {}) });
  return app;
}
