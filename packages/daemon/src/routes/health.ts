import type { FastifyInstance } from 'fastify';
import type { Metrics, Store } from '@gitbridge/core';

/** What the health and metrics routes need. */
export interface HealthRouteDeps {
  readonly store: Pick<Store, 'health'>;
  readonly metrics: Metrics;
  /** True while the daemon shuts down. */
  readonly draining: () => boolean;
  /** Extra readiness check (Redis reachable). */
  readonly ready?: () => Promise<boolean>;
}

/**
 * `GET /healthz` (liveness), `GET /readyz` (readiness: the store accepts a
 * write, not draining, Redis reachable when configured) and `GET /metrics`
 * (Prometheus text format).
 */
export function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const health = await deps.store.health();
    const checks = {
      store: health.writable,
      draining: deps.draining(),
      redis: deps.ready ? await deps.ready() : true,
    };
    const ok = checks.store && !checks.draining && checks.redis;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });
}
