import { createHmac, timingSafeEqual } from 'node:crypto';

/** Prefix GitHub puts before the hex digest in `X-Hub-Signature-256`. */
export const SIGNATURE_PREFIX = 'sha256=';

/**
 * Computes the value of an `X-Hub-Signature-256` (or `X-MAS-Signature-256`)
 * header: `sha256=` followed by the lower-case hex HMAC-SHA256 of `body`.
 *
 * `body` must be the exact bytes sent on the wire; a string is encoded as
 * UTF-8. Source: GitHub docs, "Validating webhook deliveries"
 * (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
 *
 * @param secret the shared secret (UTF-8)
 * @param body the raw request body
 * @returns `sha256=<64 hex chars>`
 */
export function sign(secret: string, body: Uint8Array | string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}

/** Result of {@link verifySignature}. `slot` is the index of the secret that matched. */
export type VerifyResult =
  | { readonly ok: true; readonly slot: number }
  | { readonly ok: false; readonly reason: SignatureFailure };

/**
 * Why a signature did not verify. Stable strings, safe to log and to use as
 * metric label values: they never contain the signature itself.
 */
export type SignatureFailure = 'missing' | 'malformed' | 'mismatch';

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * Verifies a `sha256=<hex>` signature header against the raw body with each
 * secret in turn (rotation: all configured secrets verify, the first signs).
 *
 * Constant time per secret: the received digest is decoded to 32 bytes and
 * compared with `crypto.timingSafeEqual`; a header of the wrong shape is
 * rejected before any comparison. Header arrays (the header sent twice) are
 * treated as malformed. Upper-case hex is accepted, as GitHub's own examples
 * compare case-insensitively.
 *
 * Never throws for any input.
 *
 * @param secrets one or more secrets; an empty list never verifies
 * @param body the raw request body bytes as received
 * @param header the header value as received (`undefined` when absent)
 */
export function verifySignature(
  secrets: readonly string[],
  body: Uint8Array,
  header: string | readonly string[] | undefined,
): VerifyResult {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (typeof header !== 'string') return { ok: false, reason: 'malformed' };
  if (!header.startsWith(SIGNATURE_PREFIX)) return { ok: false, reason: 'malformed' };
  const hex = header.slice(SIGNATURE_PREFIX.length).toLowerCase();
  if (!HEX_DIGEST.test(hex)) return { ok: false, reason: 'malformed' };
  const received = Buffer.from(hex, 'hex');
  let matched = -1;
  // Check every secret even after a match so timing does not reveal the slot.
  for (let i = 0; i < secrets.length; i++) {
    const expected = createHmac('sha256', secrets[i] as string).update(body).digest();
    if (timingSafeEqual(expected, received) && matched < 0) matched = i;
  }
  return matched >= 0 ? { ok: true, slot: matched } : { ok: false, reason: 'mismatch' };
}
