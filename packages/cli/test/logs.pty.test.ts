import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ALTERNATE_SCREEN, enterAlternateScreen } from '../src/ui/LogsApp.js';
import { BIN, tempDir } from './helpers.js';

// End-to-end: the BUILT CLI (`pnpm run build` first) in a real pseudo-terminal,
// made by util-linux's `script` (in every Debian install: no native addon to
// build). What the test writes to script's stdin reaches the app as a person's
// keys do, and everything the app draws comes back on script's stdout.

const entry = (level: number, msg: string): string => JSON.stringify({ level, time: '2025-03-01T10:00:00.000Z', pid: 1, hostname: 'h', name: 'gitbridged', msg });
const LINES = [entry(20, 'rule matched'), entry(30, 'delivery accepted'), entry(40, 'MAS answered slowly'), entry(50, 'task submission failed')];

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
// Terminal control sequences, for reading the text drawn.
// eslint-disable-next-line no-control-regex
const plain = (s: string): string => s.replace(/\u001B(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])/g, '');

/** `gitbridge logs` running in a pseudo-terminal of 24×100. */
interface Session {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything written to the terminal so far, control sequences included. */
  output(): string;
  /** Resolves with the output once `check` holds for it (looked at on every write); rejects after 15 s. */
  until(check: (out: string) => boolean, what: string): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** The pid of the gitbridge process (not of `script`). */
  pid(): number;
}

const sessions: Session[] = [];

afterEach(() => {
  for (const s of sessions.splice(0)) if (s.child.exitCode === null) s.child.kill('SIGKILL');
});

function startInPty(logDir: string): Session {
  const pidFile = join(tempDir('gitbridge-logs-pty-'), 'pid');
  // `stty` sizes the terminal; `exec` keeps the pid the shell wrote.
  const command = `stty rows 24 cols 100 && echo $$ > ${quote(pidFile)} && exec ${quote(process.execPath)} ${quote(BIN)} logs --log-dir ${quote(logDir)}`;
  // No CI variable: ink draws live only outside CI.
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm-256color' },
  });
  let out = '';
  let failed: Error | undefined;
  const waiters = new Set<() => void>();
  child.on('error', (err) => {
    failed = new Error(`cannot run util-linux's script (${err.message}): it makes the pseudo-terminal`);
    for (const w of [...waiters]) w();
  });
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  const until = (check: (o: string) => boolean, what: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const look = (): void => {
        if (failed === undefined && !check(out)) return;
        cleanup();
        if (failed !== undefined) reject(failed);
        else resolve(out);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; the screen so far:\n${plain(out)}`));
      }, 15_000);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(look);
      };
      waiters.add(look);
      look();
    });
  const session: Session = { child, output: () => out, until, exited, pid: () => Number(readFileSync(pidFile, 'utf8').trim()) };
  sessions.push(session);
  return session;
}

function logDir(): string {
  const dir = tempDir('gitbridge-logs-pty-');
  writeFileSync(join(dir, 'webhook.log'), LINES.map((l) => `${l}\n`).join(''));
  return dir;
}

/** Output written after `from` characters, as text. */
const after = (out: string, from: number): string => plain(out.slice(from));

/** Asserts that every frame was drawn on the alternate screen, and nothing but control sequences (cursor shown) after leaving it. */
function expectDrawnOnAlternateScreen(all: string): void {
  const enter = all.indexOf(ALTERNATE_SCREEN.enter);
  const leave = all.lastIndexOf(ALTERNATE_SCREEN.leave);
  expect(enter).toBeGreaterThanOrEqual(0);
  expect(enter).toBeLessThan(all.indexOf('webhook.log'));
  // The key help's last line closes every frame.
  expect(leave).toBeGreaterThan(all.lastIndexOf('quit'));
  expect(plain(all.slice(leave)).trim()).toBe('');
}

describe('gitbridge logs in a real terminal', () => {
  it('applies both keys of "ll" typed in one write, draws on the alternate screen and leaves it on q', async () => {
    const s = startInPty(logDir());
    await s.until((o) => plain(o).includes('4/4 shown'), 'the live view');
    const mark = s.output().length;
    // Both keys in one write: the app gets them in one read, as when typing fast.
    s.child.stdin.write('ll');
    const out = await s.until((o) => after(o, mark).includes('level>=warn'), 'the level advanced twice');
    expect(after(out, mark)).toContain('2/4 shown');
    expect(after(out, mark)).not.toContain('level>=info');
    s.child.stdin.write('q');
    expect(await s.exited).toBe(0);
    expectDrawnOnAlternateScreen(s.output());
  });

  it('leaves the alternate screen on Ctrl+C and on SIGTERM, exiting 0', async () => {
    const [byKey, bySignal] = [startInPty(logDir()), startInPty(logDir())];
    await Promise.all([byKey, bySignal].map((s) => s.until((o) => plain(o).includes('4/4 shown'), 'the live view')));
    byKey.child.stdin.write('\u0003');
    process.kill(bySignal.pid(), 'SIGTERM');
    expect(await Promise.all([byKey.exited, bySignal.exited])).toEqual([0, 0]);
    for (const s of [byKey, bySignal]) expectDrawnOnAlternateScreen(s.output());
  });
});

describe('enterAlternateScreen', () => {
  /** A stand-in for stdout that records what is written. */
  const stream = (isTTY: boolean): NodeJS.WriteStream & { written: string[] } => {
    const written: string[] = [];
    return { isTTY, written, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream & { written: string[] };
  };

  it('on a terminal: enters, leaves once, and leaves on process exit until it has left', () => {
    const out = stream(true);
    const exitListeners = process.listenerCount('exit');
    const leave = enterAlternateScreen(out);
    expect(out.written).toEqual([ALTERNATE_SCREEN.enter]);
    expect(process.listenerCount('exit')).toBe(exitListeners + 1);
    // What an uncaught error's exit would run.
    process.listeners('exit').at(-1)!.call(process, 1);
    leave();
    expect(out.written).toEqual([ALTERNATE_SCREEN.enter, ALTERNATE_SCREEN.leave]);
    expect(process.listenerCount('exit')).toBe(exitListeners);
  });

  it('not a terminal (output piped): writes nothing', () => {
    const out = stream(false);
    const exitListeners = process.listenerCount('exit');
    enterAlternateScreen(out)();
    expect(out.written).toEqual([]);
    expect(process.listenerCount('exit')).toBe(exitListeners);
  });
});
