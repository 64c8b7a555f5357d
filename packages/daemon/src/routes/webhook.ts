import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Ingest, WebhookContentType, WebhookRequest } from '@gitbridge/core';
import { rawBody, sendGitBridgeError } from '../http.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The hook content type, set by the webhook route's onRequest check. */
    gbContentType: WebhookContentType | null;
  }
}

/** The ingest module's view of a fastify request. */
export function webhookRequest(req: FastifyRequest): WebhookRequest {
  return { header: (name) => req.headers[name], sourceIp: req.gbClientIp, peer: req.socket.remoteAddress };
}

/**
 * `POST /webhook` (DESIGN §3): the ingest module decides, this route only
 * translates its outcome into an answer. The cheap checks run before the
 * body is read.
 */
export function webhookRoute(app: FastifyInstance, ingest: Ingest): void {
  app.post('/webhook', {
    onRequest: async (req, reply) => {
      req.gbContentType = null;
      const admission = await ingest.admit(webhookRequest(req));
      if (!admission.ok) return sendGitBridgeError(reply, admission.error);
      req.gbContentType = admission.contentType;
    },
    handler: async (req, reply) => {
      const outcome = await ingest.receive(webhookRequest(req), req.gbContentType!, rawBody(req.body));
      if (outcome.kind === 'rejected') {
        req.gbDeliveryId = undefined;
        return sendGitBridgeError(reply, outcome.error);
      }
      req.gbDeliveryId = outcome.deliveryId;
      return reply.code(outcome.status).send({ delivery_id: outcome.deliveryId, status: outcome.kind });
    },
  });
}
