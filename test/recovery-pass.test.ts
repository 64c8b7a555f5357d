/**
 * The recovery pass (packages/core/src/github/recovery.ts) with the real
 * REST client against the fake GitHub on loopback, a real SQLite store and a
 * ManualClock: what it requests, when it waits, how it meets rate limits.
 * A small receiver stands in for gitbridged's POST /webhook (it stores what
 * it accepts); the end-to-end tests use the real daemon.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock, SqliteStore, createGitHubClient, createLoggers, createMetrics, parseHookPath, runRecoveryPass,
  type GitHubClient, type HookRef, type Loggers, type Metrics, type RecoveryPassOptions, type RecoveryReport,
} from '@gitbridge/core';
import { newDelivery } from '../packages/core/test/store-contract.js';
import { startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';
import { issueOpened, tempDir, waitFor } from './helpers/index.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-06-01T12:00:00.000Z');
const REPO_HOOK = 'repos/octo/demo/hooks/11';

/** A stand-in for gitbridged's POST /webhook: stores what it accepts, or answers 503 while down. */
async function startReceiver(store: SqliteStore): Promise<{ url: string; down: boolean; close(): Promise<void> }> {
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.down) return void res.writeHead(503).end();
      const id = String(req.headers['x-github-delivery']);
      void store.ingest(newDelivery(id, { event: String(req.headers['x-github-event']), body: Buffer.concat(chunks) })).then(() => res.writeHead(202).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  });
}

/** The JSON lines of a log file. */
function logLines(dir: string, file: 'webhook.log' | 'security.log'): Record<string, unknown>[] {
  return readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a recovery pass against the fake GitHub', () => {
  let tmp: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let store: SqliteStore;
  let fake: FakeGitHub;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let client: GitHubClient;
  let metrics: Metrics;
  let loggers: Loggers;
  let hook: HookRef;
  const securityLines = () => logLines(join(tmp.dir, 'logs'), 'security.log');
  const webhookLines = () => logLines(join(tmp.dir, 'logs'), 'webhook.log');

  const pass = (options: Partial<RecoveryPassOptions> = {}): Promise<RecoveryReport> => runRecoveryPass(
    { store, client, clock, log: loggers.log, security: loggers.security, metrics, policy: { apiUrl: fake.url, lookbackMs: 24 * HOUR } },
    { hooks: [hook], ...options },
  );
  const counter = async (name: string, labels = '') => {
    const text = await metrics.registry.metrics();
    const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  beforeEach(async () => {
    tmp = tempDir();
    clock = new ManualClock(T0);
    store = SqliteStore.open(tmp.dir, { clock });
    fake = await startFakeGitHub({ clock, maxPageSize: 3 });
    receiver = await startReceiver(store);
    fake.addHook(REPO_HOOK, { url: receiver.url, secret: 's' });
    client = createGitHubClient({ apiUrl: fake.url, token: fake.token, clock, retryBaseMs: 1 });
    metrics = createMetrics({ defaultMetrics: false });
    loggers = createLoggers({ logDir: join(tmp.dir, 'logs'), level: 'debug', sync: true });
    hook = parseHookPath(REPO_HOOK)!;
  });
  afterEach(async () => {
    await fake.idle();
    await receiver.close();
    await fake.close();
    await store.close();
    loggers.close();
    tmp.cleanup();
  });

  it('requests a missing delivery once, waits for GitHub, asks again only when the redelivery failed too, and gives up after 3 requests', async () => {
    receiver.down = true;
    const failed = await fake.send(REPO_HOOK, 'issues', issueOpened(1));
    expect(failed.statusCode).toBe(503);
    fake.hook(REPO_HOOK).holdRedeliveries = true;

    const first = await pass();
    expect(first.ok).toBe(true);
    expect(first.hooks[0]!.missing).toMatchObject([{ guid: failed.guid, outcome: 'requested', reason: 'failed', requests: 1 }]);
    expect(fake.redeliveryRequests()).toEqual([failed.id]);

    // GitHub has not made its new attempt yet: nothing is asked again, on this node or after a restart.
    await clock.advance(60_000);
    expect((await pass()).hooks[0]!.missing).toMatchObject([{ guid: failed.guid, outcome: 'waiting', requests: 1 }]);
    expect(fake.redeliveryRequests()).toHaveLength(1);

    // The redelivery reached GitBridge while it was still down: a newer failed attempt; ask again.
    await fake.releaseRedeliveries(REPO_HOOK);
    expect((await pass()).hooks[0]!.missing).toMatchObject([{ outcome: 'requested', requests: 2 }]);
    // GitHub never made the attempt (held back) for longer than the settle time: ask again.
    await clock.advance(11 * 60_000);
    expect((await pass()).hooks[0]!.missing).toMatchObject([{ outcome: 'requested', requests: 3 }]);
    await fake.releaseRedeliveries(REPO_HOOK);
    const requestedAttempts = fake.redeliveryRequests();
    expect(requestedAttempts).toHaveLength(3);
    // Each request names the newest attempt GitHub had made.
    expect(requestedAttempts[0]).toBe(failed.id);

    const fourth = await pass();
    expect(fourth.hooks[0]!.missing).toMatchObject([{ outcome: 'gave_up', requests: 3 }]);
    expect(fake.redeliveryRequests()).toHaveLength(3);
    expect(await counter('gitbridge_recovery_redeliveries_total', '{outcome="given_up"}')).toBe(1);
    expect(await counter('gitbridge_recovery_missing_total', '{reason="failed"}')).toBe(1);
    expect(await counter('gitbridge_recovery_redeliveries_total', '{outcome="requested"}')).toBe(3);
    await pass();
    expect(await counter('gitbridge_recovery_redeliveries_total', '{outcome="given_up"}')).toBe(1);
    expect((await store.redeliveryRequests([failed.guid]))[0]).toMatchObject({ requests: 3, outcome: 'given_up' });
  });

  it('a redelivery that arrives is counted once, and the delivery is stored; the next pass asks for nothing', async () => {
    receiver.down = true;
    const a = await fake.send(REPO_HOOK, 'issues', issueOpened(2));
    receiver.down = false;
    const report = await pass();
    expect(report.hooks[0]!.missing.map((m) => [m.guid, m.outcome])).toEqual([[a.guid, 'requested']]);
    await fake.idle();
    expect(await store.getDelivery(a.guid)).toBeDefined();
    const next = await pass();
    expect(next.arrived.map((r) => r.deliveryId)).toEqual([a.guid]);
    expect(next.hooks[0]).toMatchObject({ stored: 1, missing: [] });
    expect(fake.redeliveryRequests()).toHaveLength(1);
    expect(await counter('gitbridge_recovery_redeliveries_arrived_total')).toBe(1);
    expect((await pass()).arrived).toEqual([]);
  });

  it('a secondary rate limit on the first POST is waited out on the clock, then the request is retried', async () => {
    receiver.down = true;
    const a = await fake.send(REPO_HOOK, 'issues', issueOpened(3));
    receiver.down = false;
    fake.secondaryLimitOnNextPosts(1, 60);
    const running = pass();
    // The pass sits on the clock for retry-after (60 s), having made one POST.
    await waitFor(() => fake.calls.some((c) => c.method === 'POST' && c.status === 403) && clock.nextAt() === clock.now() + 60_000, 10_000, 'the pass waiting out the limit');
    expect(fake.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
    await clock.advance(60_000);
    const report = await running;
    expect(fake.calls.filter((c) => c.method === 'POST').map((c) => c.status)).toEqual([403, 202]);
    expect(report.hooks[0]!.missing).toMatchObject([{ guid: a.guid, outcome: 'requested', requests: 1 }]);
    expect(fake.redeliveryRequests()).toEqual([a.id]);
  });

  it('a quota seen spent (x-ratelimit-remaining: 0) is waited out until its reset before the next request', async () => {
    for (let i = 0; i < 5; i++) await fake.send(REPO_HOOK, 'issues', issueOpened(10 + i));
    fake.exhaustQuota(120);
    const running = pass();
    await waitFor(() => clock.nextAt() !== null && clock.nextAt()! >= clock.now() + 120_000, 10_000, 'the pass waiting for the reset');
    expect(fake.calls.filter((c) => c.method === 'GET')).toHaveLength(1);
    await clock.advance(125_000);
    const report = await running;
    expect(report.hooks[0]).toMatchObject({ pages: 2, deliveries: 5, stored: 5, error: null });
    expect(fake.calls.some((c) => c.status === 403)).toBe(false);
  });

  it('a successful attempt GitBridge never stored means something else answered: redelivered, and written to the security log', async () => {
    const elsewhere = fake.recordPast(REPO_HOOK, { event: 'issues', action: 'opened', deliveredAt: T0 - HOUR, statusCode: 200, payload: issueOpened(4) });
    const report = await pass();
    expect(report.hooks[0]!.missing).toMatchObject([{ guid: elsewhere.guid, outcome: 'requested', reason: 'answered_elsewhere' }]);
    expect(securityLines()).toContainEqual(expect.objectContaining({ kind: 'recovery_answered_elsewhere', deliveryId: elsewhere.guid, hook: REPO_HOOK }));
    expect(await counter('gitbridge_recovery_missing_total', '{reason="answered_elsewhere"}')).toBe(1);
  });

  it('stored deliveries are left alone whatever GitHub shows; the ones GitHub counts as failed are late answers, counted once', async () => {
    const ok = await fake.send(REPO_HOOK, 'issues', issueOpened(5));
    // Stored here, but GitBridge answered after GitHub gave up.
    const late = fake.recordPast(REPO_HOOK, { event: 'issues', action: 'opened', deliveredAt: T0 - 2 * HOUR, statusCode: 0 });
    await store.ingest(newDelivery(late.guid));
    const ping = fake.recordPast(REPO_HOOK, { event: 'ping', deliveredAt: T0 - 3 * HOUR, statusCode: 0 });
    const report = await pass();
    expect(report.hooks[0]).toMatchObject({ deliveries: 3, stored: 2, lateAnswers: 1 });
    expect(report.hooks[0]!.missing).toEqual([expect.objectContaining({ guid: ping.guid, outcome: 'skipped_ping' })]);
    expect(fake.redeliveryRequests()).toEqual([]);
    expect(ok.statusCode).toBe(202);
    await clock.advance(5 * 60_000);
    await pass();
    expect(await counter('gitbridge_recovery_late_answers_total')).toBe(1);
  });

  it('looks back from the checkpoint minus the overlap, stops paging once past it, and keeps the checkpoint when GitHub fails', async () => {
    for (let i = 0; i < 7; i++) fake.recordPast(REPO_HOOK, { event: 'issues', action: 'opened', deliveredAt: T0 - 20 * HOUR + i * 60_000, statusCode: 200 });
    for (let i = 0; i < 7; i++) await store.ingest(newDelivery(fake.hook(REPO_HOOK).attempts[i]!.guid));
    const first = await pass();
    expect(first.hooks[0]).toMatchObject({ from: new Date(T0 - 24 * HOUR).toISOString(), deliveries: 7, pages: 3, checkpoint: new Date(T0).toISOString() });

    await clock.advance(HOUR);
    const fresh = await fake.send(REPO_HOOK, 'issues', issueOpened(6));
    const getsBefore = fake.calls.filter((c) => c.method === 'GET').length;
    const second = await pass();
    // From the checkpoint minus 10 minutes: the first page (newest 3) already reaches past it.
    expect(second.hooks[0]).toMatchObject({ from: new Date(T0 - 10 * 60_000).toISOString(), deliveries: 1, stored: 1, pages: 1 });
    expect(fake.calls.filter((c) => c.method === 'GET').length - getsBefore).toBe(1);
    expect(fresh.statusCode).toBe(202);

    client = createGitHubClient({ apiUrl: fake.url, token: 'wrong', clock });
    await clock.advance(HOUR);
    const refused = await pass();
    expect(refused.ok).toBe(false);
    expect(refused.hooks[0]!.error).toMatchObject({ code: 'GB_GITHUB_AUTH_FAILED', message: expect.stringContaining('401') });
    expect(refused.hooks[0]!.error!.message).not.toContain('wrong');
    expect(await store.recoveryCheckpoint(REPO_HOOK)).toBe(new Date(T0 + HOUR).toISOString());
    expect(await counter('gitbridge_recovery_passes_total', '{outcome="failure"}')).toBe(1);
    expect(await counter('gitbridge_recovery_passes_total', '{outcome="success"}')).toBe(2);
  });

  it('without a checkpoint, reaches back to the last sign of life after downtime; beyond GitHub\'s window is a gap, reported once', async () => {
    const old = fake.recordPast(REPO_HOOK, { event: 'issues', action: 'opened', deliveredAt: T0 - 30 * HOUR, statusCode: 0, payload: issueOpened(7) });
    const report = await pass({ lastAlive: new Date(T0 - 40 * HOUR).toISOString() });
    expect(report.hooks[0]).toMatchObject({ from: new Date(T0 - 40 * HOUR - 10 * 60_000).toISOString(), gap: null });
    expect(report.hooks[0]!.missing).toMatchObject([{ guid: old.guid, outcome: 'requested' }]);

    // A checkpoint 8 days old on an API with a 7-day window: the first day cannot be examined any more.
    await store.advanceRecoveryCheckpoint('orgs/octo/hooks/12', new Date(T0 - 8 * 24 * HOUR).toISOString());
    fake.addHook('orgs/octo/hooks/12', { url: receiver.url, secret: 's' });
    hook = parseHookPath('orgs/octo/hooks/12')!;
    const token = client;
    client = createGitHubClient({ apiUrl: fake.url, token: 'revoked', clock });
    expect((await pass()).hooks[0]).toMatchObject({ gap: { start: new Date(T0 - 8 * 24 * HOUR).toISOString() }, error: { code: 'GB_GITHUB_AUTH_FAILED' } });
    client = token;
    const gapped = await pass();
    expect(gapped.hooks[0]!.gap).toEqual({ hook: 'orgs/octo/hooks/12', start: new Date(T0 - 8 * 24 * HOUR).toISOString(), end: new Date(T0 - 7 * 24 * HOUR).toISOString() });
    expect(securityLines()).toContainEqual(expect.objectContaining({ kind: 'recovery_gap', hook: 'orgs/octo/hooks/12', level: 50 }));
    expect(webhookLines()).toContainEqual(expect.objectContaining({ kind: 'recovery_gap', level: 50, start: gapped.hooks[0]!.gap!.start, end: gapped.hooks[0]!.gap!.end }));
    expect(await counter('gitbridge_recovery_gaps_total')).toBe(1);
  });

  it('a dry run requests nothing and writes nothing', async () => {
    receiver.down = true;
    const a = await fake.send(REPO_HOOK, 'issues', issueOpened(8));
    const report = await pass({ dryRun: true });
    expect(report).toMatchObject({ dryRun: true, ok: true });
    expect(report.hooks[0]!.missing).toMatchObject([{ guid: a.guid, outcome: 'would_request' }]);
    expect(fake.redeliveryRequests()).toEqual([]);
    expect(await store.redeliveryRequests([a.guid])).toEqual([]);
    expect(await store.recoveryCheckpoint(REPO_HOOK)).toBeNull();
  });

  it('--since looks back that far instead, and advances no checkpoint it did not cover', async () => {
    await store.advanceRecoveryCheckpoint(REPO_HOOK, new Date(T0 - 5 * HOUR).toISOString());
    const report = await pass({ sinceMs: HOUR });
    expect(report.hooks[0]!.from).toBe(new Date(T0 - HOUR).toISOString());
    expect(await store.recoveryCheckpoint(REPO_HOOK)).toBe(new Date(T0 - 5 * HOUR).toISOString());
    await pass({ sinceMs: 6 * HOUR });
    expect(await store.recoveryCheckpoint(REPO_HOOK)).toBe(new Date(T0).toISOString());
  });

  it('one GUID through two hooks (repository and organization) is requested once', async () => {
    fake.addHook('orgs/octo/hooks/13', { url: receiver.url, secret: 's' });
    receiver.down = true;
    const guid = randomUUID();
    await fake.send(REPO_HOOK, 'issues', issueOpened(9), { guid });
    await fake.send('orgs/octo/hooks/13', 'issues', issueOpened(9), { guid });
    fake.hook(REPO_HOOK).holdRedeliveries = true;
    const report = await pass({ hooks: [hook, parseHookPath('orgs/octo/hooks/13')!] });
    expect(report.hooks.map((h) => h.missing.map((m) => m.outcome))).toEqual([['requested'], ['waiting']]);
    expect(fake.redeliveryRequests()).toHaveLength(1);
  });
});
