/**
 * The failure-injection endpoints: `POST /_control/<mode>` and `GET /_control`.
 */
import type { FastifyInstance } from 'fastify';
import { unauthorized } from '../auth.js';
import type { Authorizer } from '../auth.js';
import { parseJsonObject, sendError } from '../http.js';
import type { FailureModes } from '../types.js';

/** What the control endpoints need. */
export interface ControlRoutesDeps {
  /** Bearer-token check. */
  readonly authorized: Authorizer;
  /** The modes the endpoints drive. */
  readonly failureModes: FailureModes;
}

/**
 * Registers `POST /_control/{fail-next,hang,accept-then-hang,refuse-connections,slow,reset}`
 * (optional JSON object body: `count`, `status`, `retry_after_s` in seconds,
 * `ms`) answering `{ok: true, state}`, and `GET /_control` answering `{state}`.
 * 401 without a valid token; 400 `INVALID_JSON` / `INVALID_BODY` for a bad
 * body or out-of-range parameters. `refuse-connections` answers at once,
 * without waiting to listen again.
 */
export function registerControlRoutes(app: FastifyInstance, deps: ControlRoutesDeps): void {
  const { authorized, failureModes } = deps;

  /** Wraps a control action: auth, JSON body (optional), 400 on bad parameters, answers the new state. */
  const control = (path: string, run: (body: Record<string, unknown>) => void): void => {
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
