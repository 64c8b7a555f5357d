import type { FastifyInstance } from 'fastify';
import type { Metrics, Store } from '@gitbridge/core';

/** What the health routes need. */
export interface HealthRouteDeps {
  readonly store: Pick<Store, 'health'>;
  /** True while the daemon shuts down. */
  readonly draining: () => boolean;
  /** Extra readiness check (Redis reachable). */
  readonly ready?: () => Promise<boolean>;
}

/**
 * `GET /metrics` (Prometheus text format): on the management listener when
 * there is one, so that exposing the webhook port does not expose it.
 */
export function metricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

/**
 * `GET /healthz` (liveness) and `GET /readyz` (readiness: the store accepts
 * a write, not draining, Redis reachable when configured), on every listener.
 */
export function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const health = await deps.store.health();
    const checks = {
      store: health.writable,
      draining: deps.draining(),
      // Without GITBRIDGE_REDIS_URL there is nothing to reach: said so, rather than `true`.
      redis: deps.ready ? await deps.ready() : ('not_configured' as const),
    };
    const ok = checks.store && !checks.draining && checks.redis !== false;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });
}
