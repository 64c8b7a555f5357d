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

/**
 * Edit distance between two words (optimal string alignment: insertions,
 * deletions, substitutions and swaps of two neighbours each cost 1).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to a mistyped `word` (`pull_requests` →
 * `pull_request`), or undefined when none is close: at most 2 edits, and
 * fewer than a third of the word's length for short words. Case is ignored;
 * the first of equally close candidates wins.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.min(2, Math.max(1, Math.floor(w.length / 3)));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(w, candidate.toLowerCase());
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** `; did you mean X?` for the closest candidate, or nothing. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? '' : `; did you mean ${suggestion}?`;
}

/**
 * Waits for `p` to settle (fulfilled or rejected), at most `ms` milliseconds
 * of wall-clock time: shutdown paths bound their waits in real time, not on
 * a test clock. The timer keeps the process alive while it runs and is
 * cleared when `p` settles first.
 * @returns true when `p` settled within `ms` (it may still settle later otherwise); never rejects
 */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  const settled = await Promise.race([p.then(() => true, () => true), late]);
  clearTimeout(timer);
  return settled;
}
