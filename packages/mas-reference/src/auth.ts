/**
 * Bearer-token authentication: the check and the one 401 every route answers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError, singleHeader } from './http.js';
import type { ErrorReply } from './http.js';

/** Tells whether a request may pass: always `true` when no token is configured. */
export type Authorizer = (request: FastifyRequest) => boolean;

/** The 401 for a missing or wrong bearer token, with `WWW-Authenticate: Bearer`. */
export const UNAUTHORIZED: ErrorReply = {
  status: 401,
  code: 'UNAUTHORIZED',
  message: 'missing or invalid bearer token',
  headers: { 'www-authenticate': 'Bearer' },
};

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Builds the check for `Authorization: Bearer <token>` (scheme
 * case-insensitive, compared in constant time through SHA-256 digests).
 *
 * @param token the expected token; `undefined` or `''` lets every request pass
 */
export function createAuthorizer(token: string | undefined): Authorizer {
  const tokenDigest = token ? digest(token) : null;
  return (request) => {
    if (!tokenDigest) return true;
    const header = singleHeader(request.headers.authorization);
    const match = header ? /^Bearer[ \t]+(\S+)$/i.exec(header) : null;
    if (!match?.[1]) return false;
    return timingSafeEqual(digest(match[1]), tokenDigest);
  };
}

/** Answers {@link UNAUTHORIZED}. */
export function unauthorized(reply: FastifyReply): FastifyReply {
  return sendError(reply, UNAUTHORIZED);
}
