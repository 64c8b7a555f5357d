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

/**
 * A URL fit for logs and messages: its password (and a `password` query
 * parameter, which libpq-style database URLs accept) replaced by `***`.
 * A value that is not a URL is returned with anything after `//user:` up to
 * `@` masked, so that a malformed URL with a password in it never leaks either.
 */
export function redactUrl(url: string): string {
  if (URL.canParse(url)) {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  }
  return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@').replace(/([?&]password=)[^&]*/i, '$1***');
}
