import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { runCli } from '../packages/cli/test/helpers.js';
import { CALLBACK_SECRET, SECRET, postDelivery, startTestDaemon, tempDir, testEnv, waitFor } from './helpers/index.js';
import { spawnDaemon } from './helpers/process.js';

const GITBRIDGED = fileURLToPath(new URL('../bin/gitbridged', import.meta.url));
const seed = readFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url));

describe('one configuration for daemon and CLI', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('GITBRIDGE_CONFIG with dataDir: `gitbridge tasks ls --json` reads that store', async () => {
    const dataDir = join(tmp.dir, 'elsewhere', 'data');
    // A store with one task, made by a real daemon on that data dir.
    const mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 5, completeAfterMs: 5 });
    const { daemon } = await startTestDaemon(tmp.dir, { GITBRIDGE_DATA_DIR: dataDir, GITBRIDGE_MAS_URL: mas.url });
    let deliveryId: string;
    try {
      ({ deliveryId } = await postDelivery(daemon.url, 'pull_request', seed));
      await waitFor(async () => (await daemon.store.tasksForDelivery(deliveryId)).length === 1, 10_000, 'the task');
    } finally {
      await daemon.stop(500);
      await mas.close();
    }
    const file = join(tmp.dir, 'gitbridge.config.json');
    writeFileSync(file, JSON.stringify({ dataDir }));
    // The CLI runs in another directory, with no GITBRIDGE_DATA_DIR: only the file names the store.
    const cwd = join(tmp.dir, 'cwd');
    mkdirSync(cwd);
    const r = await runCli(['tasks', 'ls', '--json'], { GITBRIDGE_CONFIG: file }, cwd);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const tasks = JSON.parse(r.stdout) as { github_event_id: string; task_type: string }[];
    expect(tasks.map((t) => [t.github_event_id, t.task_type])).toEqual([[deliveryId, 'review_pull_request']]);
    // Without the file, the default ./data of that directory holds no store: exit 4.
    const none = await runCli(['tasks', 'ls', '--json'], {}, cwd);
    expect(none.exitCode).toBe(4);
    expect(none.stderr).toContain(join(cwd, 'data'));
  }, 30_000);

  it('bad GITBRIDGE_LOG_LEVEL and GITBRIDGE_IP_ALLOWLIST together: one message naming both, exit 2, no stack trace, nothing created', async () => {
    const cwd = join(tmp.dir, 'bad-config');
    mkdirSync(cwd);
    const env = { ...testEnv(cwd), GITBRIDGE_DATA_DIR: './data', GITBRIDGE_LOG_DIR: './logs', GITBRIDGE_LOG_LEVEL: 'loud', GITBRIDGE_IP_ALLOWLIST: 'github,10.0.0.0/33,nowhere', PATH: process.env.PATH ?? '' };
    const r = await execa(process.execPath, [GITBRIDGED, 'serve'], { env, extendEnv: false, cwd, reject: false, timeout: 15_000 });
    expect(r.exitCode).toBe(2);
    const err = String(r.stderr);
    expect(err).toMatch(/GITBRIDGE_LOG_LEVEL[^\n]*"loud"/);
    expect(err).toMatch(/GITBRIDGE_IP_ALLOWLIST[^\n]*10\.0\.0\.0\/33, nowhere/);
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(join(cwd, 'data'))).toBe(false);
    expect(existsSync(join(cwd, 'logs'))).toBe(false);
    // The CLI reads the same configuration and refuses it the same way.
    const cli = await runCli(['tasks', 'ls'], { GITBRIDGE_LOG_LEVEL: 'loud' }, cwd);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain('GITBRIDGE_LOG_LEVEL');
  }, 30_000);

  it('a database that cannot be reached at start: exit 4 (the catalogue\'s store status), the reason, no password, no stack trace', async () => {
    const cwd = join(tmp.dir, 'no-database');
    mkdirSync(cwd);
    const env = { ...testEnv(cwd), GITBRIDGE_DATABASE_URL: 'postgres://gitbridge:Hunter2pw@127.0.0.1:9/gitbridge', PATH: process.env.PATH ?? '' };
    const r = await execa(process.execPath, [GITBRIDGED, 'serve'], { env, extendEnv: false, cwd, reject: false, timeout: 30_000 });
    expect(r.exitCode).toBe(4);
    const err = String(r.stderr);
    expect(err).toContain('gitbridged: cannot start:');
    // The catalogue's code, for the docs and for a search: docs/errors.md.
    expect(err).toMatch(/\[GB_STORE_[A-Z_]+\]/);
    expect(err).not.toContain('Hunter2pw');
    expect(err).not.toMatch(/\n\s+at /);
  }, 40_000);
});

describe('gitbridged serve --port 0', () => {
  let mas: ReferenceMas;
  const tmp = tempDir();
  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 5, completeAfterMs: 5 });
  });
  afterAll(async () => {
    await mas.close();
    tmp.cleanup();
  });

  it('gives the MAS a callback URL on the port it really bound, and the callbacks arrive', async () => {
    const env = { ...testEnv(tmp.dir, { GITBRIDGE_MAS_URL: mas.url }), PATH: process.env.PATH ?? '' };
    delete (env as Record<string, string>).GITBRIDGE_PUBLIC_URL;
    const d = await spawnDaemon({ ...env, GITBRIDGE_PORT: '0', GITBRIDGE_WEBHOOK_SECRET: SECRET });
    try {
      expect(d.port).toBeGreaterThan(0);
      const res = await postDelivery(d.url, 'pull_request', seed);
      expect(res.status).toBe(202);
      const task = await waitFor(() => mas.tasks.find((t) => t.delivery_id === res.deliveryId && t.status === 'completed'), 10_000, 'a completed task');
      expect(task.callback_url).toBe(`http://127.0.0.1:${d.port}/mas/callback`);
      // The MAS marks a task completed on schedule, before its callback's answer is back: wait for that answer.
      const callbacks = await waitFor(() => {
        const attempts = mas.callbacks.filter((c) => c.task_id === task.task_id);
        return attempts.some((c) => c.status === 'completed' && c.status_code === 200) ? attempts : undefined;
      }, 10_000, 'the completed callback answered 200');
      // Every attempt reached the daemon on that port (an answer, never a connection error).
      expect(callbacks.every((c) => c.status_code !== undefined)).toBe(true);
    } finally {
      d.child.kill('SIGTERM');
      await d.child;
    }
  }, 30_000);
});

describe('gitbridged config check and serve --check', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());
  const gitbridged = (args: string[], env: Record<string, string>) =>
    execa(process.execPath, [GITBRIDGED, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, extendEnv: false, cwd: tmp.dir, reject: false, timeout: 15_000 });

  it('prints every option with its value and source (flag, env, file, default), secrets redacted; exit 0 when valid', async () => {
    const file = join(tmp.dir, 'config.json');
    writeFileSync(file, JSON.stringify({ masUrl: 'https://mas.internal', rateLimitPerRepo: 42 }));
    const secretFile = join(tmp.dir, 'webhook-secret');
    writeFileSync(secretFile, 'file-secret-value\n');
    const env = {
      GITBRIDGE_CONFIG: file,
      GITBRIDGE_WEBHOOK_SECRET_FILE: secretFile,
      GITBRIDGE_MAS_CALLBACK_SECRET: 'callback-secret-value',
      GITBRIDGE_MAS_TOKEN: 'mas-token-value',
      GITBRIDGE_ADMIN_TOKEN: 'admin-token-value',
      GITBRIDGE_REDIS_URL: 'redis://user:redis-password-value@127.0.0.1:6379/0',
      GITBRIDGE_DATABASE_URL: 'postgres://gitbridge:database-password-value@db.internal:5432/gitbridge',
      GITBRIDGE_NOTIFY_URL: 'https://hooks.slack.com/services/T0/B0/slack-path-secret',
    };
    const r = await gitbridged(['config', 'check', '--port', '8080'], env);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = String(r.stdout);
    const row = (key: string) => out.split('\n').find((l) => l.startsWith(`${key} `))!.split(/\s{2,}/);
    expect(row('port')).toEqual(['port', '8080', 'flag --port', 'GITBRIDGE_PORT']);
    expect(row('masUrl')).toEqual(['masUrl', 'https://mas.internal', `file ${file}`, 'GITBRIDGE_MAS_URL']);
    expect(row('rateLimitPerRepo')).toEqual(['rateLimitPerRepo', '42', `file ${file}`, 'GITBRIDGE_RATE_LIMIT']);
    expect(row('host')).toEqual(['host', '0.0.0.0', 'default', 'GITBRIDGE_HOST']);
    expect(row('webhookSecrets')).toEqual(['webhookSecrets', '[redacted] (1 secret)', 'env GITBRIDGE_WEBHOOK_SECRET_FILE', 'GITBRIDGE_WEBHOOK_SECRET']);
    expect(row('masCallbackSecret').slice(0, 3)).toEqual(['masCallbackSecret', '[redacted]', 'env GITBRIDGE_MAS_CALLBACK_SECRET']);
    expect(row('redisUrl')[1]).toBe('redis://user:[redacted]@127.0.0.1:6379/0');
    expect(row('databaseUrl')[1]).toBe('postgres://gitbridge:[redacted]@db.internal:5432/gitbridge');
    expect(row('notifyUrl')[1]).toBe('https://hooks.slack.com/[redacted]');
    expect(row('publicUrl').slice(0, 3)).toEqual(['publicUrl', '-', 'unset']);
    for (const secret of ['file-secret-value', 'callback-secret-value', 'mas-token-value', 'admin-token-value', 'redis-password-value', 'database-password-value', 'slack-path-secret']) expect(out).not.toContain(secret);
    // Valid, but an admin token without a management listener is worth a warning.
    expect(out).toMatch(/Warnings \(1\)\n {2}- GITBRIDGE_ADMIN_TOKEN[^\n]*GITBRIDGE_ADMIN_PORT/);
    expect(out).toContain('The configuration is valid.');

    const json = await gitbridged(['config', 'check', '--json'], env);
    const report = JSON.parse(String(json.stdout)) as { valid: boolean; options: { key: string; value: string; source: string }[] };
    expect(report.valid).toBe(true);
    expect(report.options.find((o) => o.key === 'masToken')).toMatchObject({ value: '[redacted]', source: 'env' });
  });

  it('lists every problem and exits 2 when not valid, for config check and serve --check alike, without starting anything', async () => {
    const env = { GITBRIDGE_LOG_LEVEL: 'loud', GITBRIDGE_PORT: 'eighty', GITBRIDGE_DATA_DIR: join(tmp.dir, 'never') };
    for (const args of [['config', 'check'], ['serve', '--check'], ['--check']]) {
      const r = await gitbridged(args, env);
      expect(r.exitCode, args.join(' ')).toBe(2);
      const out = String(r.stdout);
      expect(out).toMatch(/Problems \(4\)/);
      for (const name of ['GITBRIDGE_LOG_LEVEL', 'GITBRIDGE_PORT', 'GITBRIDGE_WEBHOOK_SECRET', 'GITBRIDGE_MAS_CALLBACK_SECRET']) expect(out).toContain(`- ${name}`);
      expect(out).toContain('gitbridged would not start');
    }
    expect(existsSync(join(tmp.dir, 'never'))).toBe(false);
  });

  it('--help shows each option with its default and environment name; a mistyped command suggests the right one', async () => {
    const help = await gitbridged(['serve', '--help'], {});
    expect(help.exitCode).toBe(0);
    const text = String(help.stdout).replace(/\s+/g, ' ');
    expect(text).toContain('--port <value> TCP port to listen on. (default: 3000; env: GITBRIDGE_PORT)');
    expect(text).toContain('(default: none, required; env: GITBRIDGE_WEBHOOK_SECRET)');
    expect(text).toContain('(default: unset; env: GITBRIDGE_ADMIN_PORT)');
    expect(text).toContain('--check');
    const typo = await gitbridged(['serv'], {});
    expect(typo.exitCode).toBe(2);
    expect(String(typo.stderr)).toContain("unknown command 'serv'");
    expect(String(typo.stderr)).toContain('Did you mean serve?');
    const checkTypo = await gitbridged(['config', 'chek'], {});
    expect(checkTypo.exitCode).toBe(2);
    expect(String(checkTypo.stderr)).toContain('Did you mean check?');
  });
});
