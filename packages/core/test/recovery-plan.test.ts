import { generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appJwt, deliveriesWindowMs, groupByGuid, judgeDelivery, loadConfig, parseHookPath, passSpan, readAppPrivateKey,
  type HookDelivery, type RedeliveryRequest,
} from '../src/index.js';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

const attempt = (id: number, overrides: Partial<HookDelivery> = {}): HookDelivery => ({
  id, guid: 'g', deliveredAt: iso(NOW - HOUR), redelivery: false, status: 'Invalid HTTP Response: 503', statusCode: 503, event: 'issues', action: 'opened', ...overrides,
});
const record = (overrides: Partial<RedeliveryRequest> = {}): RedeliveryRequest => ({
  deliveryId: 'g', hook: 'repos/o/r/hooks/1', githubDeliveryId: 10, event: 'issues', action: 'opened', reason: 'failed', requests: 1,
  firstRequestedAt: iso(NOW - 5 * MIN), lastRequestedAt: iso(NOW - 5 * MIN), outcome: 'requested', detail: null, arrivedAt: null, ...overrides,
});
const policy = { hook: 'repos/o/r/hooks/1', maxRequests: 3, settleMs: 10 * MIN, now: NOW };

describe('hook paths and GitHub\'s window', () => {
  it('parses repository, organization and App hooks, and nothing else', () => {
    expect(parseHookPath('repos/octo-cat/Hello.World/hooks/12345')).toEqual({ kind: 'repo', path: 'repos/octo-cat/Hello.World/hooks/12345', owner: 'octo-cat', repo: 'Hello.World', hookId: 12345 });
    expect(parseHookPath('/orgs/acme/hooks/7/')).toEqual({ kind: 'org', path: 'orgs/acme/hooks/7', org: 'acme', hookId: 7 });
    expect(parseHookPath('app')).toEqual({ kind: 'app', path: 'app' });
    for (const bad of ['repos/o/hooks/1', 'repos/o/r/hooks/x', 'orgs/o/hooks/0', 'apps', 'repos/o/r/hooks/1/deliveries', 'repos/../r/hooks/1', '']) expect(parseHookPath(bad), bad).toBeNull();
  });

  it('is 3 days on github.com and 7 on any other API URL (GitHub Enterprise Server)', () => {
    expect(deliveriesWindowMs('https://api.github.com')).toBe(3 * DAY);
    expect(deliveriesWindowMs('https://API.GitHub.com/')).toBe(3 * DAY);
    expect(deliveriesWindowMs('https://github.example.com/api/v3')).toBe(7 * DAY);
  });
});

describe('the App JWT', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

  it('is RS256, issued by the App 60 s in the past, expiring 10 minutes after that, and verifies with the public key', () => {
    const { jwt, expiresAt } = appJwt('4242', readAppPrivateKey(privateKey, 'key.pem'), NOW);
    const [h, p, s] = jwt.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iat: number; exp: number; iss: string };
    expect(payload).toEqual({ iat: NOW / 1000 - 60, exp: NOW / 1000 + 540, iss: '4242' });
    expect(expiresAt).toBe(iso(NOW + 540_000));
    expect(verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))).toBe(true);
  });

  it('a file that is not a PEM RSA private key is GB_GITHUB_AUTH_FAILED naming the file, never its content', () => {
    expect(() => readAppPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nnot base64\n', '/etc/app.pem')).toThrow(expect.objectContaining({ code: 'GB_GITHUB_AUTH_FAILED', message: '/etc/app.pem is not a PEM private key' }));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(() => readAppPrivateKey(ec.privateKey, 'ec.pem')).toThrow(expect.objectContaining({ code: 'GB_GITHUB_AUTH_FAILED', message: expect.stringMatching(/GitHub App keys are RSA/) }));
    // Escaped line breaks (a key set through the environment) are accepted.
    expect(readAppPrivateKey(privateKey.replace(/\n/g, '\\n'), 'env').asymmetricKeyType).toBe('rsa');
  });
});

describe('what a pass does about one GUID', () => {
  it('stored: nothing; a late answer when every attempt failed at GitHub', () => {
    expect(judgeDelivery([attempt(10)], true, undefined, policy)).toEqual({ kind: 'stored', lateAnswer: true });
    expect(judgeDelivery([attempt(11, { statusCode: 202, status: 'OK' }), attempt(10)], true, undefined, policy)).toEqual({ kind: 'stored', lateAnswer: false });
  });

  it('missing: redeliver the newest attempt, failed or answered elsewhere; a ping never', () => {
    expect(judgeDelivery([attempt(11), attempt(10)], false, undefined, policy)).toMatchObject({ kind: 'redeliver', reason: 'failed', attempt: { id: 11 } });
    expect(judgeDelivery([attempt(10, { statusCode: 200, status: 'OK' })], false, undefined, policy)).toMatchObject({ kind: 'redeliver', reason: 'answered_elsewhere' });
    expect(judgeDelivery([attempt(10, { event: 'ping', action: null })], false, undefined, policy)).toEqual({ kind: 'skip_ping' });
  });

  it('requested before: waits for GitHub\'s new attempt; asks again when it failed, when none came within the settle time, or when the request failed', () => {
    expect(judgeDelivery([attempt(10)], false, record(), policy)).toMatchObject({ kind: 'waiting' });
    expect(judgeDelivery([attempt(12, { redelivery: true }), attempt(10)], false, record(), policy)).toMatchObject({ kind: 'redeliver', reason: 'failed', attempt: { id: 12 } });
    expect(judgeDelivery([attempt(12, { redelivery: true, statusCode: 200 }), attempt(10)], false, record(), policy)).toMatchObject({ kind: 'redeliver', reason: 'answered_elsewhere' });
    expect(judgeDelivery([attempt(10)], false, record({ lastRequestedAt: iso(NOW - 11 * MIN) }), policy)).toMatchObject({ kind: 'redeliver' });
    expect(judgeDelivery([attempt(10)], false, record({ outcome: 'failed' }), policy)).toMatchObject({ kind: 'redeliver' });
    // A reservation whose request never settled (a crash) waits out the settle time too.
    expect(judgeDelivery([attempt(10)], false, record({ outcome: 'pending' }), policy)).toMatchObject({ kind: 'waiting' });
  });

  it('attempt ids compare within the hook the request went through only', () => {
    expect(judgeDelivery([attempt(50)], false, record({ hook: 'orgs/o/hooks/2' }), policy)).toMatchObject({ kind: 'waiting' });
  });

  it('never more than 3 requests: after the third, gives up once its attempt failed too', () => {
    expect(judgeDelivery([attempt(10)], false, record({ requests: 3 }), policy)).toMatchObject({ kind: 'waiting' });
    expect(judgeDelivery([attempt(12), attempt(10)], false, record({ requests: 3 }), policy)).toMatchObject({ kind: 'gave_up' });
    expect(judgeDelivery([attempt(12)], false, record({ requests: 3, outcome: 'given_up' }), policy)).toMatchObject({ kind: 'gave_up' });
  });

  it('groups attempts by GUID, newest first', () => {
    const groups = groupByGuid([attempt(3, { guid: 'a' }), attempt(9, { guid: 'b' }), attempt(7, { guid: 'a' })]);
    expect([...groups].map(([g, list]) => [g, list.map((a) => a.id)])).toEqual([['a', [7, 3]], ['b', [9]]]);
  });
});

describe('the span a pass examines', () => {
  const base = { now: NOW, windowMs: 3 * DAY, lookbackMs: DAY, overlapMs: 10 * MIN, checkpoint: null, lastAlive: null };

  it('from the checkpoint minus the overlap; without one, the look-back', () => {
    expect(passSpan({ ...base, checkpoint: iso(NOW - HOUR) })).toEqual({ from: NOW - HOUR - 10 * MIN, coversCheckpoint: true, gap: null });
    expect(passSpan(base)).toEqual({ from: NOW - DAY, coversCheckpoint: true, gap: null });
  });

  it('after downtime without a checkpoint: back to the last sign of life, bounded by GitHub\'s window, the rest a gap', () => {
    expect(passSpan({ ...base, lastAlive: iso(NOW - 2 * DAY) }).from).toBe(NOW - 2 * DAY - 10 * MIN);
    expect(passSpan({ ...base, lastAlive: iso(NOW - 5 * MIN) }).from).toBe(NOW - DAY);
    expect(passSpan({ ...base, lastAlive: iso(NOW - 4 * DAY) })).toEqual({ from: NOW - 3 * DAY, coversCheckpoint: true, gap: { start: NOW - 4 * DAY, end: NOW - 3 * DAY } });
    expect(passSpan({ ...base, checkpoint: iso(NOW - 5 * DAY), lastAlive: iso(NOW) }).gap).toEqual({ start: NOW - 5 * DAY, end: NOW - 3 * DAY });
  });

  it('--since replaces the start, reports no gap, and covers the checkpoint only when it reaches it', () => {
    expect(passSpan({ ...base, checkpoint: iso(NOW - 5 * DAY), sinceMs: HOUR })).toEqual({ from: NOW - HOUR, coversCheckpoint: false, gap: null });
    expect(passSpan({ ...base, checkpoint: iso(NOW - 2 * HOUR), sinceMs: 3 * HOUR }).coversCheckpoint).toBe(true);
  });
});

describe('the recovery configuration', () => {
  const required = { GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' };

  it('defaults: github.com, the meta URL from it, a pass every 300 s looking back a day, no hooks', () => {
    const c = loadConfig({ env: required });
    expect(c).toMatchObject({ githubApiUrl: 'https://api.github.com', metaUrl: 'https://api.github.com/meta', recoverIntervalS: 300, recoverLookbackS: 86_400, recoverHooks: [], githubToken: undefined });
    const ghes = loadConfig({ env: { ...required, GITBRIDGE_GITHUB_API_URL: 'https://github.example.com/api/v3/' } });
    expect(ghes.metaUrl).toBe('https://github.example.com/api/v3/meta');
    expect(loadConfig({ env: { ...required, GITBRIDGE_GITHUB_API_URL: 'https://github.example.com/api/v3', GITBRIDGE_META_URL: 'https://x.example/meta' } }).metaUrl).toBe('https://x.example/meta');
  });

  it('reads the token from its file with the trailing newline trimmed, and refuses both at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-token-'));
    writeFileSync(join(dir, 'token'), 'ghp_fromfile\n');
    expect(loadConfig({ env: { ...required, GITBRIDGE_GITHUB_TOKEN_FILE: join(dir, 'token') } }).githubToken).toBe('ghp_fromfile');
    expect(loadConfig({ env: required, flags: { githubTokenFile: join(dir, 'token') } }).githubToken).toBe('ghp_fromfile');
    expect(() => loadConfig({ env: { ...required, GITBRIDGE_GITHUB_TOKEN: 'ghp_x', GITBRIDGE_GITHUB_TOKEN_FILE: join(dir, 'token') } })).toThrow(/both set/);
    writeFileSync(join(dir, 'two-lines'), 'a\nb\n');
    expect(() => loadConfig({ env: { ...required, GITBRIDGE_GITHUB_TOKEN_FILE: join(dir, 'two-lines') } })).toThrow(/must hold one line/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports every recovery problem at once, and never a secret', () => {
    let message = '';
    try {
      loadConfig({ env: { ...required, GITBRIDGE_RECOVER_HOOKS: 'repos/o/r/hooks/1,app,nonsense', GITBRIDGE_RECOVER_LOOKBACK_S: '300000', GITBRIDGE_RETENTION_DAYS: '2', GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: '/nonexistent/key.pem' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/GITBRIDGE_RECOVER_HOOKS .*nonsense/);
    expect(message).toMatch(/GITBRIDGE_RECOVER_LOOKBACK_S must be at most 259200/);
    expect(message).toMatch(/GITBRIDGE_RETENTION_DAYS must be 0 or at least 3/);
    expect(message).toMatch(/GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: cannot read \/nonexistent\/key.pem \(ENOENT\)/);
    expect(message).toMatch(/GITBRIDGE_GITHUB_TOKEN \(or GITBRIDGE_GITHUB_TOKEN_FILE\) is required/);
    expect(message).toMatch(/GITBRIDGE_GITHUB_APP_ID and GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE are required/);
    expect(() => loadConfig({ env: { ...required, GITBRIDGE_GITHUB_API_URL: 'redis://127.0.0.1' } })).toThrow(/GITBRIDGE_GITHUB_API_URL .*must be an http\(s\) URL/);
    // GHES keeps deliveries 7 days; the CLI needs credentials only when it runs `recover`; interval 0 needs none.
    expect(loadConfig({ env: { ...required, GITBRIDGE_GITHUB_API_URL: 'https://ghes.example/api/v3', GITBRIDGE_RECOVER_LOOKBACK_S: '600000', GITBRIDGE_RECOVER_HOOKS: 'app' }, scope: 'cli' }).recoverLookbackS).toBe(600_000);
    expect(loadConfig({ env: { ...required, GITBRIDGE_RECOVER_HOOKS: 'app', GITBRIDGE_RECOVER_INTERVAL_S: '0' } }).recoverHooks).toEqual(['app']);
    expect(() => loadConfig({ env: { ...required, GITBRIDGE_GITHUB_TOKEN: 'ghp_secret', GITBRIDGE_RECOVER_HOOKS: 'bad' } })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('ghp_secret') }));
  });
});
