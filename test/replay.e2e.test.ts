import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, postDelivery, startCallbackDaemon, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

const seed = readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) => execa('node', ['bin/gitbridge', ...args], { reject: false, env: { GITBRIDGE_ADMIN_TOKEN: '', ...env } });

describe('gitbridge replay', () => {
  const tmp = tempDir();
  const other = tempDir();
  let mas: ReferenceMas;
  let daemon: Daemon;
  let target: Daemon;
  let deliveryId: string;

  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_ADMIN_TOKEN: 'admin-token' }));
    ({ daemon: target } = await startTestDaemon(other.dir, { GITBRIDGE_WEBHOOK_SECRET: 'target-secret' }));
    deliveryId = (await postDelivery(daemon.url, 'pull_request', seed)).deliveryId;
    await waitFor(async () => (await daemon.store.tasksForDelivery(deliveryId))[0]?.status === 'completed', 10_000, 'first task completed');
  });
  afterAll(async () => {
    await daemon.stop();
    await target.stop();
    await mas.close();
    tmp.cleanup();
    other.cleanup();
  });

  it('re-runs a stored delivery through the daemon: new tasks, linked to the original, in the security log', async () => {
    const r = await cli(['replay', deliveryId, '--url', daemon.url, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: number; body: Record<string, unknown> };
    expect(out.status).toBe(202);
    expect(out.body).toEqual({ delivery_id: `${deliveryId}:replay:1`, replay_of: deliveryId, status: 'accepted' });
    const replay = (await daemon.store.getDelivery(`${deliveryId}:replay:1`))!;
    expect(replay.replayOf).toBe(deliveryId);
    expect((await daemon.store.getDeliveryBody(`${deliveryId}:replay:1`))!.equals(seed)).toBe(true);
    const task = await waitFor(async () => (await daemon.store.tasksForDelivery(`${deliveryId}:replay:1`))[0]?.taskId, 10_000, 'replayed task accepted');
    // The MAS now holds two tasks for the event: the original and the replay.
    expect(mas.tasks.filter((t) => t.delivery_id?.startsWith(deliveryId)).map((t) => t.task_id)).toContain(task);
    expect(mas.tasks.filter((t) => t.delivery_id?.startsWith(deliveryId))).toHaveLength(2);
    const security = readFileSync(`${tmp.dir}/logs/security.log`, 'utf8');
    expect(security).toMatch(new RegExp(`"kind":"replay","deliveryId":"${deliveryId}","replayId":"${deliveryId}:replay:1"`));
  });

  it('takes the 8 characters of the delivery id the log view shows; the daemon resolves the prefix', async () => {
    const r = await cli(['replay', deliveryId.slice(0, 8), '--url', daemon.url, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: number; body: { delivery_id: string; replay_of: string } };
    expect(out.status).toBe(202);
    expect(out.body.replay_of).toBe(deliveryId);
    expect(out.body.delivery_id).toMatch(new RegExp(`^${deliveryId}:replay:\\d+$`));
    const tooShort = await cli(['replay', 'abc', '--url', daemon.url, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    expect(JSON.parse(tooShort.stdout)).toMatchObject({ status: 400, body: { code: 'GB_ID_PREFIX_TOO_SHORT' } });
  });

  it('refuses without the admin token, and says when the daemon is not reachable', async () => {
    const bad = await cli(['replay', deliveryId, '--url', daemon.url, '--admin-token', 'wrong']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('GB_ADMIN_UNAUTHORIZED');
    const none = await cli(['replay', deliveryId, '--url', daemon.url]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/admin token is required/);
    const down = await cli(['replay', deliveryId, '--url', 'http://127.0.0.1:9', '--admin-token', 'x']);
    expect(down.exitCode).toBe(3);
    expect(down.stderr).toMatch(/cannot reach .* is gitbridged running/);
    const unknown = await cli(['replay', 'no-such-delivery', '--url', daemon.url, '--admin-token', 'admin-token']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stdout).toContain('GB_DELIVERY_NOT_FOUND');
  });

  it('--to re-sends the exact bytes with the original headers, signed for the target and marked as a replay', async () => {
    const dry = await cli(['replay', deliveryId, '--to', `${target.url}/webhook`, '--secret', 'target-secret', '--data-dir', `${tmp.dir}/data`, '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('x-github-event: pull_request');
    expect(dry.stdout).not.toMatch(/sha256=[0-9a-f]{64}/);
    expect(await target.store.getDelivery(deliveryId)).toBeUndefined();

    // The prefix the log view shows is enough here too: the CLI resolves it in the store.
    const r = await cli(['replay', deliveryId.slice(0, 8), '--to', `${target.url}/webhook`, '--secret', 'target-secret', '--data-dir', `${tmp.dir}/data`]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const row = (await target.store.getDelivery(deliveryId))!;
    expect((await target.store.getDeliveryBody(deliveryId))!.equals(seed)).toBe(true);
    expect(row.headers).toMatchObject({ 'x-github-event': 'pull_request', 'x-github-hook-id': '123456', 'x-gitbridge-replay-of': deliveryId });
  });
});
