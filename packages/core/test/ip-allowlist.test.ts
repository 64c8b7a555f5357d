import { describe, expect, it } from 'vitest';
import { IpAllowlist, clientAddress, forwardingProblem, proxyUntrusted, readHooksSnapshot } from '../src/index.js';

describe('IpAllowlist', () => {
  const hooks = readHooksSnapshot().hooks;
  const list = new IpAllowlist(['github', 'loopback'], hooks);

  it('allows GitHub hook ranges over IPv4, IPv6 and IPv4-mapped IPv6', () => {
    expect(list.allows('192.30.252.1')).toBe(true);
    expect(list.allows('140.82.115.255')).toBe(true);
    expect(list.allows('::ffff:185.199.108.10')).toBe(true);
    expect(list.allows('2606:50c0:1::1')).toBe(true);
    expect(list.allows('2a0a:a440:0:1::5')).toBe(true);
  });
  it('allows loopback and denies the rest', () => {
    expect(list.allows('127.0.0.1')).toBe(true);
    expect(list.allows('::1')).toBe(true);
    expect(list.allows('::ffff:127.0.0.1')).toBe(true);
    expect(list.allows('10.0.0.1')).toBe(false);
    expect(list.allows('192.30.256.1')).toBe(false);
    expect(list.allows('2001:db8::1')).toBe(false);
    expect(list.allows('not an ip')).toBe(false);
    expect(list.allows(undefined)).toBe(false);
  });
  it('supports explicit CIDRs, addresses and any', () => {
    const custom = new IpAllowlist(['10.1.0.0/16', '203.0.113.7'], []);
    expect(custom.allows('10.1.200.3')).toBe(true);
    expect(custom.allows('203.0.113.7')).toBe(true);
    expect(custom.allows('203.0.113.8')).toBe(false);
    expect(new IpAllowlist(['any'], []).allows('8.8.8.8')).toBe(true);
  });
  it('names invalid entries', () => {
    expect(() => new IpAllowlist(['10.0.0.0/33', 'nope'], [])).toThrow(/10.0.0.0\/33, nope/);
  });
});

describe('clientAddress', () => {
  it('ignores X-Forwarded-For unless proxies are trusted', () => {
    expect(clientAddress('127.0.0.1', '140.82.112.1', false)).toBe('127.0.0.1');
  });
  it('takes the right-most untrusted hop, never the forgeable left-most', () => {
    // client forged "1.2.3.4", real client 140.82.112.9, proxy on loopback
    expect(clientAddress('127.0.0.1', '1.2.3.4, 140.82.112.9', 1)).toBe('140.82.112.9');
    expect(clientAddress('127.0.0.1', '1.2.3.4, 140.82.112.9', ['127.0.0.1'])).toBe('140.82.112.9');
    expect(clientAddress('127.0.0.1', '1.2.3.4, 140.82.112.9, 10.0.0.2', ['127.0.0.1', '10.0.0.0/8'])).toBe('140.82.112.9');
    expect(clientAddress('::ffff:127.0.0.1', '140.82.112.9', 1)).toBe('140.82.112.9');
  });
  it('does not let a spoofed header pass an untrusted peer', () => {
    expect(clientAddress('8.8.8.8', '140.82.112.9', ['127.0.0.1'])).toBe('8.8.8.8');
  });
});

describe('IpAllowlist answer cache', () => {
  it('gives the same answers from the cache as from the ranges, for thousands of addresses', () => {
    const list = new IpAllowlist(['10.0.0.0/16', '2001:db8::/48'], []);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        const inside = `10.0.${i % 256}.${(i >> 8) % 256}`;
        const outside = `10.1.${i % 256}.${(i >> 8) % 256}`;
        expect(list.allows(inside)).toBe(true);
        expect(list.allows(`::ffff:${inside}`)).toBe(true);
        expect(list.allows(outside)).toBe(false);
      }
      expect(list.allows('2001:db8:0:1::5')).toBe(true);
      expect(list.allows('2001:db9::5')).toBe(false);
      expect(list.allows('not an address')).toBe(false);
    }
  });
});

describe('forwardingProblem', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name];
  it('none without forwarding headers, whatever the trust', () => {
    expect(forwardingProblem('127.0.0.1', headers({}), false)).toBeNull();
    expect(forwardingProblem('10.0.0.1', headers({}), ['127.0.0.1'])).toBeNull();
  });
  it('untrusted_peer for X-Forwarded-For, Forwarded or X-Real-IP from a peer that is not a trusted proxy', () => {
    for (const h of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
      expect(forwardingProblem('::ffff:127.0.0.1', headers({ [h]: '1.2.3.4' }), false), h).toEqual({ kind: 'untrusted_peer', header: h, peer: '127.0.0.1' });
    }
    expect(forwardingProblem('10.0.0.9', headers({ 'x-forwarded-for': '1.2.3.4' }), ['127.0.0.1', '10.0.0.0/30'])?.kind).toBe('untrusted_peer');
    expect(forwardingProblem(undefined, headers({ 'x-forwarded-for': '1.2.3.4' }), 1)).toBeNull();
  });
  it('none from a trusted proxy that sends X-Forwarded-For; unread_header when it sends only Forwarded or X-Real-IP', () => {
    expect(forwardingProblem('127.0.0.1', headers({ 'x-forwarded-for': '1.2.3.4', 'x-real-ip': '1.2.3.4' }), ['127.0.0.1'])).toBeNull();
    expect(forwardingProblem('10.0.0.2', headers({ 'x-forwarded-for': '1.2.3.4' }), 1)).toBeNull();
    expect(forwardingProblem('127.0.0.1', headers({ 'x-real-ip': '1.2.3.4' }), ['127.0.0.1'])).toEqual({ kind: 'unread_header', header: 'x-real-ip', peer: '127.0.0.1' });
  });
  it('the refusal names GITBRIDGE_TRUST_PROXY', () => {
    const err = proxyUntrusted({ kind: 'untrusted_peer', header: 'forwarded', peer: '127.0.0.1' });
    expect(err).toMatchObject({ code: 'GB_PROXY_UNTRUSTED', statusCode: 403, exitCode: 1 });
    expect(err.message).toMatch(/carries Forwarded but came from 127\.0\.0\.1.*GITBRIDGE_TRUST_PROXY/);
  });
});
