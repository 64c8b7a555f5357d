import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

const COMMANDS = [
  ['send-test'],
  ['tasks'],
  ['tasks', 'ls'],
  ['tasks', 'show'],
  ['tasks', 'retry'],
  ['deliveries'],
  ['deliveries', 'ls'],
  ['deliveries', 'show'],
  ['journal'],
  ['journal', 'ls'],
  ['meta'],
  ['meta', 'sync'],
  ['store'],
  ['store', 'copy'],
];

describe('gitbridge', () => {
  it('--version prints 0.1.0', async () => {
    const run = await runCli(['--version']);
    expect(run).toMatchObject({ exitCode: 0, stdout: '0.1.0' });
  });

  it('--help on every command shows examples and exits 0', async () => {
    const runs = await Promise.all([[], ...COMMANDS].map((c) => runCli([...c, '--help'])));
    for (const [i, run] of runs.entries()) {
      expect(run.exitCode, `gitbridge ${[[], ...COMMANDS][i]!.join(' ')} --help`).toBe(0);
      expect(run.stdout).toContain('Examples:');
      expect(run.stdout).toContain('Usage: gitbridge');
    }
  });

  it('usage errors exit 2: unknown command, unknown option, missing argument, no subcommand', async () => {
    const runs = await Promise.all([runCli(['frobnicate']), runCli(['tasks', 'ls', '--nope']), runCli(['tasks', 'show']), runCli(['tasks'])]);
    expect(runs.map((r) => r.exitCode)).toEqual([2, 2, 2, 2]);
    expect(runs[0]!.stderr).toContain("unknown command 'frobnicate'");
    expect(runs[2]!.stderr).toContain("missing required argument 'id'");
  });

  it('no module outside ui/ imports ink or react (startup stays fast; logs.command.test checks what is loaded)', () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const files = readdirSync(dist, { recursive: true }).map(String).filter((f) => f.endsWith('.js') && !f.startsWith(`ui${sep}`));
    expect(files).toContain(join('commands', 'send-test.js'));
    for (const f of files) {
      expect(readFileSync(join(dist, f), 'utf8'), f).not.toMatch(/from ['"](ink|react)(\/[^'"]*)?['"]|import\(['"](ink|react)/);
    }
  });
});
