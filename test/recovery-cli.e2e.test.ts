/**
 * `gitbridge recover` end to end: the built CLI, a real daemon on a real
 * SQLite store, the reference MAS, and the fake GitHub on loopback, which
 * delivers signed requests to the daemon and re-sends the original bytes
 * when asked to redeliver.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { runCli, type CliRun } from '../packages/cli/test/helpers.js';
import { makeApp, startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';
import { CALLBACK_SECRET, SECRET, freePort, issueOpened, startCallbackDaemon, tempDir, waitFor } from './helpers/index.js';

const DAY = 86_400_000;
const REPO_HOOK = 'repos/octo/demo/hooks/21';

interface Report {
  ok: boolean;
  dryRun: boolean;
  arrived: { deliveryId: string }[];
  hooks: { hook: string; pages: number; deliveries: number; stored: number; missing: { guid: string; outcome: string; reason: string | null; requests: number }[]; error: unknown }[];
}

describe('gitbridge recover', () => {
  const tmp = tempDir();
  let mas: ReferenceMas;
  let daemon: Daemon;
  let fake: FakeGitHub;
  let webhookUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url }));
    fake = await startFakeGitHub({ maxPageSize: 4 });
    webhookUrl = `${daemon.url}/webhook`;
    env = {
      GITBRIDGE_DATA_DIR: join(tmp.dir, 'data'),
      GITBRIDGE_LOG_DIR: join(tmp.dir, 'logs'),
      GITBRIDGE_GITHUB_API_URL: fake.url,
      GITBRIDGE_GITHUB_TOKEN: fake.token,
      GITBRIDGE_RECOVER_HOOKS: REPO_HOOK,
    };
  });
  afterAll(async () => {
    await fake?.idle();
    await daemon?.stop();
    await mas?.close();
    await fake?.close();
    tmp.cleanup();
  });

  const recover = async (args: string[] = [], extra: Record<string, string> = {}): Promise<CliRun & { report: Report }> => {
    const run = await runCli(['recover', '--json', ...args], { ...env, ...extra });
    let report = {} as Report;
    try {
      report = JSON.parse(run.stdout) as Report;
    } catch {
      // not JSON: the test says what it expected
    }
    return { ...run, report };
  };
  const completedTask = (guid: string) => waitFor(async () => (await daemon.store.tasksForDelivery(guid)).find((t) => t.status === 'completed'), 15_000, `a completed task for ${guid}`);

  it('one pass over a hook whose list spans pages requests exactly the missing deliveries, once each; they arrive and become tasks; a second pass requests nothing', async () => {
    fake.addHook(REPO_HOOK, { url: webhookUrl, secret: SECRET, contentType: 'form' });
    // Stored: delivered while gitbridged was up.
    const stored = [await fake.send(REPO_HOOK, 'issues', issueOpened(1)), await fake.send(REPO_HOOK, 'issues', issueOpened(2)), await fake.send(REPO_HOOK, 'issues', issueOpened(3))];
    expect(stored.map((a) => a.statusCode)).toEqual([202, 202, 202]);
    // Failed: gitbridged unreachable (a deploy, a network cut).
    fake.hook(REPO_HOOK).url = `http://127.0.0.1:${await freePort()}/webhook`;
    const failed = [await fake.send(REPO_HOOK, 'issues', issueOpened(4)), await fake.send(REPO_HOOK, 'issues', issueOpened(5)), await fake.send(REPO_HOOK, 'issues', issueOpened(6))];
    expect(failed.map((a) => a.statusCode)).toEqual([0, 0, 0]);
    // Failed, then redelivered by hand in GitHub's UI once gitbridged was back.
    const byHand = await fake.send(REPO_HOOK, 'issues', issueOpened(7));
    fake.hook(REPO_HOOK).url = webhookUrl;
    const manual = await fetch(`${fake.url}/${REPO_HOOK}/deliveries/${byHand.id}/attempts`, { method: 'POST', headers: { authorization: `token ${fake.token}` } });
    expect(manual.status).toBe(202);
    await fake.idle();
    // Older than GitHub's window (7 days on GHES): never requested.
    const old = fake.recordPast(REPO_HOOK, { event: 'issues', action: 'opened', deliveredAt: Date.now() - 8 * DAY, statusCode: 0, payload: issueOpened(8) });
    const manualAttempts = fake.redeliveryRequests().length;

    const first = await recover(['--since', '7d']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/page 3/);
    expect(first.stderr).not.toMatch(/no sign of life/);
    const hook = first.report.hooks[0]!;
    expect(hook.pages).toBe(3);
    expect(hook.stored).toBe(4);
    expect(hook.missing.map((m) => m.guid).sort()).toEqual(failed.map((a) => a.guid).sort());
    expect(hook.missing.every((m) => m.outcome === 'requested' && m.reason === 'failed' && m.requests === 1)).toBe(true);
    expect(fake.redeliveryRequests().slice(manualAttempts).sort()).toEqual(failed.map((a) => a.id).sort());
    expect(hook.missing.map((m) => m.guid)).not.toContain(old.guid);

    await fake.idle();
    for (const a of failed) {
      const task = await completedTask(a.guid);
      expect(task.taskType).toBe('triage_issue');
      // The redelivery is the original, byte for byte (form-encoded, signed).
      expect((await daemon.store.getDeliveryBody(a.guid))?.equals(fake.hook(REPO_HOOK).originals.get(a.guid)!.body)).toBe(true);
    }

    const second = await recover();
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.report.hooks[0]!.missing).toEqual([]);
    expect(second.report.arrived.map((r) => r.deliveryId).sort()).toEqual(failed.map((a) => a.guid).sort());
    expect(fake.redeliveryRequests()).toHaveLength(manualAttempts + 3);

    const human = await runCli(['recover'], env);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`hook ${REPO_HOOK}: \\d+ deliveries since`));
    expect(human.stdout).toMatch(/0 redelivery\(ies\) requested/);
  }, 60_000);

  it('`deliveries show` tells a recovered delivery from one that arrived first time', async () => {
    const [recovered] = fake.redeliveryRequests().slice(-1).map((id) => fake.hook(REPO_HOOK).attempts.find((a) => a.id === id)!.guid);
    const firstTime = fake.hook(REPO_HOOK).attempts[0]!.guid;
    const shown = await runCli(['deliveries', 'show', recovered!, '--json'], env);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ recovered: true, recovery: { hook: REPO_HOOK, reason: 'failed', requests: 1, outcome: 'requested' } });
    expect(JSON.parse((await runCli(['deliveries', 'show', firstTime, '--json'], env)).stdout)).toMatchObject({ recovered: false, recovery: null });
    const text = await runCli(['deliveries', 'show', recovered!], env);
    expect(text.stdout).toMatch(new RegExp(`arrived: +recovered: GitHub could not deliver it; redelivery requested through ${REPO_HOOK} 1 time`));
    expect((await runCli(['deliveries', 'show', firstTime], env)).stdout).toMatch(/arrived: +first time/);
  });

  it('--dry-run shows what is missing and requests nothing', async () => {
    fake.hook(REPO_HOOK).url = `http://127.0.0.1:${await freePort()}/webhook`;
    const lost = await fake.send(REPO_HOOK, 'issues', issueOpened(9));
    fake.hook(REPO_HOOK).url = webhookUrl;
    const before = fake.redeliveryRequests().length;
    const dry = await recover(['--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.report).toMatchObject({ dryRun: true, ok: true });
    expect(dry.report.hooks[0]!.missing).toMatchObject([{ guid: lost.guid, outcome: 'would_request' }]);
    expect(fake.redeliveryRequests()).toHaveLength(before);
    const text = await runCli(['recover', '--dry-run'], env);
    expect(text.stdout).toMatch(new RegExp(`${lost.guid} +issues\\.opened .* would request a redelivery \\(dry run\\)`));
    expect(text.stdout).toMatch(/Dry run: nothing was requested/);
  });

  it('the App\'s hook: JWT from the App\'s key; a wrong private key is a clear error with a non-zero exit', async () => {
    fake.addHook('app', { url: webhookUrl, secret: SECRET });
    const lost = await fake.send('app', 'issues', issueOpened(10), { drop: true });
    const keyFile = join(tmp.dir, 'app.pem');
    writeFileSync(keyFile, fake.app.privateKeyPem);
    const appEnv = { GITBRIDGE_RECOVER_HOOKS: 'app', GITBRIDGE_GITHUB_APP_ID: fake.app.id, GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: keyFile };

    const requestedBefore = fake.redeliveryRequests().length;
    const wrongFile = join(tmp.dir, 'other-app.pem');
    const wrongKey = makeApp().privateKeyPem;
    writeFileSync(wrongFile, wrongKey);
    const wrong = await recover([], { ...appEnv, GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: wrongFile });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toMatch(/gitbridge: GET \/app\/hook\/deliveries: GitHub answered 401 \(A JSON web token could not be decoded\)/);
    expect(wrong.stderr).toMatch(/hint: check GITBRIDGE_GITHUB_APP_ID/);
    expect(wrong.stderr + wrong.stdout).not.toContain(wrongKey.split('\n')[1]!);
    expect(fake.redeliveryRequests()).toHaveLength(requestedBefore);
    expect(fake.calls.filter((c) => c.path.startsWith('/app/')).map((c) => c.status)).toEqual([401]);

    const garbage = join(tmp.dir, 'not-a-key.pem');
    writeFileSync(garbage, 'not a key\n');
    const bad = await recover([], { ...appEnv, GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: garbage });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not-a-key\.pem is not a PEM private key/);

    const right = await recover([], appEnv);
    expect(right.exitCode, right.stderr).toBe(0);
    expect(right.report.hooks[0]).toMatchObject({ hook: 'app', missing: [{ guid: lost.guid, outcome: 'requested' }] });
    await fake.idle();
    await completedTask(lost.guid);
  });

  it('refuses to run without hooks or credentials, and a wrong token exits 2', async () => {
    const none = await runCli(['recover'], { ...env, GITBRIDGE_RECOVER_HOOKS: '' });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/no hook to recover/);
    const noToken = await runCli(['recover'], { ...env, GITBRIDGE_GITHUB_TOKEN: '' });
    expect(noToken.exitCode).toBe(2);
    expect(noToken.stderr).toMatch(/repos\/octo\/demo\/hooks\/21 needs GITBRIDGE_GITHUB_TOKEN/);
    const badHook = await runCli(['recover', '--hook', 'repos/octo/hooks/1'], env);
    expect(badHook.exitCode).toBe(2);
    const tooFar = await runCli(['recover', '--since', '8d'], env);
    expect(tooFar.exitCode).toBe(2);
    expect(tooFar.stderr).toMatch(/beyond GitHub's window/);
    const revoked = await runCli(['recover'], { ...env, GITBRIDGE_GITHUB_TOKEN: 'ghp_revoked' });
    expect(revoked.exitCode).toBe(2);
    expect(revoked.stderr).toMatch(/GitHub answered 401 \(Bad credentials\)/);
    expect(revoked.stderr).not.toContain('ghp_revoked');
  });
});
