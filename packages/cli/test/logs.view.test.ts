import { describe, expect, it } from 'vitest';
import { describeFilter, entryDetail, levelColor, levelName, matchesFilter, parseLevel, parseLogLine, rowParts, type LogEntry } from '../src/log-entry.js';
import { initialViewState, listWindow, nextMinLevel, reduceLogView, splitKeys, visibleEntries, type LogViewState, type ViewKey } from '../src/log-view.js';

const line = (fields: Record<string, unknown>): string => JSON.stringify({ level: 30, time: '2025-03-01T10:00:00.123Z', ...fields });

const PR = line({ msg: 'delivery accepted', deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958', event: 'pull_request', action: 'opened', repo: 'octo-org/api' });
const PUSH_WARN = line({ level: 40, msg: 'MAS slow', deliveryId: 'aa11bb22-0000', event: 'push', repo: 'octo-org/web' });
const SECURITY = line({ level: 40, msg: 'signature mismatch', kind: 'signature_failed', deliveryId: 'cc33', ip: '203.0.113.9' });

describe('log entries', () => {
  it('parses levels by name or number', () => {
    expect(['trace', 'DEBUG', 'info', 'warn', 'warning', 'error', 'fatal', '35'].map(parseLevel)).toEqual([10, 20, 30, 40, 40, 50, 60, 35]);
    expect(parseLevel('loud')).toBeUndefined();
    expect([10, 20, 30, 35, 40, 50, 60, 5, undefined].map(levelName)).toEqual(['trace', 'debug', 'info', 'info', 'warn', 'error', 'fatal', 'trace', '-']);
  });

  it('colours trace/debug grey, info green, warn yellow, error/fatal red', () => {
    expect([10, 20, 30, 40, 50, 60, undefined].map(levelColor)).toEqual(['gray', 'gray', 'green', 'yellow', 'red', 'red', 'gray']);
  });

  it('parses a pino line; keeps anything else as raw text', () => {
    const e = parseLogLine(PR, 7);
    expect(e).toMatchObject({ seq: 7, raw: PR, level: 30, event: 'pull_request', action: 'opened', repo: 'octo-org/api', msg: 'delivery accepted' });
    expect(parseLogLine('{"time":1740823200000}', 0).time).toBe('2025-03-01T10:00:00.000Z');
    for (const raw of ['plain text', '{broken', '[1,2]']) expect(parseLogLine(raw, 0)).toMatchObject({ raw, json: undefined, level: undefined });
  });

  it('filters by minimum level, event.action or kind, repo, delivery and text, case-insensitively', () => {
    const [pr, push, sec, text] = [PR, PUSH_WARN, SECURITY, 'some text'].map((l, i) => parseLogLine(l, i)) as [LogEntry, LogEntry, LogEntry, LogEntry];
    const pass = (f: Parameters<typeof matchesFilter>[1]): number[] => [pr, push, sec, text].filter((e) => matchesFilter(e, f)).map((e) => e.seq);
    expect(pass({})).toEqual([0, 1, 2, 3]);
    expect(pass({ minLevel: 10 })).toEqual([0, 1, 2, 3]);
    expect(pass({ minLevel: 40 })).toEqual([1, 2]);
    expect(pass({ event: 'pull_request.open' })).toEqual([0]);
    expect(pass({ event: 'SIGNATURE' })).toEqual([2]);
    expect(pass({ repo: 'octo-org/' })).toEqual([0, 1]);
    expect(pass({ delivery: '72D3' })).toEqual([0]);
    expect(pass({ text: 'TEXT' })).toEqual([3]);
    expect(pass({ minLevel: 40, repo: 'web' })).toEqual([1]);
    expect(describeFilter({ minLevel: 40, repo: 'web', text: 'x' })).toBe('level>=warn repo~web text~"x"');
    expect(describeFilter({})).toBe('none');
  });

  it('renders row columns and the pretty JSON, without terminal control characters', () => {
    const p = rowParts(parseLogLine(line({ msg: 'evil \u001b[2J here', deliveryId: '72d3162e-cc78', event: 'push', repo: 'o/r' }), 0));
    expect(p).toMatchObject({ time: '10:00:00.123', level: 'INFO ', delivery: '72d3162e', what: 'push', where: 'o/r', msg: 'evil ?[2J here' });
    expect(rowParts(parseLogLine(SECURITY, 0))).toMatchObject({ what: 'signature_failed', where: '203.0.113.9' });
    expect(entryDetail(parseLogLine(PR, 0))).toBe(JSON.stringify(JSON.parse(PR), null, 2));
  });
});

const entries = (n: number, from = 0): LogEntry[] =>
  Array.from({ length: n }, (_, i) => parseLogLine(line({ level: i % 2 ? 40 : 30, msg: `m${from + i}` }), from + i));
const key = (state: LogViewState, input: string, k: ViewKey = {}): LogViewState => reduceLogView(state, { type: 'key', input, key: k, page: 5 });
const msgs = (s: LogViewState): (string | undefined)[] => visibleEntries(s).map((e) => e.msg);

describe('log view state', () => {
  it('keeps at most maxEntries, counting what it let go', () => {
    let s = initialViewState({ log: 'webhook', maxEntries: 3 });
    s = reduceLogView(s, { type: 'entries', entries: entries(5) });
    expect(msgs(s)).toEqual(['m2', 'm3', 'm4']);
    expect(s).toMatchObject({ dropped: 2 });
  });

  it('buffers while paused and shows the buffered entries on resume', () => {
    let s = reduceLogView(initialViewState({ log: 'webhook' }), { type: 'entries', entries: entries(2) });
    s = key(s, ' ');
    s = reduceLogView(s, { type: 'entries', entries: entries(2, 2) });
    expect(s.paused).toBe(true);
    expect(msgs(s)).toEqual(['m0', 'm1']);
    expect(s.buffered).toHaveLength(2);
    s = key(s, ' ');
    expect(msgs(s)).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(s.buffered).toHaveLength(0);
  });

  it('edits filters live; enter keeps, esc undoes, c clears; l cycles the level', () => {
    let s = reduceLogView(initialViewState({ log: 'webhook' }), { type: 'entries', entries: entries(4) });
    s = key(key(key(s, '/'), 'm'), '2');
    expect(msgs(s)).toEqual(['m2']);
    s = key(key(s, '', { backspace: true }), '3');
    expect(s.filter.text).toBe('m3');
    s = key(s, '', { return: true });
    expect(s.input).toBeNull();
    s = key(key(s, 'r'), 'zzz');
    expect(msgs(s)).toEqual([]);
    s = key(s, '', { escape: true });
    expect(s.filter).toMatchObject({ text: 'm3', repo: undefined });
    s = key(s, 'c');
    expect(msgs(s)).toHaveLength(4);
    // info and warn entries: every press changes what is shown.
    const cycle: [number | undefined, number][] = [];
    for (let i = 0; i < 5; i++) {
      s = key(s, 'l');
      cycle.push([s.filter.minLevel, visibleEntries(s).length]);
    }
    expect(cycle).toEqual([
      [40, 2],
      [50, 0],
      [undefined, 4],
      [40, 2],
      [50, 0],
    ]);
  });

  it('l goes to the lowest level that hides a shown entry, else back to all', () => {
    const at = (...levels: (number | undefined)[]): LogEntry[] => levels.map((level, i) => parseLogLine(level === undefined ? 'plain text' : line({ level }), i));
    expect(nextMinLevel(at(30, 40, 50))).toBe(40);
    expect(nextMinLevel(at(40, 50))).toBe(50);
    expect(nextMinLevel(at(50))).toBe(60);
    expect(nextMinLevel(at(60))).toBeUndefined();
    expect(nextMinLevel(at())).toBeUndefined();
    // Lines without a level, and trace lines, go first; a level between pino's goes with the one below it.
    expect(nextMinLevel(at(undefined, 50))).toBe(20);
    expect(nextMinLevel(at(10, 30))).toBe(20);
    expect(nextMinLevel(at(35, 50))).toBe(40);
    // It looks at what the other filters let through.
    let s = reduceLogView(initialViewState({ log: 'webhook', filter: { repo: 'web' } }), { type: 'entries', entries: [PR, PUSH_WARN].map((l, i) => parseLogLine(l, i)) });
    s = key(s, 'l');
    expect(s.filter.minLevel).toBe(50);
  });

  it('splits a chunk of several keys into one press per character', () => {
    expect(splitKeys('l', {})).toEqual([{ input: 'l', key: {} }]);
    expect(splitKeys('', { upArrow: true })).toEqual([{ input: '', key: { upArrow: true } }]);
    expect(splitKeys('ll', {})).toEqual([
      { input: 'l', key: {} },
      { input: 'l', key: {} },
    ]);
    expect(splitKeys('a\r\nb\t\u007f\u0003é', {})).toEqual([
      { input: 'a', key: {} },
      { input: '', key: { return: true } },
      { input: 'b', key: {} },
      { input: '', key: { tab: true } },
      { input: '', key: { backspace: true } },
      { input: 'c', key: { ctrl: true } },
      { input: 'é', key: {} },
    ]);
  });

  it('applies every key of a chunk in turn, in any mode', () => {
    const start = reduceLogView(initialViewState({ log: 'webhook' }), { type: 'entries', entries: entries(4) });
    expect(key(start, 'll').filter.minLevel).toBe(50);
    expect(key(start, 'lll').filter.minLevel).toBeUndefined();
    let s = key(start, '/m2\rkk');
    expect(s).toMatchObject({ input: null, filter: { text: 'm2' } });
    expect(s.selected).toBe(2);
    s = key(start, 'kk\rjj');
    expect(s.detail?.msg).toBe('m2');
    expect(s.detailScroll).toBe(2);
    // Ctrl+C inside a burst quits, even while a filter is typed.
    s = key(start, '/ab\u0003');
    expect(s).toMatchObject({ quit: true, filter: { text: 'ab' } });
  });

  it('selects with up/down (k/j), opens the selected entry with enter, esc goes back; s switches logs; q quits', () => {
    let s = reduceLogView(initialViewState({ log: 'webhook' }), { type: 'entries', entries: entries(4) });
    s = key(s, '', { upArrow: true });
    expect(s.selected).toBe(3);
    s = key(key(s, 'k'), 'k');
    expect(s.selected).toBe(1);
    s = key(s, 'j');
    expect(s.selected).toBe(2);
    s = key(s, '', { return: true });
    expect(s.detail?.msg).toBe('m2');
    s = key(s, 'j');
    expect(s.detailScroll).toBe(1);
    s = key(s, '', { escape: true });
    expect(s.detail).toBeNull();
    s = key(s, 's');
    expect(s).toMatchObject({ log: 'security', entries: [], selected: null, tail: 'starting' });
    expect(key(s, 'q').quit).toBe(true);
  });

  it('windows the list: newest rows when nothing is selected, else around the selection', () => {
    expect(listWindow(100, -1, 10, 0)).toEqual({ start: 90, end: 100 });
    expect(listWindow(5, -1, 10, 0)).toEqual({ start: 0, end: 5 });
    expect(listWindow(100, 95, 10, 90)).toEqual({ start: 90, end: 100 });
    expect(listWindow(100, 85, 10, 90)).toEqual({ start: 85, end: 95 });
    expect(listWindow(100, 96, 10, 85)).toEqual({ start: 87, end: 97 });
  });
});
