import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isGitBridgeError, resolveDeliveryId, type Ingest, type Store } from '@gitbridge/core';
import { sendError, sendGitBridgeError } from '../http.js';

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
 * ingest module; the id may be a unique prefix (as the CLI takes it).
 */
export function adminRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { security } = deps;
  const admin = async (req: FastifyRequest, reply: FastifyReply) => {
    const token = deps.adminToken;
    const auth = req.headers.authorization;
    const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? Buffer.from(auth.slice(7)) : Buffer.alloc(0);
    const ok = token !== undefined && given.length === Buffer.byteLength(token) && timingSafeEqual(given, Buffer.from(token));
    if (!ok) {
      security.warn({ kind: 'admin_unauthorized', ip: req.gbClientIp, url: req.url }, 'admin call refused');
      return sendError(reply, 'GB_ADMIN_UNAUTHORIZED', token === undefined ? 'Admin endpoints are disabled: set GITBRIDGE_ADMIN_TOKEN' : undefined);
    }
  };

  app.post<{ Params: { deliveryId: string } }>('/admin/replay/:deliveryId', { onRequest: admin, bodyLimit: 1024 }, async (req, reply) => {
    try {
      const original = await resolveDeliveryId(deps.store, req.params.deliveryId);
      const replayId = await deps.ingest.replay(original, req.gbClientIp);
      return reply.code(202).send({ delivery_id: replayId, replay_of: original, status: 'accepted' });
    } catch (err) {
      if (isGitBridgeError(err)) return sendGitBridgeError(reply, err);
      throw err;
    }
  });
}
