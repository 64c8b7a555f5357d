const READABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  UND_ERR_SOCKET: 'connection closed by the peer',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_CLOSED: 'connection closed',
};

/**
 * A readable reason for a failed HTTP request (undici or Node): `timeout
 * after 500 ms`, `connection refused`, `host not found`, never an internal
 * number such as a DOMException code.
 *
 * @param timeoutMs the request's timeout, ms, named when it was the cause
 */
export function describeNetworkError(err: unknown, timeoutMs?: number): string {
  const e = (err ?? {}) as { name?: string; code?: unknown; message?: string; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return timeoutMs === undefined ? 'timeout' : `timeout after ${timeoutMs} ms`;
  }
  if (code && READABLE[code]) return READABLE[code];
  if (e.cause && e.cause !== err) return describeNetworkError(e.cause, timeoutMs);
  return code ?? e.message ?? String(err);
}
