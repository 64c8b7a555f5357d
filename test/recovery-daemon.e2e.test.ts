/**
 * Recovery inside gitbridged: the periodic pass and the heartbeat on the
 * daemon's clock (a ManualClock shared with the fake GitHub, so that hours of
 * downtime pass in milliseconds), a real store, the reference MAS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';
import { CALLBACK_SECRET, SECRET, freePort, issueOpened, scrape, startTestDaemon, tempDir, waitFor } from './helpers/index.js';

const HOUR = 3_600_000;
const HOOK = 'orgs/octo/hooks/31';

describe('recovery in the daemon', () => {
  let tmp: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let fake: FakeGitHub;
  let mas: ReferenceMas;
  let daemons: Daemon[];
  let env: Record<string, string>;

  beforeEach(async () => {
    tmp = tempDir();
    clock = new ManualClock(Date.parse('2026-06-01T08:00:00.000Z'));
    fake = await startFakeGitHub({ clock });
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    daemons = [];
    const port = await freePort();
    env = {
      GITBRIDGE_PORT: String(port),
      GITBRIDGE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      GITBRIDGE_MAS_URL: mas.url,
      GITBRIDGE_GITHUB_API_URL: fake.url,
      GITBRIDGE_GITHUB_TOKEN: fake.token,
      GITBRIDGE_RECOVER_HOOKS: HOOK,
      GITBRIDGE_RECOVER_INTERVAL_S: '300',
    };
    fake.addHook(HOOK, { url: `http://127.0.0.1:${port}/webhook`, secret: SECRET });
  });
  afterEach(async () => {
    await fake.idle();
    for (const d of daemons) await d.stop();
    await mas.close();
    await fake.close();
    tmp.cleanup();
  });

  const start = async (extra: Record<string, string> = {}) => {
    const { daemon } = await startTestDaemon(tmp.dir, { ...env, ...extra }, { clock });
    daemons.push(daemon);
    return daemon;
  };
  const completed = (daemon: Daemon, guid: string) =>
    waitFor(async () => (await daemon.store.tasksForDelivery(guid)).find((t) => t.status === 'completed'), 15_000, `a completed task for ${guid}`);

  it('the periodic pass recovers new missing deliveries without any command', async () => {
    const daemon = await start();
    const delivered = await fake.send(HOOK, 'issues', issueOpened(1));
    expect(delivered.statusCode).toBe(202);
    // A network cut: GitHub's attempt never reaches the daemon.
    const lost = await fake.send(HOOK, 'issues', issueOpened(2), { drop: true });
    expect(await daemon.store.getDelivery(lost.guid)).toBeUndefined();

    await clock.advance(10_000); // the first pass, soon after start
    expect((await completed(daemon, lost.guid)).taskType).toBe('triage_issue');

    const lostLater = await fake.send(HOOK, 'issues', issueOpened(3), { drop: true });
    await clock.advance(300_000); // the next pass
    await completed(daemon, lostLater.guid);
    await fake.idle();

    await clock.advance(300_000); // one more: counts the arrival, requests nothing new
    await waitFor(async () => /gitbridge_recovery_passes_total\{outcome="success"\} 3/.test(await scrape(daemon.url)), 10_000, 'a third pass');
    const metrics = await scrape(daemon.url);
    expect(metrics).toMatch(/gitbridge_recovery_redeliveries_total\{outcome="requested"\} 2\n/);
    expect(metrics).toMatch(/gitbridge_recovery_redeliveries_arrived_total 2\n/);
    expect(metrics).toMatch(/gitbridge_recovery_missing_total\{reason="failed"\} 2\n/);
    expect(fake.redeliveryRequests()).toEqual([lost.id, lostLater.id]);
  }, 60_000);

  it('a daemon stopped for a while and started again recovers what GitHub sent in between, reaching back to its last sign of life', async () => {
    // One hour of look-back without a checkpoint: not enough on its own for five hours of downtime.
    const first = await start({ GITBRIDGE_RECOVER_LOOKBACK_S: '3600' });
    const before = await fake.send(HOOK, 'issues', issueOpened(10));
    expect(before.statusCode).toBe(202);
    await first.stop(); // before its first pass: no checkpoint, only the heartbeat
    daemons = [];

    const sentWhileDown = [];
    for (const hours of [1, 2, 2]) {
      await clock.advance(hours * HOUR);
      sentWhileDown.push(await fake.send(HOOK, 'issues', issueOpened(11 + sentWhileDown.length)));
    }
    expect(sentWhileDown.map((a) => a.statusCode)).toEqual([0, 0, 0]);

    const second = await start({ GITBRIDGE_RECOVER_LOOKBACK_S: '3600' });
    await clock.advance(10_000);
    for (const a of sentWhileDown) await completed(second, a.guid);
    expect(fake.redeliveryRequests().sort()).toEqual(sentWhileDown.map((a) => a.id).sort());
    // The one delivered before the stop was stored then and is not asked for.
    expect((await second.store.tasksForDelivery(before.guid))).toHaveLength(1);
    const log = readFileSync(join(tmp.dir, 'logs', 'webhook.log'), 'utf8');
    expect(log).toMatch(/"msg":"recovery: periodic pass on"/);
  }, 60_000);
});
