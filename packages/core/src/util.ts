/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The string, or undefined when it is missing or only white space (an empty environment variable counts as unset). */
export function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

/**
 * True when a parsed JSON value nests arrays or objects deeper than `max`
 * levels (a scalar is depth 0). Iterative, so a hostile 10,000-level value
 * cannot overflow the stack here (it would in `JSON.stringify`).
 */
export function jsonDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Query parameters that carry a secret in libpq-style database URLs (`password`, and `sslpassword` for a client key). */
const SECRET_PARAMS = ['password', 'sslpassword'];

/**
 * A URL fit for logs and messages: its password, and the query parameters
 * libpq-style database URLs accept secrets in (`password`, `sslpassword`),
 * replaced by `mask` (default `***`). A value that is not a URL (a password
 * with an unencoded `/` or `@` makes it one) is returned with everything
 * between `//user:` and the last `@` masked, so that a malformed URL never
 * leaks its password either.
 */
export function redactUrl(url: string, mask = '***'): string {
  if (URL.canParse(url)) {
    const u = new URL(url);
    const params = SECRET_PARAMS.filter((p) => u.searchParams.has(p));
    if (u.password === '' && params.length === 0) return url;
    if (u.password !== '') u.password = mask;
    for (const p of params) u.searchParams.set(p, mask);
    // The mask is not URL syntax: show it as it is, and keep the caller's trailing slash (or its absence).
    return u.toString().replaceAll(encodeURIComponent(mask), mask).replace(/\/$/, url.endsWith('/') ? '/' : '');
  }
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):.*@/i, `$1:${mask}@`)
    .replace(new RegExp(`([?&](?:${SECRET_PARAMS.join('|')})=)[^&]*`, 'gi'), `$1${mask}`);
}
