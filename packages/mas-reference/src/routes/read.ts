/**
 * Read endpoints: `GET /healthz`, `GET /tasks`, `GET /tasks/:id`.
 */
import type { FastifyInstance } from 'fastify';
import { unauthorized } from '../auth.js';
import type { Authorizer } from '../auth.js';
import { sendError } from '../http.js';
import { snapshotTask } from '../tasks.js';
import type { TaskRegistry } from '../tasks.js';

/** What the read endpoints need. */
export interface ReadRoutesDeps {
  /** Bearer-token check (not applied to `/healthz`). */
  readonly authorized: Authorizer;
  /** The tasks shown. */
  readonly tasks: TaskRegistry;
}

/**
 * Registers `GET /healthz` → `{status: "ok"}` (no auth), `GET /tasks` →
 * `{tasks: ReferenceMasTask[]}` and `GET /tasks/:id` → the task, or 404
 * `TASK_NOT_FOUND`; the last two answer 401 without a valid token.
 */
export function registerReadRoutes(app: FastifyInstance, deps: ReadRoutesDeps): void {
  const { authorized, tasks } = deps;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/tasks', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    return { tasks: tasks.snapshots() };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id', async (request, reply) => {
    if (!authorized(request)) return unauthorized(reply);
    const task = tasks.get(request.params.id);
    if (!task) return sendError(reply, { status: 404, code: 'TASK_NOT_FOUND', message: `no task with id ${request.params.id}` });
    return snapshotTask(task);
  });
}
