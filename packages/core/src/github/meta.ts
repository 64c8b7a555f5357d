import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { GitBridgeError } from '../errors/errors.js';
import { USER_AGENT } from '../version.js';
import type { Store } from '../store/contract.js';
import { parseCidr, parseHooksSnapshot, readHooksSnapshot, SHIPPED_HOOKS_SNAPSHOT, type HooksSnapshot } from '../webhook/ip-allowlist.js';

/**
 * Store setting under which a refreshed snapshot is shared by every daemon
 * on the store: one node refreshes (`runExclusive('hook-ranges')`), all
 * reload it.
 */
export const HOOKS_SNAPSHOT_SETTING = 'github-meta-hooks';

/** File name of a refreshed snapshot in the data directory; it wins over the shipped one. */
export const HOOKS_SNAPSHOT_FILE = 'github-meta-hooks.json';

/** A CIDR no wider than /8 (IPv4) or /16 (IPv6): a refresh must never open the allowlist to everyone. */
function plausibleHookRange(cidr: string): boolean {
  const c = parseCidr(cidr);
  return c !== null && c.prefix >= (c.family === 'ipv4' ? 8 : 16);
}

/**
 * Fetches GitHub's hook source ranges: `GET <metaUrl>`, field `hooks`
 * (GitHub REST API, "Get GitHub meta information").
 *
 * @param timeoutMs whole-request timeout
 * @throws GitBridgeError `GB_GITHUB_META_FAILED` when the request fails, the status is not 200, or `hooks` is missing or holds an invalid CIDR
 */
export async function fetchHooksSnapshot(metaUrl: string, timeoutMs = 10_000): Promise<HooksSnapshot> {
  const failed = (message: string, cause?: unknown) => new GitBridgeError('GB_GITHUB_META_FAILED', { message, cause });
  let res: Awaited<ReturnType<typeof request>>;
  let text: string;
  try {
    res = await request(metaUrl, {
      headers: { accept: 'application/vnd.github+json', 'user-agent': USER_AGENT, 'x-github-api-version': '2022-11-28' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.body.text();
  } catch (err) {
    const e = err as Error & { code?: string };
    throw failed(`${metaUrl}: ${e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.code ?? e.message)}`, err);
  }
  if (res.statusCode !== 200) throw failed(`${metaUrl} answered ${res.statusCode}`);
  let hooks: unknown;
  try {
    hooks = (JSON.parse(text) as { hooks?: unknown }).hooks;
  } catch {
    throw failed(`${metaUrl}: the answer is not JSON`);
  }
  if (!Array.isArray(hooks) || hooks.length === 0 || !hooks.every((h) => typeof h === 'string' && plausibleHookRange(h))) {
    throw failed(`${metaUrl}: "hooks" is missing or holds an invalid range (or one wider than /8 for IPv4, /16 for IPv6)`);
  }
  return { source: metaUrl, snapshot_date: new Date().toISOString(), hooks };
}

/** Writes a snapshot atomically (temp file + rename) to `<dataDir>/github-meta-hooks.json`. @returns the path */
export function writeHooksSnapshot(dataDir: string, snapshot: HooksSnapshot): string {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, HOOKS_SNAPSHOT_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(snapshot, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** The snapshot in force: the refreshed one in `dataDir` when present and valid, else the shipped one. */
export function currentHooksSnapshot(dataDir: string): HooksSnapshot {
  const path = join(dataDir, HOOKS_SNAPSHOT_FILE);
  if (existsSync(path)) {
    try {
      return readHooksSnapshot(path);
    } catch {
      // A damaged refresh must not lock GitHub out: fall back to the shipped ranges.
    }
  }
  return readHooksSnapshot(SHIPPED_HOOKS_SNAPSHOT);
}

/** The snapshot stored in the store's settings, or undefined when there is none or it is not valid. */
export async function storedHooksSnapshot(store: Pick<Store, 'getSetting'>): Promise<HooksSnapshot | undefined> {
  const text = await store.getSetting(HOOKS_SNAPSHOT_SETTING);
  if (text === undefined) return undefined;
  try {
    return parseHooksSnapshot(text, `store setting ${HOOKS_SNAPSHOT_SETTING}`);
  } catch {
    // A damaged value must not lock GitHub out: the file or the shipped ranges stay in force.
    return undefined;
  }
}

/** Shares a refreshed snapshot with every daemon on the store. */
export async function storeHooksSnapshot(store: Pick<Store, 'putSetting'>, snapshot: HooksSnapshot): Promise<void> {
  await store.putSetting(HOOKS_SNAPSHOT_SETTING, JSON.stringify(snapshot));
}

/** The most recent of some snapshots (by `snapshot_date`; an undated one loses). */
export function newestHooksSnapshot(first: HooksSnapshot, ...others: readonly (HooksSnapshot | undefined)[]): HooksSnapshot {
  const time = (s: HooksSnapshot) => {
    const t = Date.parse(s.snapshot_date);
    return Number.isNaN(t) ? -Infinity : t;
  };
  let best = first;
  for (const s of others) if (s !== undefined && time(s) > time(best)) best = s;
  return best;
}
