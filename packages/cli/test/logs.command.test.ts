import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from './helpers.js';

// End-to-end: the BUILT CLI (`pnpm run build` first), spawned without a
// terminal, so `gitbridge logs` prints plain lines as `gitbridge logs | jq .` sees them.

const entry = (level: number, msg: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ level, time: '2025-03-01T10:00:00.000Z', pid: 4242, hostname: 'gb-1', name: 'gitbridged', msg, ...extra });

const INFO = entry(30, 'delivery accepted', { deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', event: 'pull_request', action: 'opened', repo: 'octo-org/api' });
// Spacing pino would never write: proves lines are printed as they are, not re-serialised.
const WARN = '{ "level": 40, "time": "2025-03-01T10:00:01.000Z", "msg": "MAS answered slowly", "deliveryId": "aa11bb22", "event": "push", "repo": "octo-org/web" }';
const ERROR = entry(50, 'task submission failed', { deliveryId: 'ee55ff66', event: 'issues', action: 'opened', repo: 'other/repo' });
const DEBUG = entry(20, 'rule matched', { deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', event: 'pull_request', action: 'opened', repo: 'octo-org/api' });
const ALL = [DEBUG, INFO, WARN, ERROR];

function logDir(lines: readonly string[] = ALL, security: readonly string[] = []): string {
  const dir = tempDir('gitbridge-logs-cmd-');
  writeFileSync(join(dir, 'webhook.log'), lines.map((l) => `${l}\n`).join(''));
  if (security.length) writeFileSync(join(dir, 'security.log'), security.map((l) => `${l}\n`).join(''));
  return dir;
}

const outLines = (stdout: string): string[] => (stdout === '' ? [] : stdout.split('\n'));

describe('gitbridge logs (no terminal)', () => {
  it('prints the lines exactly as in the file, one JSON object per line, and exits 0', async () => {
    const dir = logDir();
    const run = await runCli(['logs', '--log-dir', dir]);
    expect(run).toMatchObject({ exitCode: 0, stderr: '' });
    expect(`${run.stdout}\n`).toBe(readFileSync(join(dir, 'webhook.log'), 'utf8'));
    for (const l of outLines(run.stdout)) expect(() => JSON.parse(l) as unknown).not.toThrow();
  });

  it('--level warn keeps warn and above', async () => {
    const run = await runCli(['logs', '--log-dir', logDir(), '--level', 'warn']);
    expect(run.exitCode).toBe(0);
    expect(outLines(run.stdout)).toEqual([WARN, ERROR]);
  });

  it('filters by --event, --repo, --delivery and --grep, and --lines counts matching lines', async () => {
    const dir = logDir();
    const runs = await Promise.all([
      runCli(['logs', '--log-dir', dir, '--event', 'pull_request.opened']),
      runCli(['logs', '--log-dir', dir, '--repo', 'OCTO-ORG/']),
      runCli(['logs', '--log-dir', dir, '--delivery', 'ee55']),
      runCli(['logs', '--log-dir', dir, '--grep', 'slowly']),
      runCli(['logs', '--log-dir', dir, '--lines', '1', '--repo', 'octo-org/']),
      runCli(['logs', '--log-dir', dir, '-n', '2']),
    ]);
    expect(runs.map((r) => r.exitCode)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(runs.map((r) => outLines(r.stdout))).toEqual([[DEBUG, INFO], [DEBUG, INFO, WARN], [ERROR], [WARN], [WARN], [WARN, ERROR]]);
  });

  it('reads security.log with --security, and the log directory from GITBRIDGE_LOG_DIR or ./logs', async () => {
    const denied = JSON.stringify({ level: 40, time: '2025-03-01T10:00:00.000Z', msg: 'address denied', kind: 'address_denied', ip: '198.51.100.7', deliveryId: 'x1' });
    const dir = logDir([INFO], [denied]);
    const cwd = tempDir('gitbridge-logs-cwd-');
    mkdirSync(join(cwd, 'logs'));
    writeFileSync(join(cwd, 'logs', 'webhook.log'), `${ERROR}\n`);
    const [security, fromEnv, fromCwd, kind] = await Promise.all([
      runCli(['logs', '--log-dir', dir, '--security']),
      runCli(['logs'], { GITBRIDGE_LOG_DIR: dir }),
      runCli(['logs'], {}, cwd),
      runCli(['logs', '--security', '--event', 'address_denied'], { GITBRIDGE_LOG_DIR: dir }),
    ]);
    expect(outLines(security.stdout)).toEqual([denied]);
    expect(outLines(fromEnv.stdout)).toEqual([INFO]);
    expect(outLines(fromCwd.stdout)).toEqual([ERROR]);
    expect(outLines(kind.stdout)).toEqual([denied]);
  });

  it('exits 1 with a hint when the log does not exist, 2 on a bad flag', async () => {
    const dir = tempDir('gitbridge-logs-cmd-');
    const [missing, badLevel, badLines] = await Promise.all([
      runCli(['logs', '--log-dir', dir]),
      runCli(['logs', '--log-dir', dir, '--level', 'loud']),
      runCli(['logs', '--log-dir', dir, '--lines', '-3']),
    ]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(`gitbridge: no log file ${join(dir, 'webhook.log')}`);
    expect(missing.stderr).toContain('hint:');
    expect(missing.stdout).toBe('');
    expect([badLevel.exitCode, badLines.exitCode]).toEqual([2, 2]);
    expect(badLevel.stderr).toContain('--level');
  });

  it('--help shows the keys, flags and examples', async () => {
    const run = await runCli(['logs', '--help']);
    expect(run.exitCode).toBe(0);
    for (const s of ['Usage: gitbridge logs', 'Examples:', '--log-dir', '--security', '--follow', '--plain', '--level', '--event', '--repo', '--delivery', '--grep', '--lines', 'space  pause/resume', 'gitbridge logs | jq']) {
      expect(run.stdout).toContain(s);
    }
  });

  it('--follow keeps printing matching lines, follows rotation, and exits 0 on SIGTERM', async () => {
    const dir = logDir([INFO, WARN]);
    const child = execa(process.execPath, [BIN, 'logs', '--log-dir', dir, '--follow', '--level', 'warn'], {
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '' },
      timeout: 20_000,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const until = async (check: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${out}; stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until(() => out === `${WARN}\n`, 'the existing warning');
      appendFileSync(join(dir, 'webhook.log'), `${INFO}\n${ERROR}\n`);
      await until(() => out === `${WARN}\n${ERROR}\n`, 'the appended error');
      renameSync(join(dir, 'webhook.log'), join(dir, 'webhook.log.1'));
      const fatal = entry(60, 'out of disk');
      writeFileSync(join(dir, 'webhook.log'), `${DEBUG}\n${fatal}\n`);
      await until(() => out.endsWith(`${fatal}\n`), 'the line in the new file');
      expect(err).toContain('was rotated');
    } finally {
      child.kill('SIGTERM');
    }
    const result = await child;
    expect(result.exitCode).toBe(0);
  });

  it('--follow waits for a log that does not exist yet, saying so on stderr', async () => {
    const dir = join(tempDir('gitbridge-logs-cmd-'), 'logs');
    const child = execa(process.execPath, [BIN, 'logs', '--log-dir', dir, '-f'], { reject: false, extendEnv: false, env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    try {
      const deadline = Date.now() + 10_000;
      while (!err.includes('waiting for') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(err).toContain(`gitbridge: waiting for ${join(dir, 'webhook.log')} to appear`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'webhook.log'), `${INFO}\n`);
      while (out !== `${INFO}\n` && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(out).toBe(`${INFO}\n`);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
  });
});

// The start-up guard in cli.test.ts looks for literal imports of ink/react in dist;
// these check the property itself: nothing outside the TUI loads them.
describe('gitbridge start-up does not load ink or react', () => {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));

  /** Specifiers of a compiled module's static imports and re-exports, and of its literal dynamic imports. */
  function importsOf(file: string): { static: string[]; dynamic: string[] } {
    const code = readFileSync(file, 'utf8');
    const stat = [...code.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const dynamic = [...code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
    return { static: stat, dynamic };
  }

  /** Every module `entry` loads statically: relative files and bare package names. */
  function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
    const files = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (files.has(file)) return;
      files.add(file);
      for (const spec of importsOf(file).static) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else packages.add(spec);
      }
    };
    visit(entry);
    return { files, packages };
  }

  it('dist/main.js reaches neither ink, react nor ui/ statically; logs reaches the TUI only by a dynamic import', () => {
    const { files, packages } = staticGraph(join(dist, 'main.js'));
    expect(files).toContain(join(dist, 'commands', 'logs.js'));
    expect([...packages].filter((p) => /^(ink|react)(\/|$)/.test(p))).toEqual([]);
    expect([...files].filter((f) => f.startsWith(join(dist, 'ui')))).toEqual([]);
    expect(importsOf(join(dist, 'commands', 'logs.js')).dynamic).toEqual(['../ui/LogsApp.js']);
    expect(existsSync(join(dist, 'ui', 'LogsApp.js'))).toBe(true);
  });

  it('at run time: `gitbridge logs` without a terminal and `gitbridge --help` run with ink and react blocked; the TUI module does not', async () => {
    const hooks = tempDir('gitbridge-logs-hooks-');
    writeFileSync(
      join(hooks, 'block.mjs'),
      `export async function resolve(specifier, context, next) {
  if (/^(ink|react)(\\/|$)/.test(specifier)) throw new Error('blocked: ' + specifier);
  return next(specifier, context);
}\n`,
    );
    writeFileSync(join(hooks, 'register.mjs'), `import { register } from 'node:module';\nregister('./block.mjs', import.meta.url);\n`);
    const node = (args: string[]) =>
      execa(process.execPath, ['--import', join(hooks, 'register.mjs'), ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
    const dir = logDir();
    const [logs, help, tui] = await Promise.all([
      node([BIN, 'logs', '--log-dir', dir, '--level', 'error']),
      node([BIN, '--help']),
      node(['--input-type=module', '-e', `await import(${JSON.stringify(join(dist, 'ui', 'LogsApp.js'))});`]),
    ]);
    expect(logs.exitCode, String(logs.stderr)).toBe(0);
    expect(logs.stdout).toBe(ERROR);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('logs');
    // The control: the hook does catch what the TUI loads.
    expect(tui.exitCode).not.toBe(0);
    expect(String(tui.stderr)).toMatch(/blocked: (react|ink)/);
  });
});
