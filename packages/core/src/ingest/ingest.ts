import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { GitBridgeError, isGitBridgeError, type ErrorCode } from '../errors/errors.js';
import { labelValue, type EventStatus, type Metrics, type RejectionReason } from '../metrics.js';
import type { Store } from '../store/contract.js';
import type { Clock } from '../time/clock.js';
import { decodePayload, identifyDelivery, rateLimitSubject, readDeliveryHeaders, webhookContentType, type HeaderGetter, type WebhookContentType } from '../webhook/delivery.js';
import type { IpAllowlist } from '../webhook/ip-allowlist.js';
import type { ProxyGuard } from '../webhook/proxy-guard.js';
import type { RateLimiter } from '../webhook/rate-limit.js';
import { verifySignature } from '../webhook/signature.js';
import { keptHeaders, newDelivery, replayDelivery } from './stored-delivery.js';

/** A webhook request as the ingest path reads it, whatever the HTTP framework. */
export interface WebhookRequest {
  /** Reads a request header by lower-case name. */
  readonly header: HeaderGetter;
  /** The client address (after proxy trust), or undefined when unknown. */
  readonly sourceIp: string | undefined;
  /** The socket's peer address (a proxy's, behind one), or undefined when unknown. */
  readonly peer: string | undefined;
}

/** What the webhook route answers; the HTTP layer only translates it. */
export type IngestOutcome =
  | { readonly kind: 'accepted' | 'duplicate' | 'ping'; readonly status: 200 | 202; readonly deliveryId: string; readonly event: string; readonly action: string | null }
  | { readonly kind: 'rejected'; readonly error: GitBridgeError; readonly event?: string; readonly action?: string | null };

/** The answer to the checks made before the body is read. */
export type Admission = { readonly ok: true; readonly contentType: WebhookContentType } | { readonly ok: false; readonly error: GitBridgeError };

/** What {@link createIngest} needs; every I/O part is injected. */
export interface IngestDeps {
  readonly config: Pick<Config, 'webhookSecrets' | 'rateLimitPerRepo' | 'rateLimitWindowS' | 'rateLimitUnauthenticated' | 'maxPayloadBytes'>;
  readonly store: Pick<Store, 'ingest' | 'insertReplay'>;
  readonly limiter: RateLimiter;
  /** The allowlist in force (it is swapped when the hook ranges refresh). */
  readonly allowlist: () => IpAllowlist;
  /** GitHub's hook ranges alone: addresses every hook on GitHub shares, never shed by address. */
  readonly githubRanges: () => IpAllowlist;
  /** Refuses forwarding headers from a peer that is not a trusted proxy (the daemon's one guard, shared with its other routes). */
  readonly proxyGuard: Pick<ProxyGuard, 'check'>;
  readonly metrics: Metrics;
  /** The webhook log and the security log. */
  readonly log: Logger;
  readonly security: Logger;
  readonly clock: Clock;
  /** True while the daemon shuts down: new deliveries get 503 with `Retry-After`. */
  readonly draining: () => boolean;
  /** Called after a delivery was committed (not for duplicates or pings). */
  readonly onAccepted?: (deliveryId: string) => void;
}

/** The ingest path (DESIGN §1 stages 1–4), framework-neutral. */
export interface Ingest {
  /**
   * The checks made before the body is read: shutting down, forwarding
   * headers from an untrusted peer, source address, content type, and the
   * failed-signature budget of the address.
   */
  admit(req: WebhookRequest): Promise<Admission>;
  /**
   * One delivery in, one outcome out: identifying headers, the HMAC-SHA256
   * signature over the raw bytes, payload structure, the per-repository rate
   * limit, then the durable insert. Never throws: every failure is an outcome.
   */
  receive(req: WebhookRequest, contentType: WebhookContentType, body: Buffer): Promise<IngestOutcome>;
  /** A body over the size limit (the HTTP layer stops reading it): logged, counted, answered 413. */
  tooLarge(req: WebhookRequest): GitBridgeError;
  /**
   * An operator's replay of a stored delivery: stored as `<id>:replay:<n>`
   * with the original bytes, queued past de-duplication. Its tasks are made
   * again; its chat notifications only with `notify` (default false), so
   * that a replay does not announce an old event as a new one.
   *
   * @throws GitBridgeError `GB_DELIVERY_NOT_FOUND`, `GB_WEBHOOK_STORE_UNAVAILABLE`
   */
  replay(originalId: string, sourceIp: string | undefined, options?: { readonly notify?: boolean }): Promise<string>;
}

/** A header value made safe for a log line: at most 128 plain characters. */
export function safeLogId(v: string | readonly string[] | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  return v.slice(0, 128).replace(/[^A-Za-z0-9._:-]/g, '?');
}

/** Characters of a payload-given string (an action, a repository name, a ping's zen) that a log line keeps. */
const LOGGED_CHARS = 200;

/** A payload-given string cut for a log line (a signed sender may still send megabytes of it): `…(+N chars)` says how much was left out. */
const forLog = (s: string | null | undefined): string | null | undefined =>
  typeof s === 'string' && s.length > LOGGED_CHARS ? `${s.slice(0, LOGGED_CHARS)}…(+${s.length - LOGGED_CHARS} chars)` : s;

/** The Redis key of a source address's failed-signature budget (checked before the body, spent after a bad signature). */
const unauthKey = (ip: string | undefined) => `rate_limit:webhook:unauthenticated_${ip ?? 'unknown'}`;

/**
 * Builds the ingest path. The webhook route calls {@link Ingest.admit} before
 * reading the body and {@link Ingest.receive} after; the admin replay calls
 * {@link Ingest.replay}; recovery's redeliveries arrive as ordinary webhooks.
 */
export function createIngest(deps: IngestDeps): Ingest {
  const { config, metrics, log, security, clock } = deps;

  const count = (event: string | undefined, action: string | null | undefined, status: EventStatus) => {
    metrics.events.inc({ type: labelValue(event, 'unknown'), action: labelValue(action ?? null), status });
  };
  const rejection = (
    reason: RejectionReason,
    status: EventStatus,
    code: ErrorCode,
    message?: string,
    headers?: Record<string, string>,
    labels: { event?: string; action?: string | null } = {},
  ): GitBridgeError => {
    metrics.rejections.inc({ reason });
    count(labels.event, labels.action, status);
    return new GitBridgeError(code, { ...(message !== undefined ? { message } : {}), ...(headers ? { headers } : {}) });
  };
  const rejected = (error: GitBridgeError, labels: { event?: string; action?: string | null } = {}): IngestOutcome => ({ kind: 'rejected', error, ...labels });
  // Floods of bad signatures are shed by address before the body is read,
  // but never from GitHub's own hook ranges: every hook on GitHub shares
  // them, so anyone could otherwise lock out real deliveries.
  const sheddable = (ip: string | undefined) => config.rateLimitUnauthenticated > 0 && !deps.githubRanges().allows(ip);

  return {
    async admit(req) {
      const deliveryId = () => safeLogId(req.header('x-github-delivery'));
      if (deps.draining()) {
        return { ok: false, error: rejection('shutting_down', 'unavailable', 'GB_SHUTTING_DOWN', undefined, { 'retry-after': '5', connection: 'close' }) };
      }
      // Before the allowlist: behind an untrusted proxy the address it would judge is the proxy's.
      const untrusted = deps.proxyGuard.check(req.peer, req.header, { route: '/webhook', deliveryId: deliveryId() });
      if (untrusted) return { ok: false, error: rejection('proxy', 'forbidden', untrusted.code, untrusted.message) };
      const ip = req.sourceIp;
      if (!deps.allowlist().allows(ip)) {
        security.warn({ kind: 'address_denied', ip, deliveryId: deliveryId() }, 'source address not in allowlist');
        return { ok: false, error: rejection('address', 'forbidden', 'GB_WEBHOOK_FORBIDDEN_ADDRESS', `Source address ${ip ?? 'unknown'} is not allowed`) };
      }
      const rawType = req.header('content-type');
      const contentType = webhookContentType(typeof rawType === 'string' ? rawType : undefined);
      if (contentType === null) {
        return {
          ok: false,
          error: rejection('content_type', 'unsupported_media_type', 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE',
            `Unsupported content type "${String(rawType ?? '').slice(0, 100)}": set the hook's content type to application/json (application/x-www-form-urlencoded is also accepted)`),
        };
      }
      if (sheddable(ip)) {
        const unauth = await deps.limiter.peek(unauthKey(ip), config.rateLimitUnauthenticated, config.rateLimitWindowS);
        if (!unauth.allowed) {
          security.warn({ kind: 'rate_limited_unauthenticated', ip, deliveryId: deliveryId() }, 'too many failed signatures from this address');
          return {
            ok: false,
            error: rejection('rate_limit', 'rate_limited', 'GB_WEBHOOK_RATE_LIMITED', 'Too many requests with bad signatures from this address', { 'retry-after': String(unauth.resetS) }),
          };
        }
      }
      return { ok: true, contentType };
    },

    async receive(req, contentType, body) {
      let ids: ReturnType<typeof readDeliveryHeaders>;
      try {
        ids = readDeliveryHeaders(req.header);
      } catch (err) {
        if (!isGitBridgeError(err)) throw err;
        return rejected(rejection('validation', 'invalid', err.code, err.message));
      }
      const deliveryId = ids.deliveryId;

      const verified = verifySignature(config.webhookSecrets, body, req.header('x-hub-signature-256') as string | string[] | undefined);
      if (!verified.ok) {
        if (sheddable(req.sourceIp)) await deps.limiter.consume(unauthKey(req.sourceIp), config.rateLimitUnauthenticated, config.rateLimitWindowS);
        security.warn({ kind: 'signature_failed', reason: verified.reason, deliveryId, ip: req.sourceIp }, 'webhook signature verification failed');
        log.warn({ deliveryId, reason: verified.reason }, 'rejected: bad signature');
        return rejected(rejection('signature', 'unauthorized',
          verified.reason === 'missing' ? 'GB_WEBHOOK_SIGNATURE_MISSING' : 'GB_WEBHOOK_SIGNATURE_MISMATCH',
          verified.reason === 'malformed' ? 'The X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>' : undefined));
      }
      // From here the headers are authentic enough to label metrics with.
      const event = ids.event;
      metrics.signatureSlot.inc({ slot: String(verified.slot) });
      if (verified.slot > 0) security.info({ kind: 'secret_slot', slot: verified.slot, deliveryId }, 'delivery verified with a rotated secret');

      let delivery;
      try {
        delivery = identifyDelivery(ids, decodePayload(body, contentType));
      } catch (err) {
        if (!isGitBridgeError(err)) throw err;
        log.warn({ deliveryId, event, code: err.code }, `rejected: ${err.message}`);
        return rejected(rejection('validation', 'invalid', err.code, err.message, undefined, { event }), { event });
      }
      const labels = { event, action: delivery.action };

      const subject = rateLimitSubject(delivery);
      const limit = await deps.limiter.consume(`rate_limit:webhook:${subject}`, config.rateLimitPerRepo, config.rateLimitWindowS);
      if (!limit.allowed) {
        security.warn({ kind: 'rate_limited', deliveryId, subject, repo: delivery.repo, limit: limit.limit, retryAfterS: limit.resetS }, 'delivery rate limited; redeliver it later');
        log.warn({ deliveryId, event, action: delivery.action, repo: delivery.repo }, 'rejected: rate limited');
        return rejected(rejection('rate_limit', 'rate_limited', 'GB_WEBHOOK_RATE_LIMITED',
          `Rate limit of ${limit.limit} deliveries per ${config.rateLimitWindowS} s exceeded for ${subject}`, { 'retry-after': String(limit.resetS) }, labels), labels);
      }

      let stored: 'stored' | 'duplicate';
      try {
        stored = await deps.store.ingest(newDelivery({
          delivery,
          contentType,
          headers: keptHeaders(req.header),
          body,
          signatureSlot: verified.slot,
          sourceIp: req.sourceIp ?? null,
          receivedAt: new Date(clock.now()).toISOString(),
        }));
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        log.error({ deliveryId, err: { message: (err as Error).message, code: cause?.code ?? (err as { code?: string }).code } }, 'store commit failed: answering 503');
        return rejected(rejection('store', 'unavailable', 'GB_WEBHOOK_STORE_UNAVAILABLE', undefined, { 'retry-after': '5' }, labels), labels);
      }
      const answer = { deliveryId: delivery.deliveryId, event, action: delivery.action };
      if (stored === 'duplicate') {
        log.info({ deliveryId, event, action: forLog(delivery.action), repo: forLog(delivery.repo) }, 'duplicate delivery id: already stored');
        count(event, delivery.action, 'duplicate');
        return { kind: 'duplicate', status: 200, ...answer };
      }
      if (event === 'ping') {
        log.info({ deliveryId, event, hookId: delivery.hookId, zen: typeof delivery.payload.zen === 'string' ? forLog(delivery.payload.zen) : undefined }, 'ping received');
        count(event, delivery.action, 'ping');
        return { kind: 'ping', status: 200, ...answer };
      }
      log.info({ deliveryId, event, action: forLog(delivery.action), repo: forLog(delivery.repo), size: body.length, ip: req.sourceIp }, 'delivery accepted');
      count(event, delivery.action, 'accepted');
      deps.onAccepted?.(deliveryId);
      return { kind: 'accepted', status: 202, ...answer };
    },

    tooLarge(req) {
      security.warn({ kind: 'payload_too_large', ip: req.sourceIp, limitBytes: config.maxPayloadBytes, deliveryId: safeLogId(req.header('x-github-delivery')) }, 'payload over the size limit');
      return rejection('size', 'too_large', 'GB_WEBHOOK_PAYLOAD_TOO_LARGE', `Payload is larger than the limit of ${config.maxPayloadBytes} bytes`);
    },

    async replay(originalId, sourceIp, options = {}) {
      const notify = options.notify ?? false;
      let replayId: string | null;
      try {
        replayId = await deps.store.insertReplay(originalId, (original, id) => replayDelivery(original, id, new Date(clock.now()).toISOString(), notify));
      } catch (err) {
        log.error({ deliveryId: originalId, err: { message: (err as Error).message } }, 'replay could not be stored');
        throw new GitBridgeError('GB_WEBHOOK_STORE_UNAVAILABLE', { cause: err, headers: { 'retry-after': '5' } });
      }
      if (replayId === null) throw new GitBridgeError('GB_DELIVERY_NOT_FOUND', { message: `No stored delivery ${originalId.slice(0, 128)}` });
      security.info({ kind: 'replay', deliveryId: originalId, replayId, ip: sourceIp, notify }, 'delivery replayed by an operator');
      log.info({ deliveryId: replayId, replayOf: originalId, notify }, 'replay accepted');
      deps.onAccepted?.(replayId);
      return replayId;
    },
  };
}
