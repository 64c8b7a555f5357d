/**
 * Exponential backoff with full jitter: a uniformly random delay in
 * `[0, min(capMs, baseMs * 2^(attempt-1))]` (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"). A server's `Retry-After` is a floor.
 *
 * @param attempt 1 for the first retry
 * @param retryAfterMs the server's `Retry-After` in ms, if any
 * @returns delay in ms
 */
export function backoffDelay(attempt: number, options: { baseMs?: number; capMs?: number; retryAfterMs?: number | null; random?: () => number } = {}): number {
  const base = options.baseMs ?? 500;
  const cap = options.capMs ?? 60_000;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.floor((options.random ?? Math.random)() * ceiling);
  return Math.max(jitter, options.retryAfterMs ?? 0);
}

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
 *
 * @returns ms to wait, or null when absent or unparsable
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - nowMs);
}
