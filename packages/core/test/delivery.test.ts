import { describe, expect, it } from 'vitest';
import { decodePayload, identifyDelivery, rateLimitSubject, readDeliveryHeaders, webhookContentType, isGitBridgeError } from '../src/index.js';

const headersOf = (h: Record<string, string>) => (name: string) => h[name];

describe('webhookContentType', () => {
  it.each([
    ['application/json', 'json'],
    ['Application/JSON; charset=utf-8', 'json'],
    ['application/x-www-form-urlencoded', 'form'],
    ['application/x-www-form-urlencoded;charset=UTF-8', 'form'],
    ['text/plain', null],
    ['multipart/form-data; boundary=x', null],
    [undefined, null],
  ])('%s -> %s', (header, expected) => {
    expect(webhookContentType(header)).toBe(expected);
  });
});

describe('readDeliveryHeaders', () => {
  it('names the missing header', () => {
    const err = (() => { try { readDeliveryHeaders(headersOf({ 'x-github-delivery': 'a' })); } catch (e) { return e; } })();
    expect(isGitBridgeError(err, 'GB_WEBHOOK_MISSING_HEADER')).toBe(true);
    expect((err as Error).message).toContain('X-GitHub-Event');
    expect(() => readDeliveryHeaders(headersOf({ 'x-github-event': 'push' }))).toThrow(/X-GitHub-Delivery/);
  });
  it('rejects hostile header values', () => {
    expect(() => readDeliveryHeaders(headersOf({ 'x-github-event': 'push', 'x-github-delivery': 'a b\n' }))).toThrow(/delivery id/);
    expect(() => readDeliveryHeaders(headersOf({ 'x-github-event': 'PUSH!', 'x-github-delivery': 'a' }))).toThrow(/event name/);
  });
  it('reads the hook id', () => {
    expect(readDeliveryHeaders(headersOf({ 'x-github-event': 'push', 'x-github-delivery': 'd-1', 'x-github-hook-id': '42' }))).toEqual({ event: 'push', deliveryId: 'd-1', hookId: '42' });
  });
});

describe('decodePayload', () => {
  it('decodes JSON and the form field "payload"', () => {
    const json = '{"action":"opened","x":"\u00e9"}';
    expect(decodePayload(Buffer.from(json), 'json')).toEqual({ action: 'opened', x: 'é' });
    const form = Buffer.from(`payload=${encodeURIComponent(json)}`);
    expect(decodePayload(form, 'form')).toEqual({ action: 'opened', x: 'é' });
  });
  it.each([
    ['{not json', 'json', /not valid JSON/],
    ['[1,2]', 'json', /JSON object/],
    ['null', 'json', /JSON object/],
    ['', 'json', /not valid JSON/],
    ['other=1', 'form', /no "payload" field/],
  ] as const)('rejects %j', (body, type, message) => {
    expect(() => decodePayload(Buffer.from(body), type)).toThrow(message);
  });
});

describe('identifyDelivery', () => {
  const ids = { deliveryId: 'd', event: 'push', hookId: null };
  it('tolerates missing and null fields', () => {
    const d = identifyDelivery(ids, { ref: 'refs/heads/main', repository: null });
    expect(d).toMatchObject({ action: null, repo: null, repoId: null, org: null });
    expect(rateLimitSubject(d)).toBe('global');
  });
  it('keys the rate limit by repository, then installation, then organization', () => {
    expect(rateLimitSubject(identifyDelivery(ids, { repository: { id: 7, full_name: 'a/b' }, installation: { id: 9 } }))).toBe('repo_7');
    expect(rateLimitSubject(identifyDelivery(ids, { installation: { id: 9 }, organization: { id: 3, login: 'o' } }))).toBe('installation_9');
    expect(rateLimitSubject(identifyDelivery(ids, { organization: { id: 3, login: 'o' } }))).toBe('org_3');
  });
  it('rejects fields of a type GitHub never sends', () => {
    expect(() => identifyDelivery(ids, { action: 5 })).toThrow(/action/);
    expect(() => identifyDelivery(ids, { repository: 'x' })).toThrow(/repository/);
  });
});
