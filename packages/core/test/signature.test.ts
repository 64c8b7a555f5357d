import { describe, expect, it } from 'vitest';
import { sign, verifySignature } from '../src/index.js';

// Test vector from GitHub's docs, "Validating webhook deliveries".
const DOC_SECRET = "It's a Secret to Everybody";
const DOC_BODY = 'Hello, World!';
const DOC_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

describe('sign', () => {
  it("matches GitHub's documented test vector", () => {
    expect(sign(DOC_SECRET, DOC_BODY)).toBe(DOC_SIGNATURE);
    expect(sign(DOC_SECRET, Buffer.from(DOC_BODY))).toBe(DOC_SIGNATURE);
  });
});

describe('verifySignature', () => {
  const body = Buffer.from(DOC_BODY);

  it('accepts the documented signature, in upper case too', () => {
    expect(verifySignature([DOC_SECRET], body, DOC_SIGNATURE)).toEqual({ ok: true, slot: 0 });
    expect(verifySignature([DOC_SECRET], body, `sha256=${DOC_SIGNATURE.slice(7).toUpperCase()}`)).toEqual({ ok: true, slot: 0 });
  });

  it('reports which secret slot matched (rotation)', () => {
    expect(verifySignature(['new-secret', DOC_SECRET], body, DOC_SIGNATURE)).toEqual({ ok: true, slot: 1 });
    expect(verifySignature(['a', 'b'], body, DOC_SIGNATURE)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature([], body, DOC_SIGNATURE)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('verifies the raw bytes: multi-byte UTF-8, escapes and whitespace are not normalised', () => {
    const raw = Buffer.from('{"title":"Caf\u00e9 \ud83d\ude80 \u6f22\u5b57","path":"a\\/b","u":"\\u00E9"}\n', 'utf8');
    const sig = sign('s', raw);
    expect(verifySignature(['s'], raw, sig).ok).toBe(true);
    // The same JSON re-serialised differs in bytes and must not verify.
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
    expect(verifySignature(['s'], reserialised, sig).ok).toBe(false);
  });

  it.each([
    ['absent', undefined, 'missing'],
    ['empty', '', 'missing'],
    ['prefix only', 'sha256=', 'malformed'],
    ['too short', 'sha256=abcd', 'malformed'],
    ['non-hex', `sha256=${'z'.repeat(64)}`, 'malformed'],
    ['wrong algorithm', `sha1=${'a'.repeat(40)}`, 'malformed'],
    ['non-ASCII', `sha256=${'é'.repeat(64)}`, 'malformed'],
    ['too long', `${DOC_SIGNATURE}00`, 'malformed'],
    ['sent twice', [DOC_SIGNATURE, DOC_SIGNATURE], 'malformed'],
    ['wrong digest', `sha256=${'0'.repeat(64)}`, 'mismatch'],
  ] as const)('rejects a signature that is %s', (_name, header, reason) => {
    expect(verifySignature([DOC_SECRET], body, header)).toEqual({ ok: false, reason });
  });
});
