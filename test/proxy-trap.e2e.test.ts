import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { CALLBACK_SECRET, githubExample, postDelivery, scrape, startTestDaemon, tempDir } from './helpers/index.js';

const push = JSON.stringify(githubExample('push'));

async function withDaemon(env: Record<string, string>, fn: (d: Daemon, dir: string) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const { daemon } = await startTestDaemon(tmp.dir, env);
  try {
    await fn(daemon, tmp.dir);
  } finally {
    await daemon.stop();
    tmp.cleanup();
  }
}

async function call(url: string, method: 'GET' | 'POST', headers: Record<string, string> = {}, body?: string) {
  const res = await request(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (metrics)
  }
  return { status: res.statusCode, json, text };
}

const logLines = (dir: string, file: string) =>
  readFileSync(`${dir}/logs/${file}`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the same-host reverse-proxy trap (no GITBRIDGE_TRUST_PROXY)', () => {
  it('a request from loopback with X-Forwarded-For is refused with GB_PROXY_UNTRUSTED naming GITBRIDGE_TRUST_PROXY; logged loudly once', async () => {
    // The defaults a new user has: allowlist github,loopback, no proxy trust.
    await withDaemon({}, async (daemon, dir) => {
      const refused = await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ statusCode: 403, code: 'GB_PROXY_UNTRUSTED', error: 'Forbidden' });
      expect(String(refused.body.message)).toContain('GITBRIDGE_TRUST_PROXY');
      expect(String(refused.body.message)).toContain('X-Forwarded-For');
      expect(await daemon.store.getDelivery(refused.deliveryId)).toBeUndefined();

      // The other forwarding headers are the same trap.
      for (const headers of [{ forwarded: 'for=203.0.113.9' }, { 'x-real-ip': '203.0.113.9' }] as Record<string, string>[]) {
        const r = await postDelivery(daemon.url, 'push', push, { headers });
        expect(r.status, JSON.stringify(headers)).toBe(403);
        expect(r.body.code).toBe('GB_PROXY_UNTRUSTED');
      }
      // Without forwarding headers, loopback is loopback (local testing keeps working).
      expect((await postDelivery(daemon.url, 'push', push)).status).toBe(202);

      const loud = logLines(dir, 'webhook.log').filter((l) => l.kind === 'proxy_untrusted');
      expect(loud).toHaveLength(1);
      expect(loud[0]).toMatchObject({ level: 50, code: 'GB_PROXY_UNTRUSTED', header: 'x-forwarded-for', ip: '127.0.0.1', route: '/webhook' });
      expect(String(loud[0]!.msg)).toContain('GITBRIDGE_TRUST_PROXY');
      const security = logLines(dir, 'security.log').filter((l) => l.kind === 'proxy_untrusted');
      expect(security.map((l) => l.level)).toEqual([50, 40, 40]);
      expect(await scrape(daemon.url)).toMatch(/gitbridge_webhook_rejections_total\{reason="proxy"\} 3/);
    });
  });

  it('every route refuses a proxied request: /mas/callback, /admin/*, /metrics, /healthz', async () => {
    await withDaemon({ GITBRIDGE_ADMIN_TOKEN: 'admin-token' }, async (daemon) => {
      const xff = { 'x-forwarded-for': '203.0.113.9' };
      const body = JSON.stringify({ task_id: 'x', status: 'running' });
      const results = await Promise.all([
        call(`${daemon.url}/mas/callback`, 'POST', { ...xff, 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, body) }, body),
        call(`${daemon.url}/admin/replay/whatever`, 'POST', { ...xff, authorization: 'Bearer admin-token' }),
        call(`${daemon.url}/metrics`, 'GET', xff),
        call(`${daemon.url}/healthz`, 'GET', xff),
      ]);
      for (const r of results) expect(r).toMatchObject({ status: 403, json: { code: 'GB_PROXY_UNTRUSTED' } });
      expect((await call(`${daemon.url}/healthz`, 'GET')).status).toBe(200);
    });
  });
});

describe('with GITBRIDGE_TRUST_PROXY=127.0.0.1', () => {
  it('a request through the proxy is judged by the forwarded address', async () => {
    await withDaemon({ GITBRIDGE_TRUST_PROXY: '127.0.0.1', GITBRIDGE_IP_ALLOWLIST: 'github,loopback' }, async (daemon) => {
      const fromGitHub = await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '140.82.112.5' } });
      expect(fromGitHub.status).toBe(202);
      expect((await daemon.store.getDelivery(fromGitHub.deliveryId))!.sourceIp).toBe('140.82.112.5');
      const elsewhere = await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.body).toMatchObject({ code: 'GB_WEBHOOK_FORBIDDEN_ADDRESS', message: 'Source address 203.0.113.9 is not allowed' });
      // A trusted proxy that says who its client was only in X-Real-IP would make every request loopback again.
      const realIpOnly = await postDelivery(daemon.url, 'push', push, { headers: { 'x-real-ip': '140.82.112.5' } });
      expect(realIpOnly.status).toBe(403);
      expect(realIpOnly.body.code).toBe('GB_PROXY_UNTRUSTED');
      expect(String(realIpOnly.body.message)).toContain('without X-Forwarded-For');
    });
  });
});

describe('the management listener (GITBRIDGE_ADMIN_PORT)', () => {
  it('serves /metrics and /admin/* alone, on 127.0.0.1 by default; the webhook port answers 404 for them', async () => {
    await withDaemon({ GITBRIDGE_ADMIN_PORT: '0', GITBRIDGE_ADMIN_TOKEN: 'admin-token' }, async (daemon) => {
      expect(daemon.adminPort).toBeGreaterThan(0);
      expect(daemon.adminPort).not.toBe(daemon.port);
      expect(daemon.adminUrl).toBe(`http://127.0.0.1:${daemon.adminPort}`);
      expect(daemon.adminApp!.server.address()).toMatchObject({ address: '127.0.0.1' });

      const main = await Promise.all([call(`${daemon.url}/metrics`, 'GET'), call(`${daemon.url}/admin/replay/x`, 'POST', { authorization: 'Bearer admin-token' })]);
      for (const r of main) expect(r).toMatchObject({ status: 404, json: { code: 'GB_NOT_FOUND' } });
      const delivered = await postDelivery(daemon.url, 'push', push);
      expect(delivered.status).toBe(202);
      expect((await call(`${daemon.url}/healthz`, 'GET')).status).toBe(200);

      const metrics = await call(`${daemon.adminUrl}/metrics`, 'GET');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/gitbridge_webhook_events_total\{type="push",action="none",status="accepted"\} 1/);
      const replay = await call(`${daemon.adminUrl}/admin/replay/${delivered.deliveryId}`, 'POST', { authorization: 'Bearer admin-token' });
      expect(replay.status).toBe(202);
      expect(replay.json).toMatchObject({ delivery_id: `${delivered.deliveryId}:replay:1`, replay_of: delivered.deliveryId });
      expect((await call(`${daemon.adminUrl}/webhook`, 'POST', { 'content-type': 'application/json' }, '{}')).status).toBe(404);
      expect((await call(`${daemon.adminUrl}/readyz`, 'GET')).status).toBe(200);
      // The management port is no way around the proxy check either.
      expect((await call(`${daemon.adminUrl}/metrics`, 'GET', { 'x-forwarded-for': '203.0.113.9' })).json.code).toBe('GB_PROXY_UNTRUSTED');
    });
  });

  it('without it, /metrics and /admin/* stay on the webhook port (as before)', async () => {
    await withDaemon({}, async (daemon) => {
      expect(daemon.adminUrl).toBeUndefined();
      expect((await call(`${daemon.url}/metrics`, 'GET')).status).toBe(200);
    });
  });
});
