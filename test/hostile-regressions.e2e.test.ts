import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { CALLBACK_SECRET, SECRET, postDelivery, scrape, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

// Regressions for what an adversarial review of the ingress found.
const seed = JSON.parse(readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url), 'utf8')) as Record<string, any>;

function raw(url: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const s = connect(Number(u.port), u.hostname, () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('adversarial regressions', () => {
  const tmp = tempDir();
  let daemon: Daemon;
  beforeAll(async () => {
    ({ daemon } = await startTestDaemon(tmp.dir, { GITBRIDGE_TRUST_PROXY: '127.0.0.1', GITBRIDGE_RATE_LIMIT_UNAUTHENTICATED: '3', GITBRIDGE_IP_ALLOWLIST: 'github,loopback,203.0.113.0/24' }));
  });
  afterAll(async () => {
    await daemon.stop();
    tmp.cleanup();
  });

  it("bad signatures from GitHub's shared hook addresses never lock out correctly signed deliveries", async () => {
    const fromGitHub = { 'x-forwarded-for': '140.82.112.5' };
    for (let i = 0; i < 6; i++) expect((await postDelivery(daemon.url, 'pull_request', JSON.stringify(seed), { secret: 'wrong', headers: fromGitHub })).status).toBe(401);
    expect((await postDelivery(daemon.url, 'pull_request', JSON.stringify(seed), { headers: fromGitHub })).status).toBe(202);
    // Elsewhere the address budget still sheds floods before the body is read.
    const other = { 'x-forwarded-for': '203.0.113.9' };
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await postDelivery(daemon.url, 'push', '{}', { secret: 'wrong', headers: other })).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const security = readFileSync(`${tmp.dir}/logs/security.log`, 'utf8');
    expect(security).toMatch(/"kind":"rate_limited_unauthenticated","ip":"203.0.113.9","deliveryId":"[0-9a-f-]{36}"/);
  });

  it('a delivery with a non-integer repository id neither fails the others committed with it nor is refused', async () => {
    const odd = JSON.stringify({ ...seed, repository: { ...seed.repository, id: 1.5 } });
    const results = await Promise.all([postDelivery(daemon.url, 'pull_request', odd), ...Array.from({ length: 20 }, () => postDelivery(daemon.url, 'pull_request', JSON.stringify(seed)))]);
    expect(results.map((r) => r.status)).toEqual(Array(21).fill(202));
    expect((await daemon.store.getDelivery(results[0]!.deliveryId))?.repoId).toBeNull();
  });

  it('signed action and event text cannot blow up metric label cardinality', async () => {
    const res = await postDelivery(daemon.url, 'zz_unknown', JSON.stringify({ action: `x"\n${'y'.repeat(5000)}` }));
    expect(res.status).toBe(202);
    await waitFor(async () => (await daemon.store.getDelivery(res.deliveryId))?.state === 'ignored', 5000, 'ignored');
    const text = await scrape(daemon.url);
    expect(text).toContain('gitbridge_webhook_events_total{type="zz_unknown",action="other",status="ignored"} 1');
    expect(text).not.toContain('yyyyyyyy');
  });

  it('a deeply nested value in a mapped field does not kill the delivery', async () => {
    const title = `${'['.repeat(20_000)}"deep"${']'.repeat(20_000)}`;
    const body = `{"action":"opened","issue":{"number":7,"title":${title}},"repository":{"id":99,"full_name":"o/r"}}`;
    const res = await postDelivery(daemon.url, 'issues', body);
    expect(res.status).toBe(202);
    const task = await waitFor(async () => (await daemon.store.tasksForDelivery(res.deliveryId))[0], 5000, 'task created');
    expect(task.payload.metadata).toMatchObject({ issue_number: 7, repo: 'o/r' });
  });

  it('replay ids never collide with stored delivery ids', async () => {
    const admin = await startTestDaemon(tempDir().dir, { GITBRIDGE_ADMIN_TOKEN: 'tok' });
    try {
      const base = `collide-${randomUUID()}`;
      expect((await postDelivery(admin.daemon.url, 'push', '{}', { deliveryId: `${base}:replay:1` })).status).toBe(202);
      expect((await postDelivery(admin.daemon.url, 'push', '{}', { deliveryId: base })).status).toBe(202);
      const ids = [];
      for (let i = 0; i < 2; i++) {
        const res = await request(`${admin.daemon.url}/admin/replay/${base}`, { method: 'POST', headers: { authorization: 'Bearer tok' } });
        ids.push(((await res.body.json()) as { delivery_id: string }).delivery_id);
      }
      expect(ids).toEqual([`${base}:replay:2`, `${base}:replay:3`]);
      for (const id of ids) expect((await admin.daemon.store.getDelivery(id))?.replayOf).toBe(base);
    } finally {
      await admin.daemon.stop();
    }
  });

  it('callback bodies over 1 MiB are refused without reading them', async () => {
    const big = JSON.stringify({ task_id: 'x', status: 'running', pad: 'p'.repeat(2 * 1024 * 1024) });
    const res = await request(`${daemon.url}/mas/callback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, big) }, body: big });
    expect(res.statusCode).toBe(413);
    await res.body.dump();
  });

  it('malformed HTTP gets the common error shape', async () => {
    const bad = await raw(daemon.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
    expect(bad).toMatch(/^HTTP\/1.1 400/);
    expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 400, code: 'GB_BAD_REQUEST' });
    const url = await raw(daemon.url, 'GET /%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(url).toMatch(/^HTTP\/1.1 400/);
    expect(url).toContain('"code":"GB_BAD_REQUEST"');
    expect(url).not.toContain('%E0');
  });

  it('requests that Node itself refuses (HTTP/1.1 without Host, an Expect other than 100-continue) get the common error shape', async () => {
    const body = JSON.stringify(seed);
    const headers = `Content-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: ${randomUUID()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`;
    const noHost = await raw(daemon.url, `POST /webhook HTTP/1.1\r\n${headers}\r\n${body}`);
    expect(noHost).toMatch(/^HTTP\/1.1 400/);
    expect(JSON.parse(noHost.slice(noHost.indexOf('\r\n\r\n') + 4))).toEqual({ statusCode: 400, code: 'GB_BAD_REQUEST', error: 'Bad Request', message: 'Missing Host header' });
    const expectation = await raw(daemon.url, `POST /webhook HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n${headers}\r\n${body}`);
    expect(expectation).toMatch(/^HTTP\/1.1 417/);
    expect(JSON.parse(expectation.slice(expectation.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 417, code: 'GB_EXPECTATION_FAILED', error: 'Expectation Failed' });
    // HTTP/1.0 needs no Host, and 100-continue is still honoured.
    const http10 = await raw(daemon.url, `GET /healthz HTTP/1.0\r\n\r\n`);
    expect(http10).toMatch(/^HTTP\/1.1 200/);
    const signed = `X-Hub-Signature-256: ${sign(SECRET, body)}\r\nX-Forwarded-For: 140.82.112.5\r\n`;
    const proceed = await raw(daemon.url, `POST /webhook HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n${signed}${headers}\r\n${body}`);
    expect(proceed).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 202/);
  });

  it('refuses proxy-trust settings that would trust forged X-Forwarded-For, at start-up', () => {
    for (const v of ['any', '*', 'loopback', 'github', '1.2.3.4/99', '-1']) {
      expect(() => loadConfig({ env: { GITBRIDGE_TRUST_PROXY: v, GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' } }), v).toThrow(/GITBRIDGE_TRUST_PROXY/);
    }
  });
});
