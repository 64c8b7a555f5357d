import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '@gitbridge/core';
import { closedPort, runCli, startReceiver, tempDir } from './helpers.js';
import type { Receiver } from './helpers.js';

const SECRET = "It's a Secret to Everybody";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const env = { GITBRIDGE_WEBHOOK_SECRET: SECRET };

let rx: Receiver;
beforeAll(async () => {
  rx = await startReceiver(SECRET);
});
afterAll(async () => {
  await rx.close();
});

/** Runs send-test against the receiver and returns the run and the one request it got. */
async function send(args: string[], extraEnv: Record<string, string> = env) {
  const before = rx.received.length;
  const run = await runCli(['send-test', '--url', rx.url, ...args], extraEnv);
  return { run, req: rx.received.length > before ? rx.received[rx.received.length - 1] : undefined };
}

describe('send-test', () => {
  it('sends the example payload with the headers GitHub sends, signed over the exact bytes', async () => {
    const { run, req } = await send(['--event', 'pull_request', '--action', 'opened']);
    expect(run.exitCode).toBe(0);
    expect(req).toBeDefined();
    const h = req!.headers;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/webhook');
    expect(h['x-github-event']).toBe('pull_request');
    expect(h['x-github-delivery']).toMatch(UUID);
    expect(verifySignature([SECRET], req!.raw, h['x-hub-signature-256'])).toEqual({ ok: true, slot: 0 });
    expect(h['content-type']).toBe('application/json');
    expect(h['user-agent']).toMatch(/^GitHub-Hookshot\/[0-9a-f]{7}$/);
    expect(h['x-github-hook-id']).toMatch(/^\d{6,}$/);
    expect(h['x-github-hook-installation-target-type']).toBe('repository');
    const payload = JSON.parse(req!.raw.toString('utf8')) as { action: string; repository: { id: number } };
    expect(payload.action).toBe('opened');
    expect(h['x-github-hook-installation-target-id']).toBe(String(payload.repository.id));
    expect(run.stdout).toContain('202 Accepted');
    expect(run.stdout).toContain(String(h['x-github-delivery']));
  });

  it('--json prints one object {status, delivery_id, event, action, body}', async () => {
    const { run, req } = await send(['--event', 'issues', '--action', 'opened', '--json', '--delivery-id', 'test-delivery-0001']);
    expect(run.exitCode).toBe(0);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['action', 'body', 'delivery_id', 'event', 'status']);
    expect(out).toEqual({ status: 202, delivery_id: 'test-delivery-0001', event: 'issues', action: 'opened', body: { delivery_id: 'test-delivery-0001', status: 'accepted' } });
    expect(req!.headers['x-github-delivery']).toBe('test-delivery-0001');
  });

  it('--form sends payload=<urlencoded json> and signs the form bytes', async () => {
    const { run, req } = await send(['--event', 'push', '--form']);
    expect(run.exitCode).toBe(0);
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req!.raw.toString('utf8')).toMatch(/^payload=/);
    expect(verifySignature([SECRET], req!.raw, req!.headers['x-hub-signature-256']).ok).toBe(true);
    const field = new URLSearchParams(req!.raw.toString('utf8')).get('payload');
    const payload = JSON.parse(field!) as { ref: string; head_commit: unknown };
    expect(typeof payload.ref).toBe('string');
    expect(payload).toHaveProperty('head_commit');
  });

  it('--repo, --sender and --set change the payload (values parsed as JSON when they parse)', async () => {
    const { run, req } = await send([
      '--event', 'pull_request', '--action', 'opened',
      '--repo', 'acme/widgets', '--sender', 'mona',
      '--set', 'pull_request.title=Fix the flux capacitor',
      '--set', 'pull_request.number=4242',
      '--set', 'pull_request.draft=true',
      '--set', 'extra.nested.labels=["a","b"]',
      '--set', 'pull_request.head.ref="123"',
    ]);
    expect(run.exitCode).toBe(0);
    const p = JSON.parse(req!.raw.toString('utf8')) as Record<string, any>;
    expect(p.repository.full_name).toBe('acme/widgets');
    expect(p.repository.name).toBe('widgets');
    expect(p.repository.owner.login).toBe('acme');
    expect(p.sender.login).toBe('mona');
    expect(p.pull_request.title).toBe('Fix the flux capacitor');
    expect(p.pull_request.number).toBe(4242);
    expect(p.pull_request.draft).toBe(true);
    expect(p.pull_request.head.ref).toBe('123');
    expect(p.extra).toEqual({ nested: { labels: ['a', 'b'] } });
    expect(req!.signatureOk).toBe(true);
  });

  it('--payload sends the file byte for byte', async () => {
    const dir = tempDir();
    const file = join(dir, 'captured.json');
    // Odd spacing, key order, unicode and no trailing newline: any re-serialisation would change it.
    const bytes = Buffer.from('{ "zen":"Keep it logically awesome. ✨",\n\t"hook_id" : 424242 ,"action": null }', 'utf8');
    writeFileSync(file, bytes);
    const { run, req } = await send(['--event', 'ping', '--payload', file, '--json']);
    expect(run.exitCode).toBe(0);
    expect(Buffer.compare(req!.raw, bytes)).toBe(0);
    expect(verifySignature([SECRET], req!.raw, req!.headers['x-hub-signature-256']).ok).toBe(true);
    expect(req!.headers['x-github-hook-id']).toBe('424242');
    expect((JSON.parse(run.stdout) as { action: unknown }).action).toBeNull();
  });

  it('refuses --set/--repo/--sender with --payload (exit 2, nothing sent)', async () => {
    const file = join(tempDir(), 'p.json');
    writeFileSync(file, '{}');
    const { run, req } = await send(['--event', 'ping', '--payload', file, '--set', 'a=1', '--repo', 'a/b']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('cannot be combined with --payload');
    expect(req).toBeUndefined();
  });

  it('signs with the first of GITBRIDGE_WEBHOOK_SECRET and defaults the URL to 127.0.0.1:$GITBRIDGE_PORT/webhook', async () => {
    const before = rx.received.length;
    const run = await runCli(['send-test', '--event', 'ping'], { GITBRIDGE_WEBHOOK_SECRET: `${SECRET},older-secret`, GITBRIDGE_PORT: String(rx.port) });
    expect(run.exitCode).toBe(0);
    const req = rx.received[before]!;
    expect(req.url).toBe('/webhook');
    expect(verifySignature([SECRET], req.raw, req.headers['x-hub-signature-256']).ok).toBe(true);
    expect(verifySignature(['older-secret'], req.raw, req.headers['x-hub-signature-256']).ok).toBe(false);
  });

  it('exits 1 on a non-2xx answer and still prints it', async () => {
    const { run, req } = await send(['--event', 'ping', '--secret', 'not-the-secret', '--json']);
    expect(req!.signatureOk).toBe(false);
    expect(run.exitCode).toBe(1);
    const out = JSON.parse(run.stdout) as { status: number; body: { code: string } };
    expect(out.status).toBe(401);
    expect(out.body.code).toBe('GB_WEBHOOK_SIGNATURE_MISMATCH');
  });

  it('exits 3 with a clear message when the daemon is unreachable', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/webhook`;
    const run = await runCli(['send-test', '--event', 'ping', '--url', url], env);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain(`cannot reach ${url}: is gitbridged running?`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    // A password in the URL never shows.
    const withPassword = url.replace('//', '//user:UrlPa55@');
    const again = await runCli(['send-test', '--event', 'ping', '--url', withPassword], env);
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toContain('cannot reach http://user:***@127.0.0.1');
    expect(again.stderr).not.toContain('UrlPa55');
  });

  it('exits 3 when the daemon does not answer within --timeout', async () => {
    rx.hang = true;
    try {
      const { run, req } = await send(['--event', 'ping', '--timeout', '300']);
      expect(req).toBeDefined();
      expect(run.exitCode).toBe(3);
      expect(run.stderr).toContain('no answer from');
    } finally {
      rx.hang = false;
    }
  });

  it('exits 2 without a secret, without a stack trace', async () => {
    const { run, req } = await send(['--event', 'ping'], {});
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('no webhook secret: pass --secret or set GITBRIDGE_WEBHOOK_SECRET');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(req).toBeUndefined();
  });

  it('exits 2 for an unknown action, listing the available ones', async () => {
    const { run, req } = await send(['--event', 'pull_request', '--action', 'teleported']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/available actions: .*opened.*closed/);
    expect(req).toBeUndefined();
  });

  it('a mistyped event or action suggests the closest one', async () => {
    const runs = await Promise.all([
      runCli(['send-test', '--event', 'pull_requests'], env),
      runCli(['send-test', '--event', 'isues', '--list'], env),
      runCli(['send-test', '--event', 'pull_request', '--action', 'opend'], env),
      runCli(['send-test', '--event', 'pull_request', '--action', 'teleported'], env),
    ]);
    expect(runs.map((r) => r.exitCode)).toEqual([2, 2, 2, 2]);
    expect(runs[0]!.stderr).toContain('gitbridge: no example payload for event "pull_requests"; did you mean pull_request?');
    expect(runs[1]!.stderr).toContain('did you mean issues?');
    expect(runs[2]!.stderr).toMatch(/no "pull_request" example with action "opend" \(available actions: opened, .*\); did you mean opened\?/);
    expect(runs[3]!.stderr).not.toContain('did you mean');
  });

  it('exits 2 for an unknown event, a missing --event, an unreadable payload file and a bad option', async () => {
    const runs = await Promise.all([
      runCli(['send-test', '--event', 'no_such_event'], env),
      runCli(['send-test'], env),
      runCli(['send-test', '--event', 'ping', '--payload', '/nonexistent/file.json'], env),
      runCli(['send-test', '--event', 'ping', '--bogus'], env),
      runCli(['send-test', '--event', 'ping', '--set', 'noequals'], env),
    ]);
    expect(runs.map((r) => r.exitCode)).toEqual([2, 2, 2, 2, 2]);
    expect(runs[0]!.stderr).toContain('no example payload for event "no_such_event"');
    expect(runs[1]!.stderr).toContain('--event is required');
    expect(runs[2]!.stderr).toContain('cannot read --payload /nonexistent/file.json');
    expect(runs[3]!.stderr).toContain("unknown option '--bogus'");
  });

  it('--list prints every event and its actions', async () => {
    const [text, json] = await Promise.all([runCli(['send-test', '--list']), runCli(['send-test', '--list', '--json'])]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^pull_request\s+opened, .*closed/m);
    expect(text.stdout).toMatch(/^push\s+\(no action\)$/m);
    const events = JSON.parse(json.stdout) as { event: string; actions: string[] }[];
    expect(events.length).toBeGreaterThan(40);
    expect(events.find((e) => e.event === 'issues')?.actions).toContain('opened');
    expect(events.find((e) => e.event === 'ping')?.actions).toEqual([]);
  });
});
