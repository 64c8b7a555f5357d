import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import type { Daemon } from '@gitbridge/daemon';
import { CALLBACK_SECRET, githubExample, postDelivery, scrape, startCallbackDaemon, startRecorder, tempDir, waitFor, type Recorder } from './helpers/index.js';

// The seed's example delivery, end to end through every stage of DESIGN §1,
// with real parts: a real port, a real SQLite file, the reference MAS and a
// chat service on loopback.
describe("the seed's example, end to end", () => {
  const tmp = tempDir();
  let mas: ReferenceMas;
  let chat: Recorder;
  let daemon: Daemon;
  const body = readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url));

  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 20, completeAfterMs: 50 });
    chat = await startRecorder();
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_NOTIFY_URL: `${chat.url}/hooks/chat` }));
  });
  afterAll(async () => {
    await daemon?.stop();
    await mas?.close();
    await chat?.close();
    tmp.cleanup();
  });

  let deliveryId: string;

  it('answers 202 with the delivery id', async () => {
    const res = await postDelivery(daemon.url, 'pull_request', body);
    deliveryId = res.deliveryId;
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ delivery_id: deliveryId, status: 'accepted' });
    // Committed before the answer: the row is there now.
    expect((await daemon.store.getDeliveryBody(deliveryId))?.equals(body)).toBe(true);
  });

  it('submits exactly the task of DESIGN §4 to the MAS with the callback URL', async () => {
    const task = await waitFor(() => mas.tasks.find((t) => t.delivery_id === deliveryId), 10_000, 'MAS task');
    expect(task.task_type).toBe('review_pull_request');
    expect(task.payload).toStrictEqual({
      type: 'review_pull_request',
      priority: 'high',
      metadata: { repo: 'octocat/Hello-World', pr_number: 1, title: 'Amazing new feature', author: 'octocat' },
      protocol_version: '2.1',
    });
    expect(task.callback_url).toBe(`http://127.0.0.1:${daemon.port}/mas/callback`);
    expect(task.idempotency_key).toBe(`${deliveryId}:review_pull_request`);
  });

  it('tracks the task with the delivery id and completes it on the MAS callback', async () => {
    const row = await waitFor(async () => (await daemon.store.listTasks()).find((t) => t.deliveryId === deliveryId && t.status === 'completed'), 10_000, 'completed task');
    expect(row.taskId).toBe(mas.tasks.find((t) => t.delivery_id === deliveryId)!.task_id);
    expect(row.repo).toBe('octocat/Hello-World');
    expect((await daemon.store.taskHistory(row.id)).map((h) => [h.from, h.to, h.source])).toEqual([
      [null, 'queued', 'gitbridge'],
      ['queued', 'pending', 'mas'],
      ['pending', 'running', 'mas-callback'],
      ['running', 'completed', 'mas-callback'],
    ]);
  });

  it('shows the task in `gitbridge tasks ls --json` (the built CLI, reading the live store)', async () => {
    const r = await execa('node', ['bin/gitbridge', 'tasks', 'ls', '--json', '--data-dir', `${tmp.dir}/data`], { reject: false });
    expect(r.exitCode).toBe(0);
    const tasks = JSON.parse(r.stdout) as Record<string, unknown>[];
    const mine = tasks.filter((t) => t.github_event_id === deliveryId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'completed', task_type: 'review_pull_request', priority: 'high', repo: 'octocat/Hello-World' });
    expect(mine[0]!.task_id).toEqual(mas.tasks.find((t) => t.delivery_id === deliveryId)!.task_id);
    expect(Date.parse(String(mine[0]!.created_at))).not.toBeNaN();
  });

  it('notifies the chat channel', async () => {
    const req = await waitFor(() => chat.requests.find((r) => r.url === '/hooks/chat'), 10_000, 'chat message');
    expect(req.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(req.body.toString())).toEqual({ channel: '#gitbridge-reviews', text: 'New PR: Amazing new feature', url: 'https://github.com/octocat/Hello-World/pull/1' });
  });

  it('journals the event with its own time', async () => {
    const entry = (await daemon.store.listJournal()).find((j) => j.deliveryId === deliveryId);
    expect(entry).toMatchObject({ type: 'pull_request', repo: 'octocat/Hello-World', number: 1, timestamp: '2011-01-26T19:01:12Z' });
  });

  it('counts it in /metrics', async () => {
    const text = await scrape(daemon.url);
    expect(text).toMatch(/^gitbridge_webhook_events_total\{type="pull_request",action="opened",status="accepted"\} 1$/m);
    expect(text).toMatch(/^gitbridge_webhook_request_duration_seconds_count\{route="\/webhook",status_code="202"\} 1$/m);
    expect(text).toMatch(/^gitbridge_event_queue_depth 0$/m);
    expect(text).toMatch(/^gitbridge_tasks\{status="completed"\} 1$/m);
    expect(text).toMatch(/^gitbridge_mas_submissions_total\{outcome="accepted"\} 1$/m);
    expect(text).toMatch(/^gitbridge_notifications_total\{outcome="sent"\} 1$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('writes JSON logs with the delivery id on every line about the delivery', async () => {
    const lines = readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const about = lines.filter((l) => JSON.stringify(l).includes(deliveryId));
    expect(about.length).toBeGreaterThanOrEqual(4);
    for (const l of about) expect(l.deliveryId).toBe(deliveryId);
    expect(about.map((l) => l.msg)).toEqual(expect.arrayContaining(['delivery accepted', 'delivery turned into tasks', 'task accepted by the MAS', 'task completed']));
  });

  it('acknowledges a duplicate of the delivery with 200 and creates nothing new', async () => {
    const res = await postDelivery(daemon.url, 'pull_request', body, { deliveryId });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ delivery_id: deliveryId, status: 'duplicate' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await daemon.store.tasksForDelivery(deliveryId)).toHaveLength(1);
    expect(mas.tasks.filter((t) => t.delivery_id === deliveryId)).toHaveLength(1);
  });

  it('records why a delivery was ignored, and `gitbridge deliveries show` says it; `deliveries ls` and `journal ls` filter like `tasks ls`', async () => {
    const cli = (...args: string[]) => execa('node', ['bin/gitbridge', ...args, '--data-dir', `${tmp.dir}/data`], { reject: false });
    const green = JSON.stringify({ ...githubExample('check_run', 'completed'), check_run: { ...(githubExample('check_run', 'completed').check_run as object), conclusion: 'success' } });
    const [push, check] = [await postDelivery(daemon.url, 'push', JSON.stringify(githubExample('push'))), await postDelivery(daemon.url, 'check_run', green)];
    await waitFor(async () => (await daemon.store.getDelivery(check.deliveryId))?.state === 'ignored' && (await daemon.store.getDelivery(push.deliveryId))?.state === 'ignored', 10_000, 'both ignored');
    const json = await cli('deliveries', 'show', check.deliveryId.slice(0, 8), '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'ignored',
      ignored_reason: 'rule check-run-failed: condition check_run.conclusion in ["failure","timed_out","startup_failure"] failed (got "success")',
    });
    const text = await cli('deliveries', 'show', push.deliveryId);
    expect(text.stdout).toMatch(/^ignored because:\s+no rule for push$/m);

    const ls = async (...args: string[]) => (JSON.parse((await cli(...args, '--json')).stdout) as { delivery_id: string }[]).map((d) => d.delivery_id).sort();
    expect(await ls('deliveries', 'ls', '--state', 'ignored')).toEqual([push.deliveryId, check.deliveryId].sort());
    expect(await ls('deliveries', 'ls', '--event', 'push')).toEqual([push.deliveryId]);
    expect(await ls('deliveries', 'ls', '--repo', 'octocat/Hello-World', '--event', 'pull_request')).toEqual([deliveryId]);
    expect(await ls('deliveries', 'ls', '--since', '2099-01-01')).toEqual([]);
    expect(await ls('deliveries', 'ls', '--limit', '1')).toHaveLength(1);
    expect(await ls('journal', 'ls', '--type', 'pull_request')).toEqual([deliveryId]);
    expect(await ls('journal', 'ls', '--since', '1h', '--type', 'push')).toEqual([push.deliveryId]);
    expect(await ls('journal', 'ls', '--repo', 'no/such-repo')).toEqual([]);
    expect((await cli('deliveries', 'ls', '--state', 'lost')).exitCode).toBe(2);
  });
});
