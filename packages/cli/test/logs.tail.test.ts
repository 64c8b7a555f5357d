import { appendFileSync, mkdirSync, openSync, closeSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { followFile, readLastLines, type TailEvent, type TailHandle, type TailOptions } from '../src/log-tail.js';
import { tempDir } from './helpers.js';

/** Polls `check` until it holds (or fails the test after `ms`). */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const lineOf = (i: number): string => JSON.stringify({ level: 30, time: `2025-03-01T10:00:${String(i).padStart(2, '0')}.000Z`, msg: `line ${i}` });

/** A running tail that records what it reports. */
interface Recorder {
  readonly events: TailEvent[];
  readonly lines: () => string[];
  readonly types: () => string[];
  readonly handle: TailHandle;
}

const open: TailHandle[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

function record(path: string, options: TailOptions = {}): Recorder {
  const events: TailEvent[] = [];
  const handle = followFile(path, (e) => events.push(e), { pollMs: 25, ...options });
  open.push(handle);
  return {
    events,
    handle,
    lines: () => events.flatMap((e) => (e.type === 'lines' ? e.lines : [])),
    types: () => events.map((e) => e.type),
  };
}

describe('readLastLines', () => {
  it('returns the last n lines, a last line without newline counted, blank lines and CR skipped', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, 'a\r\nb\n\nc\nd');
    expect(await readLastLines(path, 2)).toEqual(['c', 'd']);
    expect(await readLastLines(path, 10)).toEqual(['a', 'b', 'c', 'd']);
    expect(await readLastLines(path, 0)).toEqual([]);
  });

  it('counts only the lines the predicate keeps', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, ['w1', 'i1', 'w2', 'i2', 'i3', 'w3', 'i4'].join('\n') + '\n');
    expect(await readLastLines(path, 2, (l) => l.startsWith('w'))).toEqual(['w2', 'w3']);
  });

  it('reads lines across chunk boundaries of a large file exactly, multi-byte characters included', async () => {
    const path = join(tempDir(), 'webhook.log');
    const all = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, msg: `é🙂 ${'x'.repeat(i % 97)}` }));
    writeFileSync(path, `${all.join('\n')}\n`);
    expect(await readLastLines(path, 2500)).toEqual(all.slice(-2500));
    expect(await readLastLines(path, 5000)).toEqual(all);
  });

  it('throws ENOENT for a missing file', async () => {
    await expect(readLastLines(join(tempDir(), 'nope.log'), 5)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('followFile', () => {
  it('delivers the last N existing lines, then appended lines as they arrive', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, [1, 2, 3, 4, 5].map(lineOf).join('\n') + '\n');
    const t = record(path, { lines: 2 });
    await t.handle.ready;
    expect(t.lines()).toEqual([lineOf(4), lineOf(5)]);
    // The lines the file held come first: a view never shows an existing log as empty.
    expect(t.events.slice(0, 2)).toEqual([{ type: 'lines', lines: [lineOf(4), lineOf(5)] }, { type: 'following', initial: true }]);
    appendFileSync(path, `${lineOf(6)}\n${lineOf(7)}\n`);
    await until(() => t.lines().length === 4, 'appended lines');
    expect(t.lines()).toEqual([4, 5, 6, 7].map(lineOf));
  });

  it('with lines 0 delivers only new lines', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, `${lineOf(1)}\n`);
    const t = record(path, { lines: 0 });
    await t.handle.ready;
    appendFileSync(path, `${lineOf(2)}\n`);
    await until(() => t.lines().length > 0, 'the new line');
    expect(t.lines()).toEqual([lineOf(2)]);
  });

  it('counts only kept lines towards the backlog but delivers every line after the start', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, ['w1', 'i1', 'w2', 'i2', 'w3', 'i3'].join('\n') + '\n');
    const t = record(path, { lines: 2, keep: (l) => l.startsWith('w') });
    await t.handle.ready;
    expect(t.lines()).toEqual(['w2', 'i2', 'w3', 'i3']);
  });

  it('holds a partial line until its newline arrives', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, `${lineOf(1)}\n{"level":40,"msg":"hal`);
    const t = record(path);
    await t.handle.ready;
    expect(t.lines()).toEqual([lineOf(1)]);
    appendFileSync(path, 'f a line');
    await new Promise((r) => setTimeout(r, 150));
    expect(t.lines()).toEqual([lineOf(1)]);
    appendFileSync(path, '"}\n');
    await until(() => t.lines().length === 2, 'the completed line');
    expect(t.lines()[1]).toBe('{"level":40,"msg":"half a line"}');
  });

  it('restarts at the top when the file is truncated', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, [1, 2, 3].map(lineOf).join('\n') + '\n');
    const t = record(path);
    await t.handle.ready;
    truncateSync(path, 0);
    appendFileSync(path, 'short\n');
    await until(() => t.lines().includes('short'), 'the line after truncation');
    expect(t.types()).toContain('truncated');
    expect(t.lines()).toEqual([...[1, 2, 3].map(lineOf), 'short']);
  });

  it('follows rotation: finishes the renamed file, then reads the new one from its top', async () => {
    const dir = tempDir();
    const path = join(dir, 'webhook.log');
    writeFileSync(path, `${lineOf(1)}\n`);
    // The "daemon" keeps its descriptor across the rename, as pino does until SIGHUP.
    const daemonFd = openSync(path, 'a');
    const t = record(path);
    await t.handle.ready;
    renameSync(path, join(dir, 'webhook.log.1'));
    writeSync(daemonFd, `${lineOf(2)}\n`);
    await until(() => t.lines().length === 2, 'the line written to the renamed file');
    closeSync(daemonFd);
    writeFileSync(path, `${lineOf(3)}\n${lineOf(4)}\n`);
    await until(() => t.lines().length === 4, 'the new file');
    expect(t.lines()).toEqual([1, 2, 3, 4].map(lineOf));
    expect(t.types()).toContain('rotated');
    appendFileSync(path, `${lineOf(5)}\n`);
    await until(() => t.lines().length === 5, 'a line appended to the new file');
  });

  it('follows a rename and re-creation that happen at once (logrotate create)', async () => {
    const dir = tempDir();
    const path = join(dir, 'webhook.log');
    writeFileSync(path, `${lineOf(1)}\n`);
    const t = record(path);
    await t.handle.ready;
    appendFileSync(path, `${lineOf(2)}\n`);
    renameSync(path, join(dir, 'webhook.log.1'));
    writeFileSync(path, `${lineOf(3)}\n`);
    await until(() => t.lines().length === 3, 'all three lines');
    expect(t.lines()).toEqual([1, 2, 3].map(lineOf));
  });

  it('waits for a file (and directory) that does not exist yet, then reads it from its top', async () => {
    const dir = join(tempDir(), 'logs');
    const path = join(dir, 'webhook.log');
    const t = record(path, { lines: 1 });
    await t.handle.ready;
    expect(t.types()).toEqual(['waiting']);
    mkdirSync(dir);
    writeFileSync(path, `${lineOf(1)}\n${lineOf(2)}\n`);
    await until(() => t.lines().length === 2, 'the lines of the new file');
    expect(t.events).toContainEqual({ type: 'following', initial: false });
    expect(t.lines()).toEqual([lineOf(1), lineOf(2)]);
  });

  it('works on the stat poll alone (no fs.watch)', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, '');
    const t = record(path, { watch: false });
    await t.handle.ready;
    appendFileSync(path, `${lineOf(1)}\n`);
    await until(() => t.lines().length === 1, 'the appended line');
  });

  it('reports nothing after close', async () => {
    const path = join(tempDir(), 'webhook.log');
    writeFileSync(path, `${lineOf(1)}\n`);
    const t = record(path);
    await t.handle.ready;
    await t.handle.close();
    const count = t.events.length;
    appendFileSync(path, `${lineOf(2)}\n`);
    await new Promise((r) => setTimeout(r, 150));
    expect(t.events.length).toBe(count);
  });
});
