import type { ClaimedDelivery, NewDelivery } from '../store/contract.js';
import type { HeaderGetter, ParsedDelivery, WebhookContentType } from '../webhook/delivery.js';

/**
 * Request headers kept with a stored delivery, for replay and for
 * `deliveries show`. Signatures are never stored: a replay is re-signed, and
 * a stored signature would only help someone who stole the store.
 */
export const KEPT_HEADERS: readonly string[] = [
  'x-github-event',
  'x-github-delivery',
  'x-github-hook-id',
  'x-github-hook-installation-target-type',
  'x-github-hook-installation-target-id',
  'x-github-enterprise-version',
  'x-github-enterprise-host',
  'user-agent',
  'content-type',
  // set by `gitbridge replay --to` on a delivery re-sent from another GitBridge
  'x-gitbridge-replay-of',
];

/** The {@link KEPT_HEADERS} a request carries, by lower-case name (single values only). */
export function keptHeaders(get: HeaderGetter): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) {
    const v = get(h);
    if (typeof v === 'string') headers[h] = v;
  }
  return headers;
}

/** What the ingest path knows about a verified delivery when it stores it. */
export interface VerifiedDelivery {
  readonly delivery: ParsedDelivery;
  readonly contentType: WebhookContentType;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** Index of the secret that verified the signature. */
  readonly signatureSlot: number;
  readonly sourceIp: string | null;
  /** ISO-8601. */
  readonly receivedAt: string;
}

/**
 * The one builder of a stored delivery. `ping` needs no work (`processed`,
 * outcome `ping`); everything else is queued for the delivery worker.
 */
export function newDelivery(v: VerifiedDelivery): NewDelivery {
  const d = v.delivery;
  const ping = d.event === 'ping';
  return {
    deliveryId: d.deliveryId,
    event: d.event,
    action: d.action,
    hookId: d.hookId,
    repo: d.repo ?? d.org,
    repoId: d.repoId,
    installationId: d.installationId,
    receivedAt: v.receivedAt,
    contentType: v.contentType,
    headers: v.headers,
    body: v.body,
    signatureSlot: v.signatureSlot,
    sourceIp: v.sourceIp,
    state: ping ? 'processed' : 'queued',
    outcome: ping ? 'ping' : null,
  };
}

/**
 * The stored delivery of an operator's replay of `original`: the same bytes
 * and headers, a new id, queued again; `notify` says whether processing it
 * may send chat notifications.
 */
export function replayDelivery(original: ClaimedDelivery, replayId: string, receivedAt: string, notify: boolean): NewDelivery {
  const ping = original.event === 'ping';
  return {
    deliveryId: replayId,
    event: original.event,
    action: original.action,
    hookId: original.hookId,
    repo: original.repo,
    repoId: original.repoId,
    installationId: original.installationId,
    receivedAt,
    contentType: original.contentType,
    headers: original.headers,
    body: original.body,
    signatureSlot: original.signatureSlot,
    sourceIp: null,
    state: ping ? 'processed' : 'queued',
    outcome: ping ? 'ping' : null,
    replayOf: original.deliveryId,
    notify,
  };
}
