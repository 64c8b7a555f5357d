/**
 * HTTP helpers shared by the routes: the error body, request headers, JSON
 * request bodies, dropping a connection.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * An error answer: sent by {@link sendError} with the body
 * `{statusCode, code, error, message}` and the extra `headers` (if any).
 */
export interface ErrorReply {
  /** HTTP status, 400-599. */
  readonly status: number;
  /** Machine-readable code, e.g. `INVALID_BODY`. */
  readonly code: string;
  /** Human-readable explanation. */
  readonly message: string;
  /** Extra response headers (lower-case names), set before the body. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The JSON body of every error answer: `{statusCode, code, error: <reason phrase>, message}`. */
export function errorBody(status: number, code: string, message: string): Record<string, unknown> {
  return { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message };
}

/** Sends `error` as JSON (`application/json; charset=utf-8`) with its status and headers. */
export function sendError(reply: FastifyReply, error: ErrorReply): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send(errorBody(error.status, error.code, error.message));
}

/** The first value of a request header, trimmed; `null` when absent or blank. */
export function singleHeader(value: string | string[] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const trimmed = v.trim();
  return trimmed === '' ? null : trimmed;
}

/** Whether `value` is a JSON object (not `null`, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a request body kept raw by the content-type parser (a Buffer, or a
 * string from fastify's `text/plain` parser) as a JSON object.
 *
 * @param emptyAs what a missing or blank body stands for; without it such a
 *   body is rejected like any other non-object
 * @returns the object, or the 400 to answer: `INVALID_JSON` when the text
 *   does not parse, `INVALID_BODY` when it is not an object
 */
export function parseJsonObject(
  body: unknown,
  emptyAs?: Record<string, unknown>,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: ErrorReply } {
  let value: unknown;
  const text = body === undefined || body === null ? '' : Buffer.isBuffer(body) ? body.toString('utf8') : String(body);
  if (text.trim() === '') {
    value = emptyAs;
  } else {
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      return { ok: false, error: { status: 400, code: 'INVALID_JSON', message: `request body is not valid JSON: ${(err as Error).message}` } };
    }
  }
  if (!isPlainObject(value)) return { ok: false, error: { status: 400, code: 'INVALID_BODY', message: 'request body must be a JSON object' } };
  return { ok: true, value };
}

/** Answers nothing: takes the reply away from fastify and destroys the socket. */
export function dropConnection(reply: FastifyReply): void {
  reply.hijack();
  reply.raw.destroy();
}
