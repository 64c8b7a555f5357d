import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { LogsApp, type LogsAppProps } from '../src/ui/LogsApp.js';
import { h } from '../src/ui/runtime.js';
import { tempDir } from './helpers.js';

// Real files, real tail, real keys through ink's stdin: only the terminal is simulated.

const UP = '\u001B[A';
const DOWN = '\u001B[B';
const ENTER = '\r';
const ESC = '\u001B';
const BACKSPACE = '\u007F';
const END = '\u001B[F';
const PAGE_UP = '\u001B[5~';
const PAGE_DOWN = '\u001B[6~';

const entry = (level: number, msg: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ level, time: '2025-03-01T10:00:00.000Z', pid: 1, hostname: 'h', name: 'gitbridged', msg, ...extra });

const ACCEPTED = entry(30, 'delivery accepted', { deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', event: 'pull_request', action: 'opened', repo: 'octo-org/api' });
const SLOW = entry(40, 'MAS answered slowly', { deliveryId: 'aa11bb22-1111-4000-8000-000000000000', event: 'push', repo: 'octo-org/web' });
const FAILED = entry(50, 'task submission failed', { deliveryId: 'ee55ff66-2222-4000-8000-000000000000', event: 'issues', action: 'opened', repo: 'other/repo' });
const DEBUG = entry(20, 'rule matched', { deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', event: 'pull_request', action: 'opened', repo: 'octo-org/api' });

afterEach(() => {
  cleanup();
});

/** A log directory with webhook.log holding `lines`. */
function logDir(lines: readonly string[]): string {
  const dir = tempDir('gitbridge-logs-tui-');
  writeFileSync(join(dir, 'webhook.log'), lines.map((l) => `${l}\n`).join(''));
  return dir;
}

/** Renders the app and returns helpers to wait for frames and press keys. */
function start(props: LogsAppProps) {
  const app = render(h(LogsApp, { pollMs: 25, height: 18, ...props }));
  const frame = (): string => app.lastFrame() ?? '';
  const waitFor = async (check: (f: string) => boolean, what: string, ms = 5000): Promise<string> => {
    const deadline = Date.now() + ms;
    while (!check(frame())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last frame:\n${frame()}`);
      await new Promise((r) => setTimeout(r, 15));
    }
    return frame();
  };
  /** Presses keys one at a time (as a person types), each followed by a short pause. */
  const press = async (...keys: string[]): Promise<void> => {
    for (const k of keys) {
      app.stdin.write(k);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  return { app, frame, waitFor, press };
}

describe('gitbridge logs TUI', () => {
  it('shows the existing entries with status bar and key help, and new lines live', async () => {
    const dir = logDir([ACCEPTED, SLOW]);
    const ui = start({ logDir: dir });
    const f = await ui.waitFor((t) => t.includes('MAS answered slowly'), 'the existing entries');
    expect(f).toContain('webhook.log');
    expect(f).toContain('following');
    expect(f).toContain('2/2 shown');
    expect(f).toMatch(/10:00:00\.000 INFO\s+72d3162e pull_request\.opened\s+octo-org\/api\s+delivery accepted/);
    expect(f).toMatch(/WARN\s+aa11bb22 push/);
    expect(f).toContain('space pause');
    expect(f).toContain('enter JSON');
    expect(f).toContain('s security log');
    expect(f).toContain('q quit');
    appendFileSync(join(dir, 'webhook.log'), `${FAILED}\n`);
    const g = await ui.waitFor((t) => t.includes('task submission failed'), 'the appended entry');
    expect(g).toContain('3/3 shown');
    // Newest at the bottom.
    expect(g.indexOf('delivery accepted')).toBeLessThan(g.indexOf('task submission failed'));
  });

  it('filters by free text as it is typed; esc undoes, enter keeps', async () => {
    const ui = start({ logDir: logDir([ACCEPTED, SLOW, FAILED]) });
    await ui.waitFor((t) => t.includes('3/3 shown'), 'the entries');
    await ui.press('/', 's', 'l', 'o', 'w');
    let f = await ui.waitFor((t) => t.includes('1/3 shown'), 'the text filter');
    expect(f).toContain('text filter: slow');
    expect(f).toContain('MAS answered slowly');
    expect(f).not.toContain('delivery accepted');
    await ui.press(ESC);
    f = await ui.waitFor((t) => t.includes('3/3 shown'), 'the filter undone');
    expect(f).toContain('filters: none');
    await ui.press('/', 'f', 'a', 'i', 'l', 'x', BACKSPACE, ENTER);
    f = await ui.waitFor((t) => t.includes('1/3 shown') && t.includes('q quit'), 'the kept filter');
    expect(f).toContain('text~"fail"');
    expect(f).toContain('task submission failed');
    expect(f).not.toContain('MAS answered slowly');
  });

  it('cycles the minimum level with l, filters event, repo and delivery, and clears with c', async () => {
    const ui = start({ logDir: logDir([DEBUG, ACCEPTED, SLOW, FAILED]) });
    await ui.waitFor((t) => t.includes('4/4 shown'), 'the entries');
    // Every press hides something: debug lines first, then info, ...
    expect(ui.frame()).toContain('l level→info+');
    await ui.press('l');
    let f = await ui.waitFor((t) => t.includes('level>=info'), 'level info');
    expect(f).toContain('3/4 shown');
    expect(f).not.toContain('rule matched');
    expect(f).toContain('l level→warn+');
    await ui.press('l');
    f = await ui.waitFor((t) => t.includes('level>=warn'), 'level warn');
    expect(f).toContain('2/4 shown');
    expect(f).not.toContain('delivery accepted');
    expect(f).not.toContain('rule matched');
    expect(f).toContain('MAS answered slowly');
    await ui.press('c', 'e', 'p', 'u', 'l', 'l', ENTER);
    f = await ui.waitFor((t) => t.includes('event~pull'), 'the event filter');
    expect(f).toContain('2/4 shown');
    await ui.press('c', 'r', 'o', 't', 'h', 'e', 'r', ENTER);
    f = await ui.waitFor((t) => t.includes('repo~other'), 'the repo filter');
    expect(f).toContain('1/4 shown');
    expect(f).toContain('task submission failed');
    await ui.press('c', 'd', 'a', 'a', '1', '1', ENTER);
    f = await ui.waitFor((t) => t.includes('delivery~aa11'), 'the delivery filter');
    expect(f).toContain('1/4 shown');
    expect(f).toContain('MAS answered slowly');
    await ui.press('c');
    await ui.waitFor((t) => t.includes('4/4 shown') && t.includes('filters: none'), 'the filters cleared');
  });

  it('applies both of two l typed in one event-loop turn, and both of "ll" arriving in one chunk', async () => {
    const ui = start({ logDir: logDir([DEBUG, ACCEPTED, SLOW, FAILED]) });
    await ui.waitFor((t) => t.includes('4/4 shown'), 'the entries');
    // Two writes before anything yields to the event loop: two keypresses in one turn.
    ui.app.stdin.write('l');
    ui.app.stdin.write('l');
    let f = await ui.waitFor((t) => t.includes('level>=warn'), 'the level advanced twice');
    expect(f).toContain('2/4 shown');
    ui.app.stdin.write('c');
    await ui.waitFor((t) => t.includes('4/4 shown'), 'the filters cleared');
    // One chunk holding both keys, as a terminal hands over fast typing or a paste in one read.
    ui.app.stdin.write('ll');
    f = await ui.waitFor((t) => t.includes('level>=warn'), 'the level advanced twice from one chunk');
    expect(f).toContain('2/4 shown');
  });

  it('applies every key of a pasted chunk: a filter typed and kept with enter, then two moves up', async () => {
    const ui = start({ logDir: logDir([DEBUG, ACCEPTED, SLOW, FAILED]) });
    await ui.waitFor((t) => t.includes('4/4 shown'), 'the entries');
    ui.app.stdin.write('/octo\r');
    let f = await ui.waitFor((t) => t.includes('text~"octo"') && t.includes('q quit'), 'the filter typed and kept');
    expect(f).toContain('3/4 shown');
    expect(f).not.toContain('task submission failed');
    // Nothing selected: the first k selects the newest shown, the second the one above it.
    ui.app.stdin.write('kk\r');
    f = await ui.waitFor((t) => t.includes('"msg": "delivery accepted"'), 'the JSON of the entry two up');
    expect(f).toContain('esc back');
  });

  it('pauses with space: new lines are held and counted, and appear on resume', async () => {
    const dir = logDir([ACCEPTED]);
    const ui = start({ logDir: dir });
    await ui.waitFor((t) => t.includes('1/1 shown'), 'the entry');
    await ui.press(' ');
    await ui.waitFor((t) => t.includes('PAUSED +0 new'), 'paused');
    appendFileSync(join(dir, 'webhook.log'), `${SLOW}\n${FAILED}\n`);
    let f = await ui.waitFor((t) => t.includes('PAUSED +2 new'), 'the held lines counted');
    expect(f).not.toContain('MAS answered slowly');
    expect(f).toContain('1/1 shown');
    await ui.press(' ');
    f = await ui.waitFor((t) => t.includes('3/3 shown'), 'the held lines shown');
    expect(f).toContain('following');
    expect(f).toContain('MAS answered slowly');
    expect(f).toContain('task submission failed');
  });

  it('selects an entry with the arrows and shows its whole JSON with enter; esc goes back', async () => {
    const ui = start({ logDir: logDir([ACCEPTED, SLOW, FAILED]) });
    await ui.waitFor((t) => t.includes('3/3 shown'), 'the entries');
    await ui.press(UP, UP, UP, DOWN, ENTER);
    const f = await ui.waitFor((t) => t.includes('"msg": "MAS answered slowly"'), 'the JSON of the selected entry');
    // Pretty-printed, every field, two-space indentation.
    for (const [k, v] of Object.entries(JSON.parse(SLOW) as Record<string, unknown>)) expect(f).toContain(`  "${k}": ${JSON.stringify(v)}`);
    expect(f).toContain('esc back');
    await ui.press(ESC);
    const g = await ui.waitFor((t) => t.includes('enter JSON'), 'the list again');
    expect(g).toContain('delivery accepted');
  });

  it('says HOLDING while a selected row holds the view, and following again after End, G or esc', async () => {
    const dir = logDir([ACCEPTED, SLOW]);
    const ui = start({ logDir: dir });
    await ui.waitFor((t) => t.includes('2/2 shown') && t.includes('following'), 'the entries, followed');
    for (const back of [END, 'G', ESC]) {
      await ui.press(UP, UP);
      let f = await ui.waitFor((t) => t.includes('HOLDING +1 newer (End follows)'), 'the held view');
      expect(f).not.toContain('following');
      await ui.press(back);
      f = await ui.waitFor((t) => t.includes('following'), `following again after ${JSON.stringify(back)}`);
      expect(f).not.toContain('HOLDING');
    }
    // Held at the oldest row, a new entry is counted below it and does not scroll the view.
    await ui.press('g');
    await ui.waitFor((t) => t.includes('HOLDING +1 newer'), 'the oldest row selected');
    appendFileSync(join(dir, 'webhook.log'), `${FAILED}\n`);
    await ui.waitFor((t) => t.includes('HOLDING +2 newer') && t.includes('3/3 shown'), 'the new entry counted');
  });

  it('pages with PgUp and PgDn, and jumps to the oldest with g, as the key help says', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => entry(30, `message number ${i}`));
    // 80 columns: every key help line fits.
    const ui = start({ logDir: logDir(lines), height: 18, width: 80 });
    /** The numbers of the messages on screen. */
    const shown = (f: string): number[] => [...f.matchAll(/message number (\d+)$/gm)].map((m) => Number(m[1]));
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    // 18 lines: 6 for the status bar, notice line, key help and a spare, 1 for the headings: 11 rows, pages of 10.
    let f = await ui.waitFor((t) => t.includes('message number 29'), 'the newest entries');
    expect(f).toContain('↑↓ k j select  PgUp PgDn page  g Home oldest  G End esc follow the newest\n');
    expect(f).toContain('c clear filters  l level→warn+\n');
    expect(f).toMatch(/q quit$/);
    expect(shown(f)).toEqual(range(19, 29));
    await ui.press(PAGE_UP);
    f = await ui.waitFor((t) => t.includes('HOLDING +10 newer'), 'a page up from the newest');
    expect(shown(f)).toEqual(range(19, 29));
    await ui.press(PAGE_UP);
    f = await ui.waitFor((t) => t.includes('HOLDING +20 newer'), 'another page up');
    expect(shown(f)).toEqual(range(9, 19));
    await ui.press(PAGE_DOWN);
    await ui.waitFor((t) => t.includes('HOLDING +10 newer'), 'a page down');
    await ui.press('g');
    f = await ui.waitFor((t) => t.includes('HOLDING +29 newer'), 'the oldest entry');
    expect(shown(f)).toEqual(range(0, 10));
    await ui.press('G');
    f = await ui.waitFor((t) => t.includes('following'), 'following the newest again');
    expect(shown(f)).toEqual(range(19, 29));
  });

  it('heads the columns, aligned with the rows: EVENT and REPO, KIND and IP/REPO in the security log', async () => {
    const dir = logDir([ACCEPTED]);
    writeFileSync(join(dir, 'security.log'), `${entry(40, 'signature mismatch', { kind: 'signature_failed', deliveryId: 'bad0c0de-1', ip: '203.0.113.9' })}\n`);
    const ui = start({ logDir: dir });
    /** The line of `frame` that holds `text`. */
    const lineWith = (frame: string, text: string): string => frame.split('\n').find((l) => l.includes(text)) ?? '';
    const f = await ui.waitFor((t) => t.includes('delivery accepted'), 'the webhook log');
    const heading = lineWith(f, 'TIME');
    expect(heading).toMatch(/^TIME +LEVEL DELIVERY EVENT +REPO +MESSAGE$/);
    const columns: [string, string][] = [['LEVEL', 'INFO'], ['DELIVERY', '72d3162e'], ['EVENT', 'pull_request.opened'], ['REPO', 'octo-org/api'], ['MESSAGE', 'delivery accepted']];
    for (const [title, value] of columns) expect(heading.indexOf(title), title).toBe(lineWith(f, value).indexOf(value));
    await ui.press('s');
    const g = await ui.waitFor((t) => t.includes('signature_failed'), 'the security log');
    const securityHeading = lineWith(g, 'TIME');
    expect(securityHeading).toMatch(/^TIME +LEVEL DELIVERY KIND +IP\/REPO +MESSAGE$/);
    const securityColumns: [string, string][] = [['KIND', 'signature_failed'], ['IP/REPO', '203.0.113.9']];
    for (const [title, value] of securityColumns) expect(securityHeading.indexOf(title), title).toBe(lineWith(g, value).indexOf(value));
  });

  it('switches to the security log with s', async () => {
    const dir = logDir([ACCEPTED]);
    writeFileSync(join(dir, 'security.log'), `${entry(40, 'signature mismatch', { kind: 'signature_failed', deliveryId: 'bad0c0de-1', ip: '203.0.113.9' })}\n`);
    const ui = start({ logDir: dir });
    await ui.waitFor((t) => t.includes('delivery accepted'), 'the webhook log');
    await ui.press('s');
    const f = await ui.waitFor((t) => t.includes('signature_failed'), 'the security log');
    expect(f).toContain('security.log');
    expect(f).toContain('203.0.113.9');
    expect(f).not.toContain('delivery accepted');
  });

  it('says it waits for a log that does not exist yet, and shows it when it appears', async () => {
    const dir = join(tempDir('gitbridge-logs-tui-'), 'logs');
    const ui = start({ logDir: dir });
    await ui.waitFor((t) => t.includes('waiting for the file to appear'), 'the waiting status');
    expect(ui.frame()).toContain('does not exist yet');
    mkdirSync(dir);
    writeFileSync(join(dir, 'webhook.log'), `${ACCEPTED}\n`);
    await ui.waitFor((t) => t.includes('delivery accepted') && t.includes('following'), 'the new file');
  });

  it('shows only the newest entries that fit', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => entry(30, `message number ${i}`));
    const ui = start({ logDir: logDir(lines), height: 12 });
    const f = await ui.waitFor((t) => t.includes('message number 39'), 'the newest entry');
    expect(f).toContain('40/40 shown');
    expect(f).toContain('message number 35');
    expect(f).not.toContain('message number 34');
    expect(f.split('\n').length).toBeLessThanOrEqual(12);
  });
});
