import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { loadConfig, sign, type Config, type Store } from '@gitbridge/core';
import { startDaemon, type Daemon, type StartOptions } from '@gitbridge/daemon';

export { tempDir } from './temp-dir.js';

export const SECRET = 'test-webhook-secret';
export const CALLBACK_SECRET = 'test-callback-secret';

const require = createRequire(import.meta.url);

/** One example payload of @octokit/webhooks-examples. */
export interface Example {
  readonly event: string;
  readonly action: string | undefined;
  readonly payload: Record<string, unknown>;
}

/** All 329 real GitHub payloads of @octokit/webhooks-examples (github.com). */
export function githubExamples(): Example[] {
  const entries = require('@octokit/webhooks-examples') as { name: string; examples: Record<string, unknown>[] }[];
  return entries.flatMap((e) => e.examples.map((payload) => ({ event: e.name, action: typeof payload.action === 'string' ? payload.action : undefined, payload })));
}

/** The first example for an event and action. */
export function githubExample(event: string, action?: string): Record<string, unknown> {
  const found = githubExamples().find((e) => e.event === event && (action === undefined || e.action === action));
  if (!found) throw new Error(`no example for ${event}.${action}`);
  return structuredClone(found.payload);
}

/** GitHub's `issues` `opened` example as issue number `n` (a delivery that becomes a `triage_issue` task). */
export function issueOpened(n: number): Record<string, unknown> {
  const example = githubExample('issues', 'opened');
  return { ...example, issue: { ...(example.issue as object), number: n, title: `Issue ${n}` } };
}

/** The README's example delivery (`docs/examples/webhook_post_example.json`: octocat/Hello-World PR #1 opened), read once. */
let prSeed: Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The README's `pull_request` `opened` delivery as PR number `n`, as the JSON
 * text to post: one `review_pull_request` task, an entity of its own per `n`.
 */
export function pullRequestOpened(n: number): string {
  prSeed ??= JSON.parse(readFileSync(new URL('../../docs/examples/webhook_post_example.json', import.meta.url), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.stringify({ ...prSeed, number: n, pull_request: { ...prSeed.pull_request, number: n } });
}

/**
 * Waits until nothing is queued and every task of the store is completed
 * (none queued, pending or running; at least one completed).
 */
export async function allTasksCompleted(store: Pick<Store, 'counts'>, what: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    const c = await store.counts();
    return c.deliveries.queued === 0 && c.tasks.queued + c.tasks.pending + c.tasks.running === 0 && c.tasks.completed > 0;
  }, timeoutMs, what);
}

/** Environment for a test daemon on 127.0.0.1:0 with a temp data and log dir. */
export function testEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GITBRIDGE_PORT: '0',
    GITBRIDGE_HOST: '127.0.0.1',
    GITBRIDGE_WEBHOOK_SECRET: SECRET,
    GITBRIDGE_MAS_CALLBACK_SECRET: CALLBACK_SECRET,
    GITBRIDGE_DATA_DIR: join(dir, 'data'),
    GITBRIDGE_LOG_DIR: join(dir, 'logs'),
    GITBRIDGE_META_REFRESH_S: '0',
    GITBRIDGE_LOG_STDOUT: 'false',
    GITBRIDGE_MAS_URL: 'http://127.0.0.1:9',
    // Stopping a test daemon drains for a quarter of this (100 ms), not the second a load balancer needs.
    GITBRIDGE_SHUTDOWN_GRACE_MS: '400',
    ...extra,
  };
}

/** Starts an in-process daemon on a real port with a real SQLite file. */
export async function startTestDaemon(dir: string, extra: Record<string, string> = {}, options: Omit<StartOptions, 'syncLogs'> = {}): Promise<{ daemon: Daemon; config: Config }> {
  const config = loadConfig({ env: testEnv(dir, extra) });
  const daemon = await startDaemon(config, { syncLogs: true, ...options });
  return { daemon, config };
}

/** Options for {@link postDelivery}. */
export interface PostOptions {
  readonly deliveryId?: string;
  readonly secret?: string | null;
  readonly signature?: string;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

/** Signs `body` (exact bytes) and POSTs it to `<base>/webhook` as GitHub would. */
export async function postDelivery(base: string, event: string, body: string | Buffer, options: PostOptions = {}) {
  const deliveryId = options.deliveryId ?? randomUUID();
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    'x-github-hook-id': '123456',
    'user-agent': 'GitHub-Hookshot/abc1234',
    ...options.headers,
  };
  const secret = options.secret === undefined ? SECRET : options.secret;
  if (options.signature !== undefined) headers['x-hub-signature-256'] = options.signature;
  else if (secret !== null) headers['x-hub-signature-256'] = sign(secret, body);
  const res = await request(`${base}/webhook`, { method: 'POST', headers, body });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.statusCode, headers: res.headers, body: json, text, deliveryId };
}

/** A loopback HTTP peer that records every request (a chat service, a MAS). */
export interface Recorder {
  readonly url: string;
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[];
  status: number;
  close(): Promise<void>;
}

/** Starts a recording HTTP server on 127.0.0.1:0 answering `status` (default 200). */
export async function startRecorder(): Promise<Recorder> {
  const rec = { requests: [] as Recorder['requests'], status: 200 } as Recorder & { server: Server };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rec.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(rec.status, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  Object.assign(rec, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
  return rec;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Reads the Prometheus text of a daemon. */
export async function scrape(base: string): Promise<string> {
  const res = await request(`${base}/metrics`);
  return res.body.text();
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Starts a test daemon whose GITBRIDGE_PUBLIC_URL points at itself, so MAS callbacks reach it. */
export async function startCallbackDaemon(dir: string, extra: Record<string, string> = {}, options: Omit<StartOptions, 'syncLogs'> = {}): Promise<{ daemon: Daemon; config: Config }> {
  const port = await freePort();
  return startTestDaemon(dir, { GITBRIDGE_PORT: String(port), GITBRIDGE_PUBLIC_URL: `http://127.0.0.1:${port}`, ...extra }, options);
}
