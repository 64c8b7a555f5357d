import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, PostgresStore, SqliteStore } from '@gitbridge/core';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/postgres.js';
import { startTestDaemon, tempDir as testTempDir } from '../../../test/helpers/index.js';
import { D1, D2, D3, T0, delivery, draft, populateStore } from './store-fixture.js';
import { runCli, startReceiver, tempDir } from './helpers.js';

/**
 * The store commands against the PostgreSQL store (GITBRIDGE_DATABASE_URL or
 * --database-url): the same content as store-commands.test.ts, read by the
 * same commands, from a database a daemon on any node writes to.
 */
let db: TestDatabase;
let ids: { reviewId: string; triageId: string; deployId: string };
const env = () => ({ GITBRIDGE_DATABASE_URL: db.url });

beforeAll(async () => {
  db = await createTestDatabase('gitbridge_cli');
  const store = await PostgresStore.open(db.url, { poolMax: 2 });
  try {
    ids = await populateStore(store, async () => undefined);
  } finally {
    await store.close();
  }
});
afterAll(async () => {
  await db?.drop();
});

describe('store commands on PostgreSQL', () => {
  it('tasks ls lists every task newest first, filters, and reads --database-url as well as the environment', async () => {
    const [fromEnv, fromFlag, dead] = await Promise.all([
      runCli(['tasks', 'ls', '--json'], env()),
      runCli(['tasks', 'ls', '--json', '--database-url', db.url]),
      runCli(['tasks', 'ls', '--json', '--status', 'dead'], env()),
    ]);
    expect(fromEnv.exitCode).toBe(0);
    const tasks = JSON.parse(fromEnv.stdout) as Record<string, unknown>[];
    expect(tasks.map((t) => t.task_type)).toEqual(['notify_team', 'triage_issue', 'review_pull_request']);
    expect(tasks.find((t) => t.id === ids.reviewId)).toMatchObject({ task_id: 'mas_task_8842', status: 'pending', github_event_id: D1, attempts: 1 });
    expect(JSON.parse(fromFlag.stdout)).toEqual(tasks);
    expect((JSON.parse(dead.stdout) as { id: string }[]).map((t) => t.id)).toEqual([ids.triageId]);
  });

  it('tasks show by either id; tasks retry writes through the database', async () => {
    const show = await runCli(['tasks', 'show', 'mas_task_8842', '--json'], env());
    expect(show.exitCode).toBe(0);
    expect((JSON.parse(show.stdout) as { history: { to: string }[] }).history.map((h) => h.to)).toEqual(['queued', 'pending']);
    const retry = await runCli(['tasks', 'retry', ids.triageId], env());
    expect(retry.exitCode).toBe(0);
    const store = await PostgresStore.open(db.url, { access: 'read', poolMax: 1 });
    try {
      expect(await store.getTask(ids.triageId)).toMatchObject({ status: 'queued', attempts: 0 });
    } finally {
      await store.close();
    }
  });

  it('deliveries ls and show, without signatures', async () => {
    const [ls, show] = await Promise.all([runCli(['deliveries', 'ls', '--json'], env()), runCli(['deliveries', 'show', D2, '--json'], env())]);
    expect((JSON.parse(ls.stdout) as { delivery_id: string }[]).map((d) => d.delivery_id)).toEqual([D3, D2, D1]);
    const d = JSON.parse(show.stdout) as Record<string, any>;
    expect(d).toMatchObject({ delivery_id: D2, event: 'issues', state: 'processed', outcome: 'tasks', size: Buffer.byteLength('{"action":"opened","issue":{"number":7}}') });
    expect(show.stdout).not.toContain('deadbeef');
  });

  it('replay --to sends the stored body byte-identical; replay through a daemon on the same database stores <id>:replay:1', async () => {
    const receiver = await startReceiver('target-secret');
    try {
      const run = await runCli(['replay', D1, '--to', receiver.url, '--secret', 'target-secret'], env());
      expect(run.exitCode).toBe(0);
      expect(receiver.received[0]!.raw.toString()).toBe('{"action":"opened","number":1}');
      expect(receiver.received[0]!.signatureOk).toBe(true);
    } finally {
      await receiver.close();
    }
    const t = testTempDir();
    const { daemon } = await startTestDaemon(t.dir, { GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    try {
      const run = await runCli(['replay', D1, '--url', daemon.url, '--admin-token', 'admin-token', '--json'], env());
      expect(run.exitCode).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ status: 202, body: { delivery_id: `${D1}:replay:1`, replay_of: D1 } });
      const shown = await runCli(['deliveries', 'show', `${D1}:replay:1`, '--json'], env());
      expect(JSON.parse(shown.stdout)).toMatchObject({ delivery_id: `${D1}:replay:1`, replay_of: D1 });
    } finally {
      await daemon.stop(200);
      t.cleanup();
    }
  });

  it('a database without a GitBridge schema exits 4 and is left as it was; a password never shows', async () => {
    const empty = await createTestDatabase('gitbridge_cli_empty');
    try {
      const url = new URL(empty.url);
      url.password = 'hunter2-secret';
      const run = await runCli(['tasks', 'ls'], { GITBRIDGE_DATABASE_URL: url.toString() });
      expect(run.exitCode).toBe(4);
      expect(run.stderr).toContain('is not a GitBridge store');
      expect(run.stderr).not.toContain('hunter2');
      expect(await empty.query(`SELECT to_regclass('schema_migrations') AS t`)).toEqual([{ t: null }]);
      const bad = await runCli(['tasks', 'ls', '--database-url', 'mysql://u:hunter2-secret@h/db']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain('must be a postgres:// URL');
      expect(bad.stderr).not.toContain('hunter2');
    } finally {
      await empty.drop();
    }
  });
});

describe('store copy --to <postgres url>', () => {
  it('copies a SQLite store: bodies byte-identical, tasks, history, notifications, journal; the CLI reads the same; a second run copies nothing', async () => {
    const dir = tempDir('gitbridge-copy-');
    const clock = new ManualClock(T0);
    const sqlite = SqliteStore.open(dir, { clock });
    const body = Buffer.from([0x7b, 0x22, 0xe2, 0x9c, 0x93, 0x22, 0x3a, 0x31, 0x7d, 0x00, 0xff, 0x0a]);
    let local: Awaited<ReturnType<typeof populateStore>>;
    let aliveAt = '';
    try {
      local = await populateStore(sqlite, (ms) => clock.advance(ms));
      // A delivery whose task announces itself in chat: its notification goes with it.
      await sqlite.ingest(delivery('with-notification', 'issues', 'opened', 'o/r', T0, '{}'));
      const [claim] = (await sqlite.claimDeliveries(10, 60_000)).filter((c) => c.item.deliveryId === 'with-notification');
      await sqlite.completeDelivery(claim!, {
        // U+0000, which SQLite keeps and PostgreSQL's text cannot hold: the copy writes U+FFFD instead of stopping.
        drafts: [{ ...draft('triage_issue', 'normal', 'issue-opened'), notify: { channel: '#triage', text: 'New issue \u0000', url: null } }],
        journal: { type: 'issues', action: 'opened', repo: 'o/r', number: 9, timestamp: '2011-01-26T19:01:12Z' },
        repo: 'o/r',
      });
      // A larger store: progress, several batches, and raw bytes that are not UTF-8.
      for (let i = 0; i < 450; i++) {
        await sqlite.ingest({ ...delivery(`bulk-${i}`, 'push', null, 'o/r', T0 + i, '{}'), body });
      }
      // Recovery's state: a delivery already requested from GitHub 3 times, a hook's checkpoint, the last sign of life, a reported gap.
      for (let i = 0; i < 3; i++) {
        await sqlite.reserveRedelivery({ deliveryId: 'never-arrived', hook: 'repos/o/r/hooks/1', githubDeliveryId: 9_000_000_001, event: 'issues', action: 'opened', reason: 'failed' }, 3);
        await sqlite.settleRedelivery('never-arrived', 'requested', null);
      }
      await sqlite.advanceRecoveryCheckpoint('repos/o/r/hooks/1', new Date(T0 + 3_600_000).toISOString());
      await sqlite.recordRecoveryGap({ hook: 'app', start: new Date(T0 - 9 * 86_400_000).toISOString(), end: new Date(T0 - 3 * 86_400_000).toISOString() });
      aliveAt = await sqlite.recordHeartbeat();
    } finally {
      await sqlite.close();
    }
    const target = await createTestDatabase('gitbridge_copy');
    try {
      const first = await runCli(['store', 'copy', '--to', target.url, '--data-dir', dir, '--batch', '100', '--json']);
      expect(first.exitCode, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({
        deliveries: { read: 454, copied: 454, notifications: 1 },
        tasks: { read: 4, copied: 4, history: 6 },
        journal: { read: 3, copied: 3 },
        recovery: { read: 4, copied: 4, updated: 0 },
      });
      expect(first.stderr).toMatch(/copying deliveries: 0\/454 \(0%\)/);
      expect(first.stderr).toMatch(/copying deliveries: 454\/454 \(100%\)/);

      // What the CLI shows is the same from either store.
      for (const args of [['tasks', 'ls', '--json'], ['deliveries', 'ls', '--json', '--limit', '1000'], ['deliveries', 'show', D2, '--json'], ['journal', 'ls', '--json'], ['tasks', 'show', local.reviewId, '--json']]) {
        const [fromSqlite, fromPostgres] = await Promise.all([runCli([...args, '--data-dir', dir]), runCli(args, { GITBRIDGE_DATABASE_URL: target.url })]);
        expect(fromPostgres.stdout, args.join(' ')).toBe(fromSqlite.stdout);
      }
      const pgStore = await PostgresStore.open(target.url, { access: 'read', poolMax: 1 });
      try {
        expect((await pgStore.getDeliveryBody('bulk-7'))?.equals(body)).toBe(true);
        expect((await pgStore.getDeliveryBody(D1))?.toString()).toBe('{"action":"opened","number":1}');
        // The queued task (it was under a lease in SQLite) is due on the new store.
        expect((await pgStore.getTask(local.deployId))?.status).toBe('queued');
        expect((await pgStore.notificationsForDelivery('with-notification')).map((n) => [n.channel, n.text, n.status])).toEqual([['#triage', 'New issue \uFFFD', 'pending']]);
        // Recovery goes on where it was: the requests made, the checkpoint, the last sign of life.
        expect((await pgStore.redeliveryRequests(['never-arrived']))[0]).toMatchObject({ requests: 3, outcome: 'requested', hook: 'repos/o/r/hooks/1', githubDeliveryId: 9_000_000_001 });
        expect(await pgStore.recoveryCheckpoint('repos/o/r/hooks/1')).toBe(new Date(T0 + 3_600_000).toISOString());
        expect(await pgStore.lastHeartbeat()).toBe(aliveAt);
      } finally {
        await pgStore.close();
      }
      // No fourth request, and the gap is not reported again (neither call changes anything).
      const writer = await PostgresStore.open(target.url, { access: 'write', poolMax: 1 });
      try {
        expect(await writer.reserveRedelivery({ deliveryId: 'never-arrived', hook: 'repos/o/r/hooks/1', githubDeliveryId: 9_000_000_001, event: 'issues', action: 'opened', reason: 'failed' }, 3)).toBeNull();
        expect(await writer.recordRecoveryGap({ hook: 'app', start: new Date(T0 - 9 * 86_400_000).toISOString(), end: new Date(T0 - 3 * 86_400_000).toISOString() })).toBe(false);
      } finally {
        await writer.close();
      }

      const again = await runCli(['store', 'copy', '--to', target.url, '--data-dir', dir]);
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toMatch(/deliveries\s+454 read\s+0 copied\s+0 updated/);
      expect(again.stdout).toMatch(/tasks\s+4 read\s+0 copied\s+0 updated/);
      expect(again.stdout).toMatch(/journal\s+3 read\s+0 copied/);
      expect(again.stdout).toMatch(/recovery\s+4 read\s+0 copied\s+0 updated/);

      // The old daemon goes on between the two copies (the guide's steps 2 and 3): the review task
      // completes by callback, the queued task is submitted, the notification is sent, a delivery arrives.
      const more = SqliteStore.open(dir, { clock });
      try {
        clock.advance(60_000);
        await more.applyCallback('mas_task_8842', 'completed', { result: { summary: 'LGTM' } });
        const [deploy] = (await more.claimTasks(10, 60_000)).filter((c) => c.item.id === local.deployId);
        await more.markTaskSubmitted(deploy!, 'mas_task_9001');
        const [note] = await more.claimNotifications(10, 60_000);
        await more.settleNotification(note!, 'sent', null, null);
        await more.ingest(delivery('after-first-copy', 'issues', 'opened', 'o/r', T0 + 3 * 3_600_000, '{}'));
        await more.advanceRecoveryCheckpoint('repos/o/r/hooks/1', new Date(T0 + 2 * 3_600_000).toISOString());
        await more.recordHeartbeat();
      } finally {
        await more.close();
      }
      const last = await runCli(['store', 'copy', '--to', target.url, '--data-dir', dir, '--json']);
      expect(last.exitCode, last.stderr).toBe(0);
      expect(JSON.parse(last.stdout)).toMatchObject({
        deliveries: { read: 455, copied: 1, updated: 1 },
        // review completed, deploy submitted, and the other queued task claimed (an attempt) alongside it.
        tasks: { read: 4, copied: 0, updated: 3 },
        // The checkpoint moved on and the old daemon was alive later.
        recovery: { read: 4, copied: 0, updated: 2 },
      });
      for (const args of [['tasks', 'ls', '--json'], ['tasks', 'show', local.reviewId, '--json'], ['tasks', 'show', local.deployId, '--json'], ['deliveries', 'show', 'with-notification', '--json']]) {
        const [fromSqlite, fromPostgres] = await Promise.all([runCli([...args, '--data-dir', dir]), runCli(args, { GITBRIDGE_DATABASE_URL: target.url })]);
        // U+0000 (which SQLite keeps and JSON escapes) is U+FFFD on PostgreSQL.
        expect(fromPostgres.stdout.replaceAll('\uFFFD', '\\u0000'), args.join(' ')).toBe(fromSqlite.stdout);
      }
      const final = await runCli(['store', 'copy', '--to', target.url, '--data-dir', dir]);
      expect(final.stdout).toMatch(/deliveries\s+455 read\s+0 copied\s+0 updated/);
      expect(final.stdout).toMatch(/tasks\s+4 read\s+0 copied\s+0 updated/);
    } finally {
      await target.drop();
    }
  }, 60_000);

  it('refuses a --to that is not a postgres:// URL (exit 2) and a missing SQLite store (exit 4)', async () => {
    const bad = await runCli(['store', 'copy', '--to', 'https://u:hunter2@example.com/db', '--data-dir', tempDir()]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).not.toContain('hunter2');
    const missing = await runCli(['store', 'copy', '--to', 'postgres://127.0.0.1:1/x', '--data-dir', tempDir()]);
    expect(missing.exitCode).toBe(4);
    expect(missing.stderr).toContain('No GitBridge store');
    // store copy takes no --database-url: its hint is about the SQLite side only.
    expect(missing.stderr).toContain('--data-dir');
    expect(missing.stderr).not.toContain('--database-url');
  });
});
