import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, tempDir, postDelivery, scrape, startCallbackDaemon, pullRequestOpened, waitFor } from './helpers/index.js';
import { withRawDb } from './helpers/sqlite.js';


/**
 * A reference MAS (fast callbacks) and a daemon wired to it, started before
 * the tests of the enclosing describe block and stopped after them; `env`
 * adds daemon settings.
 */
function masAndDaemon(env: Record<string, string>) {
  const tmp = tempDir();
  let mas: ReferenceMas | undefined;
  let daemon: Daemon | undefined;
  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, ...env }));
  });
  afterAll(async () => {
    await daemon?.stop();
    await mas?.close();
    tmp.cleanup();
  });
  return {
    tmp,
    get mas(): ReferenceMas {
      return mas!;
    },
    get daemon(): Daemon {
      return daemon!;
    },
  };
}

describe('processing errors retry from the queue, end dead, and come back on request', () => {
  const ctx = masAndDaemon({ GITBRIDGE_PROCESS_MAX_ATTEMPTS: '2' });
  const tmp = ctx.tmp;
  const cli = (args: string[]) => execa('node', ['bin/gitbridge', ...args, '--data-dir', `${tmp.dir}/data`], { reject: false });


  it('a store error while processing: retried with backoff, then dead; `deliveries retry` brings it back', async () => {
    // The journal insert fails inside the processing transaction (a store error).
    // A trigger in the file (not TEMP: the store's connection is its own), made through another connection.
    withRawDb(`${tmp.dir}/data`, (db) => db.exec("CREATE TRIGGER fail_journal BEFORE INSERT ON journal BEGIN SELECT RAISE(FAIL, 'journal unavailable (simulated)'); END"));
    const res = await postDelivery(ctx.daemon.url, 'pull_request', pullRequestOpened(501));
    expect(res.status).toBe(202);
    const dead = await waitFor(async () => {
      const d = await ctx.daemon.store.getDelivery(res.deliveryId);
      return d?.state === 'dead' ? d : null;
    }, 10_000, 'dead delivery');
    expect(dead.attempts).toBe(2);
    expect(dead.lastError).toMatch(/journal unavailable/);
    // The failed transaction left nothing half-done.
    expect(await ctx.daemon.store.tasksForDelivery(res.deliveryId)).toHaveLength(0);
    expect(await scrape(ctx.daemon.url)).toMatch(/gitbridge_delivery_processing_total\{outcome="dead"\} 1/);
    const log = readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8');
    expect(log).toMatch(new RegExp(`"deliveryId":"${res.deliveryId}".*"dead":true.*processing failed: delivery is dead`));

    withRawDb(`${tmp.dir}/data`, (db) => db.exec('DROP TRIGGER fail_journal'));
    const r = await cli(['deliveries', 'retry', res.deliveryId]);
    expect(r.exitCode, r.stderr).toBe(0);
    const task = await waitFor(async () => (await ctx.daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed'), 10_000, 'task completed');
    expect(task.taskType).toBe('review_pull_request');
    expect((await ctx.daemon.store.getDelivery(res.deliveryId))?.state).toBe('processed');
  });

  it('`tasks retry` resubmits a task the MAS rejected', async () => {
    ctx.mas.failureModes.failNext(1, 422);
    const res = await postDelivery(ctx.daemon.url, 'pull_request', pullRequestOpened(502));
    const failed = await waitFor(async () => (await ctx.daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'failed'), 10_000, 'failed task');
    const refused = await cli(['deliveries', 'retry', res.deliveryId]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/only dead deliveries/);
    const r = await cli(['tasks', 'retry', failed.id]);
    expect(r.exitCode, r.stderr).toBe(0);
    const done = await waitFor(async () => (await ctx.daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed'), 10_000, 'completed after retry');
    expect((await ctx.daemon.store.taskHistory(done.id)).map((h) => `${h.from}->${h.to}@${h.source}`)).toEqual([
      'null->queued@gitbridge',
      'queued->failed@mas',
      'failed->queued@operator',
      'queued->pending@mas',
      'pending->running@mas-callback',
      'running->completed@mas-callback',
    ]);
  });
});

describe('retrying a task the MAS accepted and then failed', () => {
  it('gets a new idempotency key so the MAS runs it again', async () => {
    const tmp = tempDir();
    const mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    const { daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url });
    try {
      const res = await postDelivery(daemon.url, 'pull_request', pullRequestOpened(601));
      const first = await waitFor(async () => (await daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed'), 10_000, 'completed');
      // Stand in for a MAS that finished the task as failed (the reference MAS only completes).
      withRawDb(`${tmp.dir}/data`, (db) => db.prepare(`UPDATE tasks SET status = 'failed' WHERE id = ?`).run(first.id));
      expect((await daemon.store.retryTask(first.id)).outcome).toBe('retried');
      const again = await waitFor(async () => (await daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed' && t.taskId !== first.taskId), 10_000, 'completed again');
      expect(again.idempotencyKey).toBe(`${res.deliveryId}:review_pull_request:retry:1`);
      expect(mas.tasks.filter((t) => t.delivery_id === res.deliveryId)).toHaveLength(2);
    } finally {
      await daemon.stop();
      await mas.close();
      tmp.cleanup();
    }
  });
});

describe('a store failure while recording a MAS answer', () => {
  const ctx = masAndDaemon({ GITBRIDGE_LEASE_MS: '1000' });
  const tmp = ctx.tmp;


  it('neither crashes the daemon nor makes a second task: the lease runs out and the same key is resubmitted', async () => {
    // Recording the MAS's task id fails, and so does recording the retry: only claims (lease, attempts) still write.
    withRawDb(`${tmp.dir}/data`, (db) => db.exec(`CREATE TRIGGER fail_task_record BEFORE UPDATE ON tasks
      WHEN NEW.task_id IS NOT NULL OR NEW.last_error IS NOT NULL BEGIN SELECT RAISE(FAIL, 'tasks unavailable (simulated)'); END`));
    const res = await postDelivery(ctx.daemon.url, 'pull_request', pullRequestOpened(601));
    expect(res.status).toBe(202);
    await waitFor(() => ctx.mas.tasks.find((t) => t.delivery_id === res.deliveryId), 10_000, 'task at the MAS');
    await waitFor(() => (readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8').includes('could not record a MAS submission outcome') ? true : null), 10_000, 'log line');
    expect((await ctx.daemon.store.tasksForDelivery(res.deliveryId))[0]?.status).toBe('queued');

    withRawDb(`${tmp.dir}/data`, (db) => db.exec('DROP TRIGGER fail_task_record'));
    const task = await waitFor(async () => (await ctx.daemon.store.tasksForDelivery(res.deliveryId)).find((t) => t.status === 'completed'), 15_000, 'task completed');
    const atMas = ctx.mas.tasks.filter((t) => t.delivery_id === res.deliveryId);
    expect(atMas).toHaveLength(1);
    expect(task.taskId).toBe(atMas[0]!.task_id);
    expect((await fetch(`${ctx.daemon.url}/healthz`)).status).toBe(200);
  });
});

describe('a worker whose store keeps failing', () => {
  const ctx = masAndDaemon({});
  const tmp = ctx.tmp;


  it('backs off instead of spinning, and picks the work up once the store recovers', async () => {
    // Every claim fails (as on a full disk), while ingest still commits: a claim sets the claim token.
    withRawDb(`${tmp.dir}/data`, (db) => db.exec(`CREATE TRIGGER fail_claims BEFORE UPDATE OF claim_token ON deliveries
      WHEN NEW.claim_token IS NOT NULL BEGIN SELECT RAISE(FAIL, 'database or disk is full (simulated)'); END`));
    const posted = [];
    for (let i = 0; i < 20; i++) {
      posted.push(await postDelivery(ctx.daemon.url, 'pull_request', pullRequestOpened(700 + i))); // every 202 kicks the worker
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(posted.every((r) => r.status === 202)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const failures = readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8').split('\n').filter((l) => l.includes('worker tick failed') && l.includes('"worker":"deliveries"'));
    // 1.5 s of failing claims with 250 ms doubling back-off: a handful of attempts, not one per kick or per turn.
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.length).toBeLessThanOrEqual(5);
    withRawDb(`${tmp.dir}/data`, (db) => db.exec('DROP TRIGGER fail_claims'));
    for (const r of posted) {
      await waitFor(async () => ((await ctx.daemon.store.getDelivery(r.deliveryId))?.state === 'processed' ? true : null), 40_000, 'processed after recovery');
    }
  }, 60_000);
});
