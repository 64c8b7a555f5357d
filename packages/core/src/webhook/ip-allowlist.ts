import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { GitBridgeError } from '../errors/errors.js';

/** A snapshot of GitHub's `/meta` `hooks` ranges, as shipped or as fetched by `gitbridge meta sync`. */
export interface HooksSnapshot {
  /** Where the ranges came from (`https://api.github.com/meta` or a GHES URL). */
  readonly source: string;
  /** Day (YYYY-MM-DD) or ISO time the ranges were read. */
  readonly snapshot_date: string;
  /** IPv4 and IPv6 CIDRs. */
  readonly hooks: readonly string[];
}

/** Path of the snapshot shipped with GitBridge. */
export const SHIPPED_HOOKS_SNAPSHOT = fileURLToPath(new URL('../../assets/github-meta-hooks.json', import.meta.url));

/**
 * Reads a hooks snapshot file (the shipped one by default).
 *
 * @throws GitBridgeError `GB_HOOKS_SNAPSHOT_INVALID` when the file cannot be read or holds no valid `hooks` array
 */
export function readHooksSnapshot(path: string = SHIPPED_HOOKS_SNAPSHOT): HooksSnapshot {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GitBridgeError('GB_HOOKS_SNAPSHOT_INVALID', { message: `${path}: cannot be read (${(err as Error).message})`, cause: err });
  }
  return parseHooksSnapshot(text, path);
}

/**
 * Parses a hooks snapshot (JSON `{source, snapshot_date, hooks}`).
 *
 * @param where names the snapshot in the error (a path, a store setting)
 * @throws GitBridgeError `GB_HOOKS_SNAPSHOT_INVALID` when it is not JSON or holds no valid `hooks` array
 */
export function parseHooksSnapshot(text: string, where: string): HooksSnapshot {
  let parsed: Partial<HooksSnapshot>;
  try {
    parsed = JSON.parse(text) as Partial<HooksSnapshot>;
  } catch (err) {
    throw new GitBridgeError('GB_HOOKS_SNAPSHOT_INVALID', { message: `${where}: cannot be read as JSON (${(err as Error).message})`, cause: err });
  }
  if (!Array.isArray(parsed?.hooks) || parsed.hooks.length === 0 || !parsed.hooks.every((c) => typeof c === 'string' && parseCidr(c) !== null)) {
    throw new GitBridgeError('GB_HOOKS_SNAPSHOT_INVALID', { message: `${where}: "hooks" must be a non-empty array of CIDRs` });
  }
  return { source: String(parsed.source ?? 'unknown'), snapshot_date: String(parsed.snapshot_date ?? 'unknown'), hooks: parsed.hooks };
}

/**
 * Strips an IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4` → `1.2.3.4`) and a zone
 * id, so that an address compares the same however the socket reported it.
 */
export function normalizeAddress(address: string): string {
  let a = address.trim();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped ? mapped[1]! : a.toLowerCase();
}

/** Parses `addr/prefix` or a bare address. Returns null when invalid. */
export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [addrRaw, prefixRaw, extra] = entry.trim().split('/');
  if (extra !== undefined || !addrRaw) return null;
  const address = normalizeAddress(addrRaw);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixRaw === undefined ? max : /^\d{1,3}$/.test(prefixRaw) ? Number(prefixRaw) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

/** Addresses whose allowlist answers are kept (see IpAllowlist#cache). */
const CACHE_MAX = 4096;

/** The allowlist entries that are neither a keyword (`any`, `*`, `github`, `loopback`) nor an address or CIDR. */
export function invalidAllowlistEntries(entries: readonly string[]): string[] {
  return entries.filter((raw) => {
    const entry = raw.trim().toLowerCase();
    return !['any', '*', 'github', 'loopback'].includes(entry) && parseCidr(entry) === null;
  });
}

/**
 * Decides whether a source address may deliver webhooks. Built from entries:
 * CIDRs or addresses, `github` (the hook ranges of a {@link HooksSnapshot}),
 * `loopback` (127.0.0.0/8 and ::1), or `any` (allow everything).
 * IPv4-mapped IPv6 addresses match their IPv4 ranges.
 */
export class IpAllowlist {
  readonly #list = new BlockList();
  readonly #any: boolean;
  /**
   * Answers by address. BlockList.check parses the address into a new
   * SocketAddress on every call (2% of the daemon's CPU under load); the
   * addresses a daemon sees are few (GitHub's senders, the proxies), so the
   * answers are kept, up to CACHE_MAX addresses (then the cache starts over).
   */
  readonly #cache = new Map<string, boolean>();
  /** The CIDRs in force (after expanding `github` and `loopback`). */
  readonly ranges: readonly string[];

  /**
   * @param entries allowlist entries as configured
   * @param hooks the GitHub hook ranges used for the `github` entry
   * @throws GitBridgeError `GB_CONFIG_INVALID` naming every invalid entry
   */
  constructor(entries: readonly string[], hooks: readonly string[]) {
    const bad = invalidAllowlistEntries(entries);
    if (bad.length > 0) throw new GitBridgeError('GB_CONFIG_INVALID', { message: `Invalid IP allowlist entries: ${bad.join(', ')}` });
    const ranges: string[] = [];
    let any = false;
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === 'any' || entry === '*') any = true;
      else if (entry === 'github') ranges.push(...hooks);
      else if (entry === 'loopback') ranges.push(...LOOPBACK);
      else ranges.push(entry);
    }
    for (const r of ranges) {
      const c = parseCidr(r);
      if (c) this.#list.addSubnet(c.address, c.prefix, c.family);
    }
    this.#any = any;
    this.ranges = Object.freeze(ranges);
  }

  /** True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) is allowed. Invalid addresses are never allowed. */
  allows(address: string | undefined): boolean {
    if (this.#any) return true;
    if (!address) return false;
    const cached = this.#cache.get(address);
    if (cached !== undefined) return cached;
    const a = normalizeAddress(address);
    const version = isIP(a);
    const allowed = version !== 0 && this.#list.check(a, version === 4 ? 'ipv4' : 'ipv6');
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(address, allowed);
    return allowed;
  }
}

/**
 * Derives the client address of a request. Proxy trust is opt-in:
 * - `false`: the socket's peer address; `X-Forwarded-For` is ignored.
 * - a hop count N: the N-th address from the right of `X-Forwarded-For`
 *   plus the peer (the peer is hop 1), i.e. the right-most untrusted hop.
 * - a list of proxy CIDRs (or an {@link IpAllowlist} built from them once): walk from the peer leftwards through
 *   `X-Forwarded-For` while the address is a trusted proxy; the first
 *   untrusted address is the client.
 * Never the left-most value, which any client can forge.
 *
 * @param peer the socket's remote address
 * @param forwardedFor the raw `X-Forwarded-For` header value(s)
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trust: false | number | readonly string[] | IpAllowlist,
): string | undefined {
  const socket = peer ? normalizeAddress(peer) : undefined;
  if (trust === false || trust === 0 || forwardedFor === undefined) return socket;
  const hops = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(','))
    .split(',')
    .map((s) => normalizeAddress(s))
    .filter(Boolean);
  // chain[0] is the socket peer, then X-Forwarded-For from right to left.
  const chain = [socket, ...hops.reverse()];
  if (typeof trust === 'number') {
    return chain[Math.min(trust, chain.length - 1)];
  }
  const trusted = trust instanceof IpAllowlist ? trust : new IpAllowlist(trust, []);
  for (const hop of chain) {
    if (!hop || !trusted.allows(hop)) return hop;
  }
  return chain[chain.length - 1];
}
