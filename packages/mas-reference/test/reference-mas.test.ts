import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { verifySignature } from '@gitbridge/core';
import { startReferenceMas } from '../src/index.js';
import type { ReferenceMas, ReferenceMasOptions } from '../src/index.js';

const SECRET = 'callback-secret-for-tests';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

interface ReceivedCallback {
  raw: Buffer;
  body: { task_id: string; status: string; updated_at: string; result?: Record<string, unknown>; error?: unknown };
  headers: IncomingHttpHeaders;
  signatureOk: boolean;
}

/** A real HTTP callback receiver on loopback that verifies X-MAS-Signature-256. */
interface Receiver {
  url: string;
  received: ReceivedCallback[];
  /** Answer this status to the next `n` callbacks (default answer: 204). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: ReceivedCallback[] = [];
  let failures = 0;
  let failStatus = 404;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const verdict = verifySignature([SECRET], raw, req.headers['x-mas-signature-256']);
      if (failures > 0) {
        failures -= 1;
        res.writeHead(failStatus, { 'content-type': 'application/json' }).end('{"error":"unknown task"}');
        return;
      }
      received.push({ raw, body: JSON.parse(raw.toString('utf8')), headers: req.headers, signatureOk: verdict.ok });
      res.writeHead(verdict.ok ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mas/callback`,
    received,
    failNext(n, status) {
      failures = n;
      failStatus = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function mas(options: Partial<ReferenceMasOptions> = {}): Promise<ReferenceMas> {
  const m = await startReferenceMas({ callbackSecret: SECRET, callbackDelayMs: 10, completeAfterMs: 30, ...options });
  cleanups.push(() => m.close());
  return m;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}

/** A fresh undici agent per test so pooled sockets never leak between tests. */
function agent(): Agent {
  const a = new Agent();
  cleanups.push(() => a.destroy());
  return a;
}

interface PostOptions {
  key?: string | null;
  token?: string;
  body?: unknown;
  rawBody?: string;
  dispatcher?: Agent;
  headersTimeout?: number;
}

async function postTask(base: string, callbackUrl: string, opts: PostOptions = {}) {
  const key = opts.key === undefined ? 'delivery-1:review' : opts.key;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-delivery': 'delivery-1' };
  if (key !== null) headers['idempotency-key'] = key;
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const body =
    opts.rawBody ??
    JSON.stringify(opts.body ?? { task_type: 'review', payload: { pr: 7 }, callback_url: callbackUrl });
  const res = await request(`${base}/tasks`, {
    method: 'POST',
    headers,
    body,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the error code of a raw TCP connect, or 'connected'. */
function tcpProbe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe('startReferenceMas', () => {
  it('requires a callback secret', async () => {
    await expect(startReferenceMas({ callbackSecret: '' })).rejects.toThrow(/callbackSecret is required/);
  });

  it('listens on a real port and answers /healthz', async () => {
    const m = await mas();
    expect(m.port).toBeGreaterThan(0);
    expect(m.url).toBe(`http://127.0.0.1:${m.port}`);
    const res = await request(`${m.url}/healthz`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ status: 'ok' });
  });
});

describe('POST /tasks', () => {
  it('answers 201 for a new key and 200 with the same task_id for a repeat, creating one task', async () => {
    const m = await mas({ callbackDelayMs: 10_000 });
    const first = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ task_id: expect.any(String), status: 'pending' });

    const second = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);

    expect(m.tasks).toHaveLength(1);
    expect(m.tasks[0]).toMatchObject({
      task_id: first.json.task_id,
      task_type: 'review',
      payload: { pr: 7 },
      idempotency_key: 'delivery-1:review',
      delivery_id: 'delivery-1',
      status: 'pending',
    });
    expect(m.submissions.map((s) => s.status_code)).toEqual([201, 200]);

    const list = await request(`${m.url}/tasks`);
    expect(((await list.body.json()) as { tasks: unknown[] }).tasks).toHaveLength(1);
    const one = await request(`${m.url}/tasks/${String(first.json.task_id)}`);
    expect(one.statusCode).toBe(200);
    expect(await one.body.json()).toMatchObject({ task_id: first.json.task_id });
    const missing = await request(`${m.url}/tasks/nope`);
    expect(missing.statusCode).toBe(404);
    await missing.body.dump();
  });

  it('answers 400 without an Idempotency-Key and creates nothing', async () => {
    const m = await mas();
    const res = await postTask(m.url, 'http://127.0.0.1:9/mas/callback', { key: null });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      statusCode: 400,
      code: 'MISSING_IDEMPOTENCY_KEY',
      error: 'Bad Request',
      message: expect.any(String),
    });
    expect(m.tasks).toHaveLength(0);
    expect(m.submissions).toEqual([expect.objectContaining({ idempotency_key: null, status_code: 400, task_id: null })]);
  });

  it('answers 401 for a missing or wrong bearer token when a token is configured', async () => {
    const m = await mas({ token: 's3cret', callbackDelayMs: 10_000 });
    const none = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
    expect(none.status).toBe(401);
    expect(none.json.code).toBe('UNAUTHORIZED');
    const wrong = await postTask(m.url, 'http://127.0.0.1:9/mas/callback', { token: 'nope' });
    expect(wrong.status).toBe(401);
    expect(m.tasks).toHaveLength(0);
    const ok = await postTask(m.url, 'http://127.0.0.1:9/mas/callback', { token: 's3cret' });
    expect(ok.status).toBe(201);
    const list = await request(`${m.url}/tasks`);
    expect(list.statusCode).toBe(401);
    await list.body.dump();
  });

  it('answers 400 for invalid JSON and for an invalid body', async () => {
    const m = await mas();
    const bad = await postTask(m.url, '', { rawBody: '{"task_type": "review",' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ statusCode: 400, code: 'INVALID_JSON', error: 'Bad Request' });

    const noType = await postTask(m.url, '', { body: { payload: {}, callback_url: 'http://127.0.0.1:9/mas/callback' } });
    expect(noType.status).toBe(400);
    expect(noType.json.code).toBe('INVALID_BODY');

    const badUrl = await postTask(m.url, '', { body: { task_type: 'x', payload: {}, callback_url: 'ftp://x/mas/callback' } });
    expect(badUrl.status).toBe(400);

    const arrayPayload = await postTask(m.url, '', { body: { task_type: 'x', payload: [], callback_url: 'http://127.0.0.1:9/' } });
    expect(arrayPayload.status).toBe(400);
    expect(m.tasks).toHaveLength(0);
  });
});

describe('callbacks', () => {
  it('sends running then completed, signed over the raw body', async () => {
    const r = await receiver();
    const m = await mas();
    const { json } = await postTask(m.url, r.url);
    // The receiver records a callback before the MAS has read the answer: wait for both sides.
    await waitFor(() => r.received.length >= 2 && m.callbacks.length >= 2);

    expect(r.received.map((c) => c.body.status)).toEqual(['running', 'completed']);
    for (const c of r.received) {
      expect(c.signatureOk).toBe(true);
      expect(c.headers['x-mas-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(c.headers['content-type']).toBe('application/json');
      expect(c.body.task_id).toBe(json.task_id);
      expect(new Date(c.body.updated_at).toISOString()).toBe(c.body.updated_at);
    }
    expect(r.received[1]?.body.result).toEqual({ summary: 'reference MAS handled review' });
    expect(m.tasks[0]?.status).toBe('completed');
    expect(m.callbacks.map((c) => [c.status, c.status_code])).toEqual([
      ['running', 204],
      ['completed', 204],
    ]);
  });

  it('retries a callback answered 404 with backoff, keeping running before completed', async () => {
    const r = await receiver();
    r.failNext(2, 404);
    const m = await mas({ callbackRetryBaseMs: 20, completeAfterMs: 0 });
    await postTask(m.url, r.url);
    await waitFor(() => r.received.length >= 2 && m.callbacks.length >= 4);

    expect(r.received.map((c) => c.body.status)).toEqual(['running', 'completed']);
    expect(r.received.every((c) => c.signatureOk)).toBe(true);
    expect(m.callbacks.map((c) => [c.status, c.attempt, c.status_code])).toEqual([
      ['running', 1, 404],
      ['running', 2, 404],
      ['running', 3, 204],
      ['completed', 1, 204],
    ]);
  });

  it('retries after a connection error and gives up after callbackMaxAttempts', async () => {
    // Grab a free port, then close it so connections are refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const events: string[] = [];
    const m = await mas({
      callbackRetryBaseMs: 5,
      callbackMaxAttempts: 3,
      completeAfterMs: 10_000,
      onEvent: (e) => {
        if (e.event === 'callback') events.push(`${e.attempt}:${String(e.will_retry)}`);
      },
    });
    await postTask(m.url, `http://127.0.0.1:${port}/mas/callback`);
    await waitFor(() => m.callbacks.length >= 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(m.callbacks).toHaveLength(3);
    expect(m.callbacks.every((c) => c.error?.startsWith('ECONNREFUSED'))).toBe(true);
    expect(events).toEqual(['1:true', '2:true', '3:false']);
  });

  it('close() cancels pending callbacks', async () => {
    const r = await receiver();
    const m = await startReferenceMas({ callbackSecret: SECRET, callbackDelayMs: 100 });
    await postTask(m.url, r.url);
    await m.close();
    await m.close(); // idempotent
    await new Promise((res) => setTimeout(res, 200));
    expect(r.received).toHaveLength(0);
  });
});

describe('failure modes', () => {
  it('failNext answers the status with Retry-After and creates nothing', async () => {
    const m = await mas({ callbackDelayMs: 10_000 });
    m.failureModes.failNext(2, 503, { retryAfterS: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.json).toMatchObject({ statusCode: 503, code: 'INJECTED_FAILURE', error: 'Service Unavailable' });
    }
    expect(m.tasks).toHaveLength(0);
    const ok = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
    expect(ok.status).toBe(201);
    expect(m.submissions.map((s) => s.status_code)).toEqual([503, 503, 201]);
    expect(m.failureModes.state.failNext).toBeNull();
  });

  it('serves the same modes over the HTTP control API', async () => {
    const m = await mas({ callbackDelayMs: 10_000 });
    const ctl = await request(`${m.url}/_control/fail-next`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1, status: 429, retry_after_s: 1 }),
    });
    expect(ctl.statusCode).toBe(200);
    expect(await ctl.body.json()).toMatchObject({ ok: true, state: { failNext: { remaining: 1, status: 429, retryAfterS: 1 } } });
    const res = await postTask(m.url, 'http://127.0.0.1:9/mas/callback');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');

    const bad = await request(`${m.url}/_control/hang`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: -1 }),
    });
    expect(bad.statusCode).toBe(400);
    await bad.body.dump();

    const reset = await request(`${m.url}/_control/reset`, { method: 'POST' });
    expect(reset.statusCode).toBe(200);
    await reset.body.dump();
  });

  it('has no control API when control is false', async () => {
    const m = await mas({ control: false });
    const res = await request(`${m.url}/_control/reset`, { method: 'POST' });
    expect(res.statusCode).toBe(404);
    await res.body.dump();
  });

  it('hang and slow delay the answer', async () => {
    const m = await mas({ callbackDelayMs: 10_000 });
    m.failureModes.hang(150);
    let t0 = Date.now();
    expect((await postTask(m.url, 'http://127.0.0.1:9/mas/callback')).status).toBe(201);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);

    m.failureModes.reset();
    m.failureModes.slow(150);
    t0 = Date.now();
    const health = await request(`${m.url}/healthz`);
    await health.body.dump();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('refuseConnections refuses (ECONNREFUSED) and then accepts again on the same port', async () => {
    const m = await mas({ callbackDelayMs: 10_000 });
    const dispatcher = agent();
    // Warm a keep-alive connection first: it must not keep serving while refusing.
    const warm = await request(`${m.url}/healthz`, { dispatcher });
    await warm.body.dump();

    const back = m.failureModes.refuseConnections(300);
    expect(m.failureModes.state.refusingConnections).toBe(true);
    expect(await tcpProbe(m.port)).toBe('ECONNREFUSED');
    await expect(postTask(m.url, 'http://127.0.0.1:9/mas/callback', { dispatcher })).rejects.toMatchObject({
      code: expect.stringMatching(/ECONNREFUSED|UND_ERR_SOCKET/),
    });

    await back;
    expect(m.failureModes.state.refusingConnections).toBe(false);
    expect(await tcpProbe(m.port)).toBe('connected');
    const ok = await postTask(m.url, 'http://127.0.0.1:9/mas/callback', { dispatcher });
    expect(ok.status).toBe(201);
  });

  it('close() while refusing connections resolves and never listens again', async () => {
    const m = await startReferenceMas({ callbackSecret: SECRET });
    const back = m.failureModes.refuseConnections(100);
    await m.close();
    await back; // resolved by close()
    await new Promise((r) => setTimeout(r, 150));
    expect(await tcpProbe(m.port)).toBe('ECONNREFUSED');
  });

  it('refuse-connections over HTTP answers first, then refuses', async () => {
    const m = await mas();
    const res = await request(`${m.url}/_control/refuse-connections`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 200 }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    await res.body.dump();
    expect(await tcpProbe(m.port)).toBe('ECONNREFUSED');
    await waitFor(() => !m.failureModes.state.refusingConnections);
    expect(await tcpProbe(m.port)).toBe('connected');
  });

  it('acceptThenHang creates the task without answering; after reset the same key returns the same id', async () => {
    const r = await receiver();
    const m = await mas();
    m.failureModes.acceptThenHang();
    await expect(postTask(m.url, r.url, { headersTimeout: 200, dispatcher: agent() })).rejects.toMatchObject({
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(m.tasks).toHaveLength(1);
    const taskId = m.tasks[0]?.task_id;
    expect(m.submissions).toEqual([expect.objectContaining({ status_code: null, task_id: taskId })]);
    // The accepted task still runs and calls back.
    await waitFor(() => r.received.length >= 2);

    m.failureModes.reset();
    const again = await postTask(m.url, r.url);
    expect(again.status).toBe(200);
    expect(again.json.task_id).toBe(taskId);
    expect(m.tasks).toHaveLength(1);
  });

  it('close() does not wait for a request withheld by acceptThenHang', async () => {
    const m = await startReferenceMas({ callbackSecret: SECRET, callbackDelayMs: 10_000 });
    m.failureModes.acceptThenHang();
    const pending = postTask(m.url, 'http://127.0.0.1:9/mas/callback', { dispatcher: agent() });
    await waitFor(() => m.tasks.length === 1);
    await m.close();
    await expect(pending).rejects.toBeDefined();
  });
});
