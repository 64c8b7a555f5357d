import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { SECRET, githubExample, postDelivery, scrape, startTestDaemon, tempDir, testEnv, waitFor } from './helpers/index.js';
import { withRawDb } from './helpers/sqlite.js';

const seed = readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url));

async function withDaemon<T>(env: Record<string, string>, fn: (d: Daemon, dir: string) => Promise<T>, options: { redisPrefix?: string } = {}): Promise<T> {
  const tmp = tempDir();
  const { daemon } = await startTestDaemon(tmp.dir, env, options);
  try {
    return await fn(daemon, tmp.dir);
  } finally {
    await daemon.stop();
    tmp.cleanup();
  }
}

describe('POST /webhook rejects bad input with a stable code and stores nothing', () => {
  const tmp = tempDir();
  let daemon: Daemon;
  beforeAll(async () => {
    ({ daemon } = await startTestDaemon(tmp.dir));
  });
  afterAll(async () => {
    await daemon?.stop();
    tmp.cleanup();
  });

  it.each([
    ['absent', null, undefined, 'GB_WEBHOOK_SIGNATURE_MISSING'],
    ['empty', undefined, '', 'GB_WEBHOOK_SIGNATURE_MISSING'],
    ['prefix only', undefined, 'sha256=', 'GB_WEBHOOK_SIGNATURE_MISMATCH'],
    ['too short', undefined, 'sha256=abc', 'GB_WEBHOOK_SIGNATURE_MISMATCH'],
    ['non-hex', undefined, `sha256=${'g'.repeat(64)}`, 'GB_WEBHOOK_SIGNATURE_MISMATCH'],
    ['wrong algorithm', undefined, `sha1=${'a'.repeat(40)}`, 'GB_WEBHOOK_SIGNATURE_MISMATCH'],
    ['signed with another secret', 'not-the-secret', undefined, 'GB_WEBHOOK_SIGNATURE_MISMATCH'],
  ] as const)('signature %s: 401 %s', async (_name, secret, signature, code) => {
    const res = await postDelivery(daemon.url, 'pull_request', seed, { ...(secret !== undefined ? { secret } : {}), ...(signature !== undefined ? { signature } : {}) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ statusCode: 401, code, error: 'Unauthorized' });
    expect(await daemon.store.getDelivery(res.deliveryId)).toBeUndefined();
  });

  it('signature header with non-ASCII bytes or sent twice: 401, never a crash', async () => {
    // Raw socket: undici refuses to send such headers.
    const send = (headerLines: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(daemon.url);
        const s = connect(Number(url.port), url.hostname, () => {
          s.write(`POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: raw-${randomUUID()}\r\n${headerLines}Content-Length: 2\r\nConnection: close\r\n\r\n{}`);
        });
        let out = '';
        s.on('data', (d) => (out += d.toString('latin1')));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
    const twice = await send(`X-Hub-Signature-256: ${sign(SECRET, '{}')}\r\nX-Hub-Signature-256: ${sign(SECRET, '{}')}\r\n`);
    expect(twice).toMatch(/^HTTP\/1.1 401/);
    const nonAscii = Buffer.from(`X-Hub-Signature-256: sha256=\xe9\xff${'a'.repeat(62)}\r\n`, 'latin1').toString('latin1');
    const res = await send(nonAscii);
    expect(res).toMatch(/^HTTP\/1.1 (400|401)/);
    expect((await request(`${daemon.url}/healthz`)).statusCode).toBe(200);
  });

  it('never writes the secret or any signature to a response or a log line', async () => {
    const sig = sign('wrong', seed);
    const res = await postDelivery(daemon.url, 'pull_request', seed, { signature: sig });
    const logs = readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8') + readFileSync(`${tmp.dir}/logs/security.log`, 'utf8');
    for (const secretish of [SECRET, sig, sig.slice(7), sign(SECRET, seed).slice(7)]) {
      expect(res.text).not.toContain(secretish);
      expect(logs).not.toContain(secretish);
    }
    expect(logs).toContain(res.deliveryId);
  });

  it('valid signature over invalid JSON: 400', async () => {
    const res = await postDelivery(daemon.url, 'push', '{"ref": ');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'GB_WEBHOOK_INVALID_PAYLOAD', message: 'Payload is not valid JSON' });
    expect(await daemon.store.getDelivery(res.deliveryId)).toBeUndefined();
  });

  it('missing X-GitHub-Event or X-GitHub-Delivery: 400 naming the header', async () => {
    const res = await request(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-delivery': 'x1', 'x-hub-signature-256': sign(SECRET, '{}') }, body: '{}' });
    expect(res.statusCode).toBe(400);
    expect(await res.body.json()).toMatchObject({ code: 'GB_WEBHOOK_MISSING_HEADER', message: 'Missing header X-GitHub-Event' });
    const res2 = await request(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-GITHUB-EVENT': 'push', 'x-hub-signature-256': sign(SECRET, '{}') }, body: '{}' });
    expect(await res2.body.json()).toMatchObject({ code: 'GB_WEBHOOK_MISSING_HEADER', message: 'Missing header X-GitHub-Delivery' });
  });

  it('unsupported content type: 415 telling the operator to use JSON', async () => {
    const res = await postDelivery(daemon.url, 'push', '{}', { contentType: 'text/plain' });
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ code: 'GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE' });
    expect(String(res.body.message)).toMatch(/application\/json/);
  });

  it('tolerates Content-Type parameters and case', async () => {
    const res = await postDelivery(daemon.url, 'push', JSON.stringify(githubExample('push')), { contentType: 'Application/JSON; charset=UTF-8' });
    expect(res.status).toBe(202);
  });

  it('accepts tolerant payloads: nulls, deleted users, forks, unknown events, new actions, no repository', async () => {
    const pr = githubExample('pull_request', 'opened') as Record<string, any>;
    pr.pull_request.body = null;
    pr.pull_request.milestone = null;
    pr.pull_request.user = null;
    pr.pull_request.head.repo = null;
    pr.sender = null;
    for (const [event, payload] of [
      ['pull_request', pr],
      ['pull_request', { ...pr, action: 'a_brand_new_action' }],
      ['a_brand_new_event', { action: 'created', something: { nested: [1, 2] } }],
      ['organization', { action: 'member_added', organization: { id: 5, login: 'org' } }],
      ['push', { ref: 'refs/heads/main' }],
    ] as const) {
      const res = await postDelivery(daemon.url, event, JSON.stringify(payload));
      expect(res.status, `${event} ${JSON.stringify(res.body)}`).toBe(202);
    }
    await waitFor(async () => (await daemon.store.counts()).deliveries.queued === 0, 5000, 'queue drained');
    expect((await daemon.store.counts()).deliveries.dead).toBe(0);
  });

  it('ten concurrent copies of one delivery id: one stored delivery, one task, the rest 200 duplicate', async () => {
    const id = randomUUID();
    const results = await Promise.all(Array.from({ length: 10 }, () => postDelivery(daemon.url, 'pull_request', seed, { deliveryId: id })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(results.filter((r) => r.body.status === 'duplicate')).toHaveLength(9);
    await waitFor(async () => (await daemon.store.getDelivery(id))?.state !== 'queued', 5000, 'processed');
    expect(await daemon.store.tasksForDelivery(id)).toHaveLength(1);
  });

  it('a burst of 200 deliveries from one repository under the default limit gets no 429', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => postDelivery(daemon.url, 'pull_request', seed)));
    expect(results.filter((r) => r.status !== 202)).toEqual([]);
  });
});

describe('body size and timeouts', () => {
  it('413 over the limit, with and without Content-Length', async () => {
    await withDaemon({ GITBRIDGE_MAX_PAYLOAD_BYTES: '2000' }, async (daemon) => {
      const big = JSON.stringify({ a: 'x'.repeat(5000) });
      const res = await postDelivery(daemon.url, 'push', big);
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ code: 'GB_WEBHOOK_PAYLOAD_TOO_LARGE' });
      // Chunked: no Content-Length; the limit is enforced as bytes arrive.
      async function* chunks() {
        for (let i = 0; i < 10; i++) yield Buffer.from('x'.repeat(1000));
      }
      const chunked = await request(`${daemon.url}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': sign(SECRET, 'x') },
        body: Readable.from(chunks()),
      }).catch((e: Error) => e);
      if (!(chunked instanceof Error)) {
        expect(chunked.statusCode).toBe(413);
        await chunked.body.dump();
      }
      expect(await scrape(daemon.url)).toMatch(/gitbridge_webhook_rejections_total\{reason="size"\} [12]/);
    });
  });

  it('a stalled body is dropped by the read timeout without slowing other deliveries', async () => {
    await withDaemon({ GITBRIDGE_BODY_TIMEOUT_MS: '1000' }, async (daemon) => {
      const url = new URL(daemon.url);
      const stalled = connect(Number(url.port), url.hostname);
      await new Promise((r) => stalled.once('connect', r));
      stalled.write(`POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: stall\r\nContent-Length: 100000\r\n\r\n{"a":`);
      const closed = new Promise<string>((resolve) => {
        let out = '';
        stalled.on('data', (d) => (out += d.toString()));
        stalled.on('close', () => resolve(out));
      });
      let stalledEnded = false;
      void closed.then(() => (stalledEnded = true));
      const ok = await postDelivery(daemon.url, 'push', JSON.stringify(githubExample('push')));
      expect(ok.status).toBe(202);
      // Answered while the stalled request still waits for its body (not after its read timeout).
      expect(stalledEnded).toBe(false);
      const answer = await closed;
      expect(answer === '' || /^HTTP\/1.1 408/.test(answer)).toBe(true);
    });
  });
});

describe('rate limits', () => {
  it('per repository: 429 with Retry-After once the limit is spent; forged requests do not spend it', async () => {
    await withDaemon({ GITBRIDGE_RATE_LIMIT: '2' }, async (daemon, dir) => {
      for (let i = 0; i < 5; i++) expect((await postDelivery(daemon.url, 'pull_request', seed, { secret: 'forged' })).status).toBe(401);
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(202);
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(202);
      const limited = await postDelivery(daemon.url, 'pull_request', seed);
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ code: 'GB_WEBHOOK_RATE_LIMITED' });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3500);
      expect(await daemon.store.getDelivery(limited.deliveryId)).toBeUndefined();
      // Another repository has its own budget.
      const other = JSON.parse(seed.toString()) as Record<string, any>;
      other.repository.id = 42;
      expect((await postDelivery(daemon.url, 'pull_request', JSON.stringify(other))).status).toBe(202);
      const security = readFileSync(`${dir}/logs/security.log`, 'utf8');
      const line = security.split('\n').find((l) => l.includes(limited.deliveryId));
      expect(JSON.parse(line!)).toMatchObject({ kind: 'rate_limited', deliveryId: limited.deliveryId, subject: 'repo_1296269' });
    });
  });

  it('unauthenticated requests are limited per source address', async () => {
    await withDaemon({ GITBRIDGE_RATE_LIMIT_UNAUTHENTICATED: '3' }, async (daemon) => {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await postDelivery(daemon.url, 'push', '{}', { secret: 'forged' })).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    });
  });
});

describe('source addresses', () => {
  it('403 for an address outside the allowlist, counted and logged', async () => {
    await withDaemon({ GITBRIDGE_IP_ALLOWLIST: 'github' }, async (daemon, dir) => {
      const res = await postDelivery(daemon.url, 'push', '{}');
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'GB_WEBHOOK_FORBIDDEN_ADDRESS' });
      expect(await scrape(daemon.url)).toMatch(/gitbridge_webhook_rejections_total\{reason="address"\} 1/);
      expect(readFileSync(`${dir}/logs/security.log`, 'utf8')).toContain('"kind":"address_denied"');
    });
  });

  it('X-Forwarded-For counts only with proxy trust, and then the right-most untrusted hop', async () => {
    const push = JSON.stringify(githubExample('push'));
    await withDaemon({ GITBRIDGE_IP_ALLOWLIST: 'github' }, async (daemon) => {
      const untrusted = await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '140.82.112.5' } });
      expect(untrusted.status).toBe(403);
      expect(untrusted.body.code).toBe('GB_PROXY_UNTRUSTED');
    });
    await withDaemon({ GITBRIDGE_IP_ALLOWLIST: 'github', GITBRIDGE_TRUST_PROXY: '127.0.0.1' }, async (daemon) => {
      expect((await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '140.82.112.5' } })).status).toBe(202);
      // A client forging a GitHub address on the left does not pass.
      expect((await postDelivery(daemon.url, 'push', push, { headers: { 'x-forwarded-for': '140.82.112.5, 8.8.8.8' } })).status).toBe(403);
    });
  });
});

describe('secrets', () => {
  it('rotation: every secret verifies, the slot is counted and logged', async () => {
    await withDaemon({ GITBRIDGE_WEBHOOK_SECRET: `new-secret,${SECRET}` }, async (daemon, dir) => {
      const res = await postDelivery(daemon.url, 'pull_request', seed);
      expect(res.status).toBe(202);
      expect(await scrape(daemon.url)).toMatch(/gitbridge_webhook_signature_slot_total\{slot="1"\} 1/);
      // The security log is written asynchronously: the line follows the 202 shortly.
      const line = new RegExp(`"kind":"secret_slot","slot":1,"deliveryId":"${res.deliveryId}"`);
      await waitFor(() => line.test(readFileSync(`${dir}/logs/security.log`, 'utf8')), 5_000, 'the secret_slot line in the security log');
    });
  });

  it('no secret configured: gitbridged refuses to start with a clear message', async () => {
    const tmp = tempDir();
    const env = testEnv(tmp.dir);
    delete (env as Record<string, string | undefined>).GITBRIDGE_WEBHOOK_SECRET;
    const r = await execa('node', ['bin/gitbridged', 'serve'], { env: { ...env, GITBRIDGE_WEBHOOK_SECRET: '' }, reject: false, timeout: 10_000, extendEnv: false });
    tmp.cleanup();
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/GITBRIDGE_WEBHOOK_SECRET \(--webhook-secret\) is required/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('store failures', () => {
  it('503 when the store cannot commit, and the redelivery is processed once it can', async () => {
    await withDaemon({}, async (daemon, dir) => {
      const id = randomUUID();
      // A trigger in the file (not TEMP: the store's connection is its own), made through another connection.
      withRawDb(`${dir}/data`, (db) => db.exec("CREATE TRIGGER fail_insert BEFORE INSERT ON deliveries BEGIN SELECT RAISE(FAIL, 'disk full (simulated)'); END"));
      const res = await postDelivery(daemon.url, 'pull_request', seed, { deliveryId: id });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'GB_WEBHOOK_STORE_UNAVAILABLE' });
      // Not ready while commits fail (a load balancer stops sending), though a transaction still starts.
      const notReady = await request(`${daemon.url}/readyz`);
      expect(notReady.statusCode).toBe(503);
      // No Redis configured: the check says so rather than "true".
      expect(await notReady.body.json()).toEqual({ status: 'not_ready', checks: { store: false, draining: false, redis: 'not_configured' } });
      withRawDb(`${dir}/data`, (db) => db.exec('DROP TRIGGER fail_insert'));
      const again = await postDelivery(daemon.url, 'pull_request', seed, { deliveryId: id });
      expect(again.status).toBe(202);
      expect((await request(`${daemon.url}/readyz`)).statusCode).toBe(200);
    });
  });
});

describe('Redis rate limiter in the daemon', () => {
  it('shares counters through Redis', async () => {
    const prefix = `gitbridge-test:${randomUUID()}:`;
    await withDaemon({ GITBRIDGE_REDIS_URL: 'redis://127.0.0.1:6379', GITBRIDGE_RATE_LIMIT: '1' }, async (daemon) => {
      await waitFor(async () => (await request(`${daemon.url}/readyz`)).statusCode === 200, 5000, 'redis ready');
      expect(await (await request(`${daemon.url}/readyz`)).body.json()).toEqual({ status: 'ready', checks: { store: true, draining: false, redis: true } });
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(202);
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(429);
    }, { redisPrefix: prefix });
  });

  it('fails open when Redis is down, with a metric', async () => {
    await withDaemon({ GITBRIDGE_REDIS_URL: 'redis://127.0.0.1:1', GITBRIDGE_RATE_LIMIT: '1' }, async (daemon) => {
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(202);
      expect((await postDelivery(daemon.url, 'pull_request', seed)).status).toBe(202);
      expect(await scrape(daemon.url)).toMatch(/gitbridge_rate_limiter_errors_total [1-9]/);
      expect((await request(`${daemon.url}/readyz`)).statusCode).toBe(503);
    });
  });
});
