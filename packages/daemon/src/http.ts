import type { FastifyReply } from 'fastify';
import { errorBody, type ErrorCode, type GitBridgeError } from '@gitbridge/core';

/** Sends the common error shape `{statusCode, code, error, message}` for a code. */
export function sendError(reply: FastifyReply, code: ErrorCode, message?: string, headers: Readonly<Record<string, string>> = {}): FastifyReply {
  const body = errorBody(code, message);
  return reply.code(body.statusCode).headers(headers).type('application/json; charset=utf-8').send(body);
}

/** Sends a GitBridgeError as an answer: its code's status, its message and its headers (`Retry-After`). */
export function sendGitBridgeError(reply: FastifyReply, err: GitBridgeError): FastifyReply {
  return sendError(reply, err.code, err.message, err.headers);
}

/** The raw body fastify kept (the catch-all content type parser keeps bytes). */
export function rawBody(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}
