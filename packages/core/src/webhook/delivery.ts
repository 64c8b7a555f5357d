import { GitBridgeError } from '../errors/errors.js';
import { isObject } from '../util.js';

/** A JSON object as GitHub sends it: unknown fields are kept, nothing is assumed present. */
export type Payload = Record<string, unknown>;

/**
 * What GitBridge identifies in a delivery before it is stored: event, action
 * and the subject it belongs to. Every field that GitHub may omit is nullable.
 */
export interface ParsedDelivery {
  /** `X-GitHub-Delivery`, a GUID; the same for a redelivery. */
  readonly deliveryId: string;
  /** `X-GitHub-Event`, e.g. `pull_request`. */
  readonly event: string;
  /** `payload.action`, or null (`push`, `ping` and others have none). */
  readonly action: string | null;
  /** `X-GitHub-Hook-ID`, or null. */
  readonly hookId: string | null;
  /** `repository.full_name`, or null (organization, app and installation events). */
  readonly repo: string | null;
  /** `repository.id`, or null. */
  readonly repoId: number | null;
  /** `installation.id`, or null. */
  readonly installationId: number | null;
  /** `organization.login`, or null. */
  readonly org: string | null;
  /** `organization.id`, or null. */
  readonly orgId: number | null;
  /** The parsed payload. */
  readonly payload: Payload;
}

/** The headers GitBridge reads, by lower-case name. */
export type HeaderGetter = (lowerCaseName: string) => string | readonly string[] | undefined;

/** The media types GitHub sends (the hook's `content_type`: `json` or `form`). */
export type WebhookContentType = 'json' | 'form';

/**
 * Maps a `Content-Type` header to the hook content type. Parameters such as
 * `; charset=utf-8` and letter case are ignored.
 *
 * @returns `json`, `form`, or null for anything else (answer 415)
 */
export function webhookContentType(header: string | undefined): WebhookContentType | null {
  if (!header) return null;
  const media = header.split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/json') return 'json';
  if (media === 'application/x-www-form-urlencoded') return 'form';
  return null;
}

// A delivery id is a GUID on github.com; GHES and tools send other tokens.
// Bounded and plain so that it is safe in logs, file names and SQL.
const DELIVERY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const EVENT_NAME = /^[a-z0-9_.-]{1,64}$/;

function single(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return value.length === 1 ? value[0] : undefined;
}

/**
 * Reads and checks the identifying headers of a delivery.
 *
 * @throws GitBridgeError `GB_WEBHOOK_MISSING_HEADER` naming the header that is missing
 * @throws GitBridgeError `GB_WEBHOOK_INVALID_PAYLOAD` when a header value has the wrong shape
 */
export function readDeliveryHeaders(get: HeaderGetter): { deliveryId: string; event: string; hookId: string | null } {
  const event = single(get('x-github-event'))?.trim();
  const deliveryId = single(get('x-github-delivery'))?.trim();
  if (!event) throw new GitBridgeError('GB_WEBHOOK_MISSING_HEADER', { message: 'Missing header X-GitHub-Event' });
  if (!deliveryId) throw new GitBridgeError('GB_WEBHOOK_MISSING_HEADER', { message: 'Missing header X-GitHub-Delivery' });
  if (!EVENT_NAME.test(event)) throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'X-GitHub-Event is not a valid event name' });
  if (!DELIVERY_ID.test(deliveryId)) throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'X-GitHub-Delivery is not a valid delivery id' });
  const hookId = single(get('x-github-hook-id'))?.trim() ?? null;
  return { deliveryId, event, hookId: hookId && /^\d{1,20}$/.test(hookId) ? hookId : null };
}


/**
 * Decodes the raw body (after its signature was verified) into the payload.
 * `json`: the body is the JSON document. `form`: the JSON is the `payload`
 * field of an `application/x-www-form-urlencoded` body (GitHub docs, "Webhook
 * events and payloads", delivery headers and content types).
 *
 * @throws GitBridgeError `GB_WEBHOOK_INVALID_PAYLOAD` for malformed JSON or form data, or a top level that is not an object
 */
export function decodePayload(body: Uint8Array, type: WebhookContentType): Payload {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let json: string | null = text;
  if (type === 'form') {
    json = new URLSearchParams(text).get('payload');
    if (json === null) throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'Form body has no "payload" field' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'Payload is not valid JSON' });
  }
  if (!isObject(parsed)) throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'Payload must be a JSON object' });
  return parsed;
}

/**
 * A number GitBridge reads from a payload (an id, a pull request or issue
 * number): GitHub sends non-negative integers, so anything else (1.5, -1,
 * 1e400 which parses as Infinity, a string, null) is treated as absent,
 * never as an error: one odd value must not stop a delivery.
 */
export function payloadInteger(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/**
 * Validates the structure GitBridge relies on and identifies the delivery.
 * Tolerant the way real payloads need: any field may be missing or null;
 * only fields of a type GitHub never sends are rejected (`action` that is
 * not a string, `repository` / `organization` / `installation` / `sender`
 * that are not objects).
 *
 * @throws GitBridgeError `GB_WEBHOOK_INVALID_PAYLOAD` naming the offending field
 */
export function identifyDelivery(
  headers: { deliveryId: string; event: string; hookId: string | null },
  payload: Payload,
): ParsedDelivery {
  const action = payload.action;
  if (action !== undefined && action !== null && typeof action !== 'string') {
    throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: 'Payload field "action" must be a string' });
  }
  for (const field of ['repository', 'organization', 'installation', 'sender'] as const) {
    const v = payload[field];
    if (v !== undefined && v !== null && !isObject(v)) {
      throw new GitBridgeError('GB_WEBHOOK_INVALID_PAYLOAD', { message: `Payload field "${field}" must be an object` });
    }
  }
  const repository = payload.repository as Record<string, unknown> | null | undefined;
  const organization = payload.organization as Record<string, unknown> | null | undefined;
  const installation = payload.installation as Record<string, unknown> | null | undefined;
  return {
    ...headers,
    action: typeof action === 'string' && action !== '' ? action : null,
    repo: typeof repository?.full_name === 'string' ? repository.full_name : null,
    repoId: payloadInteger(repository?.id),
    installationId: payloadInteger(installation?.id),
    org: typeof organization?.login === 'string' ? organization.login : null,
    orgId: payloadInteger(organization?.id),
    payload,
  };
}

/**
 * The rate-limit subject of a delivery: `repo_<repository id>`, else
 * `installation_<id>`, else `org_<id>`, else `hook_<hook id>`, else `global`.
 * The seed's Redis key is `rate_limit:webhook:` + this.
 */
export function rateLimitSubject(d: ParsedDelivery): string {
  if (d.repoId !== null) return `repo_${d.repoId}`;
  if (d.installationId !== null) return `installation_${d.installationId}`;
  if (d.orgId !== null) return `org_${d.orgId}`;
  if (d.hookId !== null) return `hook_${d.hookId}`;
  return 'global';
}
