import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isGitBridgeError, isObject, resolveDeliveryId, type Ingest, type Store } from '@gitbridge/core';
import { rawBody, sendError, sendGitBridgeError } from '../http.js';

/** What the admin routes need. */
export interface AdminRouteDeps {
  /** The bearer token; undefined disables the admin API. */
  readonly adminToken: string | undefined;
  readonly ingest: Pick<Ingest, 'replay'>;
  /** Resolves a delivery id prefix to the delivery. */
  readonly store: Pick<Store, 'getDelivery' | 'findDeliveryIds'>;
  readonly security: Logger;
}

/**
 * The admin API (`/admin/*`), behind the bearer token `GITBRIDGE_ADMIN_TOKEN`
 * (compared in constant time); off when no token is configured.
 * `POST /admin/replay/:deliveryId` replays a stored delivery through the
 * ingest module; the id may be a unique prefix (as the CLI takes it). The
 * replay makes its tasks again but sends no chat notification unless asked
 * (`?notify=true` or `{"notify": true}`).
 */
export function adminRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { security } = deps;
  // Two refusals a caller must tell apart (by code): the API is off, or the token is wrong.
  const admin = async (req: FastifyRequest, reply: FastifyReply) => {
    const token = deps.adminToken;
    if (token === undefined) {
      security.warn({ kind: 'admin_disabled', ip: req.gbClientIp, url: req.url }, 'admin call refused: the admin API is off');
      return sendError(reply, 'GB_ADMIN_DISABLED', 'The admin API is off: start gitbridged with GITBRIDGE_ADMIN_TOKEN set (the same token as the caller)');
    }
    const auth = req.headers.authorization;
    const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? Buffer.from(auth.slice(7)) : Buffer.alloc(0);
    if (!(given.length === Buffer.byteLength(token) && timingSafeEqual(given, Buffer.from(token)))) {
      security.warn({ kind: 'admin_unauthorized', ip: req.gbClientIp, url: req.url }, 'admin call refused');
      return sendError(reply, 'GB_ADMIN_UNAUTHORIZED');
    }
  };

  app.post<{ Params: { deliveryId: string }; Querystring: { notify?: string } }>('/admin/replay/:deliveryId', { onRequest: admin, bodyLimit: 1024 }, async (req, reply) => {
    const notify = replayNotify(req.query.notify, rawBody(req.body));
    if (typeof notify === 'string') return sendError(reply, 'GB_BAD_REQUEST', notify);
    try {
      const original = await resolveDeliveryId(deps.store, req.params.deliveryId);
      const replayId = await deps.ingest.replay(original, req.gbClientIp, { notify });
      return reply.code(202).send({ delivery_id: replayId, replay_of: original, status: 'accepted', notify });
    } catch (err) {
      if (isGitBridgeError(err)) return sendGitBridgeError(reply, err);
      throw err;
    }
  });
}

/**
 * Whether a replay notifies the chat: `?notify=true` (or `1`), or a JSON
 * body `{"notify": true}`; false when neither says so. Returns the problem
 * as a string when either is malformed.
 */
export function replayNotify(query: string | undefined, body: Buffer): boolean | string {
  let fromBody: unknown;
  if (body.length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return 'The body must be empty or a JSON object {"notify": true|false}';
    }
    if (!isObject(parsed)) return 'The body must be empty or a JSON object {"notify": true|false}';
    fromBody = parsed.notify;
    if (fromBody !== undefined && typeof fromBody !== 'boolean') return '"notify" must be true or false';
  }
  if (query === undefined) return fromBody === true;
  if (!['true', 'false', '1', '0'].includes(query)) return 'The query parameter notify must be true or false';
  return query === 'true' || query === '1';
}
