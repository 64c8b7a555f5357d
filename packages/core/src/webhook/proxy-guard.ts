import type { Logger } from 'pino';
import { GitBridgeError } from '../errors/errors.js';
import type { HeaderGetter } from './delivery.js';
import { IpAllowlist, clientAddress, normalizeAddress } from './ip-allowlist.js';

/** Proxy trust as configured (`GITBRIDGE_TRUST_PROXY`): off, a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxySetting = false | number | readonly string[];

/** The request headers by which a proxy says who its client was, as they are read (lower case). */
export const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/** One of {@link FORWARDING_HEADERS}. */
export type ForwardingHeader = (typeof FORWARDING_HEADERS)[number];

const HEADER_NAMES: Readonly<Record<ForwardingHeader, string>> = { 'x-forwarded-for': 'X-Forwarded-For', forwarded: 'Forwarded', 'x-real-ip': 'X-Real-IP' };

/**
 * Why a request's forwarding headers cannot be used to judge its source:
 * - `untrusted_peer`: they came from a peer that is not a trusted proxy
 *   (with the default trust, any peer). A reverse proxy on the same host
 *   without `GITBRIDGE_TRUST_PROXY` looks exactly like this, and without
 *   this check every request would be judged as loopback and pass the
 *   default allowlist.
 * - `unread_header`: a trusted proxy sent `Forwarded` or `X-Real-IP` but no
 *   `X-Forwarded-For`, the only one GitBridge reads; the source would be the
 *   proxy's own (loopback) address: the same trap.
 */
export interface ForwardingProblem {
  readonly kind: 'untrusted_peer' | 'unread_header';
  /** The first forwarding header present. */
  readonly header: ForwardingHeader;
  /** The socket's peer address (normalized), if known. */
  readonly peer: string | undefined;
}

/** The compiled form of a trust setting: a list of proxies becomes one {@link IpAllowlist}, built once. */
type CompiledTrust = false | number | IpAllowlist;

function compileTrust(trust: TrustProxySetting): CompiledTrust {
  return Array.isArray(trust) ? new IpAllowlist(trust, []) : (trust as false | number);
}

function trustsPeer(peer: string | undefined, trust: CompiledTrust): boolean {
  if (trust === false || trust === 0) return false;
  if (typeof trust === 'number') return true; // a hop count: the peer is always the first proxy
  return trust.allows(peer);
}

/**
 * Judges a request's forwarding headers (pure): null when there are none,
 * or when they come from a trusted proxy that sent `X-Forwarded-For`.
 *
 * @param peer the socket's remote address
 * @param header reads a request header by lower-case name
 */
export function forwardingProblem(peer: string | undefined, header: HeaderGetter, trust: TrustProxySetting | IpAllowlist): ForwardingProblem | null {
  const present = FORWARDING_HEADERS.filter((h) => header(h) !== undefined);
  if (present.length === 0) return null;
  const compiled = trust instanceof IpAllowlist ? trust : compileTrust(trust);
  const normalized = peer ? normalizeAddress(peer) : undefined;
  if (!trustsPeer(normalized, compiled)) return { kind: 'untrusted_peer', header: present[0]!, peer: normalized };
  if (!present.includes('x-forwarded-for')) return { kind: 'unread_header', header: present[0]!, peer: normalized };
  return null;
}

/** The `GB_PROXY_UNTRUSTED` error for a {@link ForwardingProblem}; its message names `GITBRIDGE_TRUST_PROXY`. */
export function proxyUntrusted(p: ForwardingProblem): GitBridgeError {
  const name = HEADER_NAMES[p.header];
  const from = p.peer ?? 'an unknown address';
  return p.kind === 'untrusted_peer'
    ? new GitBridgeError('GB_PROXY_UNTRUSTED', {
        message: `Refused: the request carries ${name} but came from ${from}, which GITBRIDGE_TRUST_PROXY does not name as a proxy. ` +
          'Set GITBRIDGE_TRUST_PROXY to the reverse proxy\'s address (127.0.0.1 for one on this host), so that the client\'s address is checked instead of the proxy\'s',
        hint: 'see docs/operations.md, "Proxy trust and the loopback trap"',
      })
    : new GitBridgeError('GB_PROXY_UNTRUSTED', {
        message: `Refused: the trusted proxy ${from} sent ${name} without X-Forwarded-For, the only forwarding header GitBridge reads (GITBRIDGE_TRUST_PROXY applies to it). ` +
          'Make the proxy set X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for)',
        hint: 'see docs/operations.md, "Proxy trust and the loopback trap"',
      });
}

/**
 * Proxy trust in a running daemon: derives the client address of every
 * request, and refuses requests whose forwarding headers cannot be trusted
 * ({@link forwardingProblem}), on every route. The first refusal of the
 * daemon's lifetime is logged at `error` in both logs with what to do;
 * every refusal goes to the security log.
 */
export class ProxyGuard {
  readonly #trust: CompiledTrust;
  readonly #log: Logger;
  readonly #security: Logger;
  #alarmed = false;

  /** @param trust `config.trustProxy` (validated) */
  constructor(trust: TrustProxySetting, logs: { readonly log: Logger; readonly security: Logger }) {
    this.#trust = compileTrust(trust);
    this.#log = logs.log;
    this.#security = logs.security;
  }

  /** The client's address: the peer, or the right-most untrusted `X-Forwarded-For` hop (see {@link clientAddress}). */
  clientAddress(peer: string | undefined, header: HeaderGetter): string | undefined {
    return clientAddress(peer, header('x-forwarded-for'), this.#trust);
  }

  /**
   * The refusal of a request whose forwarding headers cannot be trusted, or
   * null. Logs it (see the class comment).
   *
   * @param context what to log with it: the route, and the delivery id when there is one
   */
  check(peer: string | undefined, header: HeaderGetter, context: { readonly route: string; readonly deliveryId?: string | undefined }): GitBridgeError | null {
    const problem = forwardingProblem(peer, header, this.#trust);
    if (problem === null) return null;
    const error = proxyUntrusted(problem);
    const fields = { kind: 'proxy_untrusted', reason: problem.kind, header: problem.header, ip: problem.peer, route: context.route, deliveryId: context.deliveryId };
    if (!this.#alarmed) {
      this.#alarmed = true;
      this.#log.error({ ...fields, code: error.code }, `${error.message}. Every such request is refused (GB_PROXY_UNTRUSTED); this is logged once`);
      this.#security.error({ ...fields, code: error.code }, error.message);
    } else {
      this.#security.warn(fields, 'request with forwarding headers refused: proxy not trusted');
    }
    return error;
  }
}
