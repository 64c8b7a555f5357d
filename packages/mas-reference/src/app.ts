/**
 * The fastify instance of the reference MAS, before any route: raw JSON
 * bodies, the error and not-found answers.
 */
import { fastify } from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import { sendError } from './http.js';
import { REJECTED, submissionHeaders } from './submissions.js';
import type { SubmissionLog } from './submissions.js';

/** What {@link createApp} needs. */
export interface AppOptions {
  /** Enable fastify's (pino) request logger on stdout. */
  readonly logger: boolean;
  /** Where a `POST /tasks` that fails before its handler (e.g. 413, 415) is logged. */
  readonly submissions: SubmissionLog;
}

/**
 * Creates the fastify instance (open connections are destroyed on close):
 * - `application/json` bodies are kept as raw Buffers; the routes parse them
 *   (see `parseJsonObject`) so that they choose the 400;
 * - errors fastify raises (body too large, unsupported media type, ...) answer
 *   `{statusCode, code, error, message}`; 5xx hide the message; a `POST /tasks`
 *   failing that way is logged as a rejected submission;
 * - unknown routes answer 404 `NOT_FOUND`.
 */
export function createApp(options: AppOptions): FastifyInstance {
  const app = fastify({ logger: options.logger, forceCloseConnections: true });

  // Keep the raw bytes; handlers JSON.parse them so they control the 400.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (request.method === 'POST' && request.routeOptions.url === '/tasks') {
      options.submissions.record(submissionHeaders(request), status, REJECTED);
    }
    const message = status >= 500 ? 'internal error in the reference MAS' : error.message;
    return sendError(reply, { status, code: error.code ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST'), message });
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, { status: 404, code: 'NOT_FOUND', message: `route ${request.method} ${request.url.split('?')[0] ?? ''} not found` }),
  );

  return app;
}
