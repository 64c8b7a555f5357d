import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { GitBridgeError } from '../errors/errors.js';

/** A GitHub App's JWT and when it expires. */
export interface AppJwt {
  readonly jwt: string;
  /** ISO-8601 expiry (`exp`). */
  readonly expiresAt: string;
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/**
 * Reads a GitHub App's private key (the PEM file GitHub gives, PKCS#1
 * `BEGIN RSA PRIVATE KEY`, or PKCS#8).
 *
 * @param source where the key came from, for the message (a file path; never the key)
 * @throws GitBridgeError `GB_GITHUB_AUTH_FAILED` when it is not a PEM RSA private key
 */
export function readAppPrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    // Keys set through the environment often have their line breaks escaped.
    key = createPrivateKey({ key: pem.replace(/\\n/g, '\n'), format: 'pem' });
  } catch {
    throw new GitBridgeError('GB_GITHUB_AUTH_FAILED', {
      message: `${source} is not a PEM private key`,
      hint: "download the App's private key (a .pem file) from its settings page on GitHub",
    });
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new GitBridgeError('GB_GITHUB_AUTH_FAILED', { message: `${source} is a ${key.asymmetricKeyType ?? 'non-RSA'} key; GitHub App keys are RSA` });
  }
  return key;
}

/**
 * The JWT a GitHub App authenticates as itself with (GitHub docs,
 * "Generating a JSON Web Token (JWT) for a GitHub App"): RS256, `iss` the
 * App's id (or client id), `iat` 60 s in the past to allow for clock drift,
 * `exp` 10 minutes after `iat` (GitHub refuses more than 10 minutes ahead).
 *
 * @param nowMs the current time, ms since the epoch (GitHub's, when a skew was measured)
 */
export function appJwt(appId: string, key: KeyObject, nowMs: number): AppJwt {
  const now = Math.floor(nowMs / 1000);
  const iat = now - 60;
  const exp = iat + 600;
  const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${base64url(JSON.stringify({ iat, exp, iss: appId }))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return { jwt: `${signingInput}.${base64url(signature)}`, expiresAt: new Date(exp * 1000).toISOString() };
}
