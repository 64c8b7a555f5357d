import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, freePort, postDelivery, startCallbackDaemon, startRecorder, startTestDaemon, tempDir, waitFor, type Recorder } from './helpers/index.js';

const seed = readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) => execa('node', ['bin/gitbridge', ...args], { reject: false, env: { GITBRIDGE_ADMIN_TOKEN: '', ...env } });

/** What a group of replay tests runs against; `stop` ends every part and removes the directories. */
interface ReplayScene {
  readonly mas: ReferenceMas;
  /** Has the admin token `admin-token` and has processed the seed's delivery. */
  readonly daemon: Daemon;
  readonly second: Daemon;
  /** The daemon's directory (data/, logs/). */
  readonly dir: string;
  readonly deliveryId: string;
  stop(): Promise<void>;
}

/** Starts the reference MAS, a daemon (with `env`) that receives the seed's delivery, and a second daemon (with `secondEnv`); resolves once `processed` does. */
async function startReplayScene(env: Record<string, string>, secondEnv: Record<string, string>, processed: (daemon: Daemon, deliveryId: string) => Promise<unknown>): Promise<ReplayScene> {
  const dirs = [tempDir(), tempDir()] as const;
  const mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
  const { daemon } = await startCallbackDaemon(dirs[0].dir, { GITBRIDGE_MAS_URL: mas.url, GITBRIDGE_ADMIN_TOKEN: 'admin-token', ...env });
  const { daemon: second } = await startTestDaemon(dirs[1].dir, secondEnv);
  const deliveryId = (await postDelivery(daemon.url, 'pull_request', seed)).deliveryId;
  await processed(daemon, deliveryId);
  return {
    mas, daemon, second, deliveryId, dir: dirs[0].dir,
    async stop() {
      await daemon.stop();
      await second.stop();
      await mas.close();
      for (const d of dirs) d.cleanup();
    },
  };
}

describe('gitbridge replay', () => {
  let scene: ReplayScene;
  let mas: ReferenceMas;
  let daemon: Daemon;
  let target: Daemon;
  let deliveryId: string;

  beforeAll(async () => {
    scene = await startReplayScene({}, { GITBRIDGE_WEBHOOK_SECRET: 'target-secret' }, (d, id) =>
      waitFor(async () => (await d.store.tasksForDelivery(id))[0]?.status === 'completed', 10_000, 'first task completed'));
    ({ mas, daemon, second: target, deliveryId } = scene);
  });
  afterAll(() => scene.stop());

  it('re-runs a stored delivery through the daemon: new tasks, linked to the original, in the security log', async () => {
    const r = await cli(['replay', deliveryId, '--url', daemon.url, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: number; body: Record<string, unknown> };
    expect(out.status).toBe(202);
    expect(out.body).toEqual({ delivery_id: `${deliveryId}:replay:1`, replay_of: deliveryId, status: 'accepted', notify: false });
    const replay = (await daemon.store.getDelivery(`${deliveryId}:replay:1`))!;
    expect(replay.replayOf).toBe(deliveryId);
    expect((await daemon.store.getDeliveryBody(`${deliveryId}:replay:1`))!.equals(seed)).toBe(true);
    const task = await waitFor(async () => (await daemon.store.tasksForDelivery(`${deliveryId}:replay:1`))[0]?.taskId, 10_000, 'replayed task accepted');
    // The MAS now holds two tasks for the event: the original and the replay.
    expect(mas.tasks.filter((t) => t.delivery_id?.startsWith(deliveryId)).map((t) => t.task_id)).toContain(task);
    expect(mas.tasks.filter((t) => t.delivery_id?.startsWith(deliveryId))).toHaveLength(2);
    const security = readFileSync(`${scene.dir}/logs/security.log`, 'utf8');
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
    expect(bad.stderr).toContain('the daemon refused the admin token');
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

  it('replays a delivery whose id is as long as a delivery id may be (128 characters), and replays its replay', async () => {
    const long = `r${'a:b-c_d.'.repeat(15)}${'e'.repeat(7)}`;
    expect(long).toHaveLength(128);
    expect((await postDelivery(daemon.url, 'push', '{}', { deliveryId: long })).status).toBe(202);
    let id = long;
    for (const n of [1, 2]) {
      const res = await request(`${daemon.url}/admin/replay/${encodeURIComponent(id)}`, { method: 'POST', headers: { authorization: 'Bearer admin-token' } });
      const body = (await res.body.json()) as { delivery_id: string; replay_of: string };
      expect(res.statusCode, JSON.stringify(body)).toBe(202);
      expect(body).toMatchObject({ delivery_id: `${id}:replay:1`, replay_of: id });
      expect((await daemon.store.getDelivery(body.delivery_id))?.replayOf, `replay ${n}`).toBe(id);
      id = body.delivery_id;
    }
  });

  it('--to re-sends the exact bytes with the original headers, signed for the target and marked as a replay', async () => {
    const dry = await cli(['replay', deliveryId, '--to', `${target.url}/webhook`, '--secret', 'target-secret', '--data-dir', `${scene.dir}/data`, '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('x-github-event: pull_request');
    expect(dry.stdout).not.toMatch(/sha256=[0-9a-f]{64}/);
    expect(await target.store.getDelivery(deliveryId)).toBeUndefined();

    // The prefix the log view shows is enough here too: the CLI resolves it in the store.
    const r = await cli(['replay', deliveryId.slice(0, 8), '--to', `${target.url}/webhook`, '--secret', 'target-secret', '--data-dir', `${scene.dir}/data`]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const row = (await target.store.getDelivery(deliveryId))!;
    expect((await target.store.getDeliveryBody(deliveryId))!.equals(seed)).toBe(true);
    expect(row.headers).toMatchObject({ 'x-github-event': 'pull_request', 'x-github-hook-id': '123456', 'x-gitbridge-replay-of': deliveryId });
  });
});

describe('replay without surprises', () => {
  let scene: ReplayScene;
  let chat: Recorder;
  let daemon: Daemon;
  /** A daemon without an admin token. */
  let adminOff: Daemon;
  let deliveryId: string;
  const chatTexts = () => chat.requests.map((r) => (JSON.parse(r.body.toString()) as { text: string }).text);

  beforeAll(async () => {
    chat = await startRecorder();
    scene = await startReplayScene({ GITBRIDGE_NOTIFY_URL: chat.url, GITBRIDGE_ADMIN_PORT: String(await freePort()) }, {}, () =>
      waitFor(() => chat.requests.length === 1, 10_000, 'the chat message of the delivery'));
    ({ daemon, second: adminOff, deliveryId } = scene);
  });
  afterAll(async () => {
    await scene.stop();
    await chat.close();
  });

  it('makes the tasks again but sends no second chat message; its journal entry is marked as a replay', async () => {
    // No --url: the CLI finds the management listener from GITBRIDGE_ADMIN_PORT, as the daemon has it.
    const r = await cli(['replay', deliveryId, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token', GITBRIDGE_ADMIN_PORT: String(daemon.adminPort) });
    expect(r.exitCode, r.stderr).toBe(0);
    const { body } = JSON.parse(r.stdout) as { body: { delivery_id: string; notify: boolean } };
    expect(body).toMatchObject({ delivery_id: `${deliveryId}:replay:1`, notify: false });
    await waitFor(async () => (await daemon.store.tasksForDelivery(body.delivery_id))[0]?.status === 'completed', 10_000, 'the replayed task completed');
    // Tasks and notifications are written in one transaction: none exists for the replay, so none can be sent.
    expect(await daemon.store.notificationsForDelivery(body.delivery_id)).toEqual([]);
    expect(chatTexts()).toEqual(['New PR: Amazing new feature']);

    const journal = await cli(['journal', 'ls', '--json', '--data-dir', `${scene.dir}/data`]);
    expect((JSON.parse(journal.stdout) as { delivery_id: string; replay_of: string | null }[]).map((j) => [j.delivery_id, j.replay_of])).toEqual([
      [body.delivery_id, deliveryId],
      [deliveryId, null],
    ]);
    const table = await cli(['journal', 'ls', '--data-dir', `${scene.dir}/data`]);
    expect(table.stdout.split('\n')[0]).toContain('REPLAY OF');
    expect(table.stdout.split('\n')[1]).toContain(`${deliveryId.slice(0, 8)}:replay:1  ${deliveryId.slice(0, 8)} `);
    const shown = await cli(['deliveries', 'show', `${deliveryId.slice(0, 8)}:replay:1`, '--json', '--data-dir', `${scene.dir}/data`]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ replay_of: deliveryId, notify: false });
  });

  it('--notify sends the chat message again, marked as a replay', async () => {
    const r = await cli(['replay', deliveryId.slice(0, 8), '--notify', '--url', daemon.adminUrl!, '--json'], { GITBRIDGE_ADMIN_TOKEN: 'admin-token' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { body: { notify: boolean } }).body.notify).toBe(true);
    await waitFor(() => chat.requests.length === 2, 10_000, 'the replay\'s chat message');
    expect(chatTexts()).toEqual(['New PR: Amazing new feature', '[replay] New PR: Amazing new feature']);
    expect((await cli(['replay', deliveryId, '--notify', '--to', 'http://127.0.0.1:9/webhook'])).exitCode).toBe(2);
  });

  it('POST /admin/replay takes notify as ?notify=true or a JSON body, and refuses anything else', async () => {
    const post = async (query: string, body?: string) => {
      const res = await request(`${daemon.adminUrl}/admin/replay/${deliveryId}${query}`, { method: 'POST', headers: { authorization: 'Bearer admin-token', ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body } : {}) });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    expect(await post('', '{"notify": true}')).toMatchObject({ status: 202, body: { notify: true } });
    expect(await post('?notify=0')).toMatchObject({ status: 202, body: { notify: false } });
    expect(await post('?notify=maybe')).toMatchObject({ status: 400, body: { code: 'GB_BAD_REQUEST' } });
    expect(await post('', '{"notify": "yes"}')).toMatchObject({ status: 400, body: { code: 'GB_BAD_REQUEST', message: '"notify" must be true or false' } });
  });

  it('tells the admin API being off from a wrong token, by error code', async () => {
    const disabled = await cli(['replay', deliveryId, '--url', adminOff.url, '--admin-token', 'admin-token', '--json']);
    expect(disabled.exitCode).toBe(1);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ status: 403, body: { code: 'GB_ADMIN_DISABLED' } });
    expect(disabled.stderr).toBe("gitbridge: the daemon's admin API is off: it runs without GITBRIDGE_ADMIN_TOKEN (start it with the same token as here)");
    const wrong = await cli(['replay', deliveryId, '--url', daemon.adminUrl!, '--admin-token', 'wrong', '--json']);
    expect(wrong.exitCode).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ status: 401, body: { code: 'GB_ADMIN_UNAUTHORIZED' } });
    expect(wrong.stderr).toBe('gitbridge: the daemon refused the admin token (is GITBRIDGE_ADMIN_TOKEN the same on both sides?)');
    // The webhook port of a daemon with a management listener does not serve /admin/*, and the CLI says where it is.
    const mainPort = await cli(['replay', deliveryId, '--url', daemon.url, '--admin-token', 'admin-token']);
    expect(mainPort.exitCode).toBe(1);
    expect(mainPort.stderr).toContain('does not serve the admin API: with GITBRIDGE_ADMIN_PORT it is on the management listener');
  });
});
