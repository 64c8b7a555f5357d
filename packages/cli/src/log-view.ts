import { LEVELS, matchesFilter, type LogEntry, type LogFilter, type LogKind } from './log-entry.js';
import type { TailEvent } from './log-tail.js';

/**
 * The state of the `gitbridge logs` TUI and the pure reducer that applies
 * tail events and key presses to it. No ink, no React: the components in
 * `ui/` only draw this state.
 */

/** The filters that take typed text. */
export type FilterField = 'text' | 'event' | 'repo' | 'delivery';

/** The keys the TUI reacts to, as ink's `useInput` reports them (a subset of ink's `Key`). */
export interface ViewKey {
  readonly upArrow?: boolean;
  readonly downArrow?: boolean;
  readonly pageUp?: boolean;
  readonly pageDown?: boolean;
  readonly home?: boolean;
  readonly end?: boolean;
  readonly return?: boolean;
  readonly escape?: boolean;
  readonly backspace?: boolean;
  readonly delete?: boolean;
  readonly ctrl?: boolean;
  readonly meta?: boolean;
  readonly tab?: boolean;
}

/** What the tail of the current file is doing, for the status bar. */
export type TailState = 'starting' | 'waiting' | 'following';

/** Everything the TUI shows. */
export interface LogViewState {
  /** The log being tailed. */
  readonly log: LogKind;
  /** Entries kept in memory, oldest first (at most `maxEntries`). */
  readonly entries: readonly LogEntry[];
  /** Entries that arrived while paused, shown on resume. */
  readonly buffered: readonly LogEntry[];
  /** Entries let go to stay within `maxEntries`. */
  readonly dropped: number;
  readonly maxEntries: number;
  readonly paused: boolean;
  readonly filter: LogFilter;
  /** The filter being typed, and its value before (restored by esc), or null. */
  readonly input: { readonly field: FilterField; readonly previous: string } | null;
  /** `seq` of the selected entry; null: none, the list follows the newest. */
  readonly selected: number | null;
  /** The entry whose whole JSON is shown, or null (the list). */
  readonly detail: LogEntry | null;
  /** First line of the detail view shown. */
  readonly detailScroll: number;
  readonly tail: TailState;
  /** The last noteworthy tail event (rotation, truncation, read error), or null. */
  readonly notice: string | null;
  /** Set by `q`: the app exits. */
  readonly quit: boolean;
}

/** Something that changes the view. */
export type LogViewAction =
  | { readonly type: 'entries'; readonly entries: readonly LogEntry[] }
  | { readonly type: 'tail'; readonly event: Exclude<TailEvent, { type: 'lines' }> }
  /**
   * One `useInput` call: a key, or several typed together (each applied in
   * turn). `page`: how many list rows (or detail lines) fit, for page up/down.
   */
  | { readonly type: 'key'; readonly input: string; readonly key: ViewKey; readonly page: number };

/** Options of {@link initialViewState}. */
export interface ViewOptions {
  readonly log: LogKind;
  readonly filter?: LogFilter;
  /** Entries kept in memory (default 5000). */
  readonly maxEntries?: number;
}

/** The default bound on entries kept in memory. */
export const DEFAULT_MAX_ENTRIES = 5000;

/** The state before anything was read. */
export function initialViewState(options: ViewOptions): LogViewState {
  return {
    log: options.log,
    entries: [],
    buffered: [],
    dropped: 0,
    maxEntries: Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES),
    paused: false,
    filter: options.filter ?? {},
    input: null,
    selected: null,
    detail: null,
    detailScroll: 0,
    tail: 'starting',
    notice: null,
    quit: false,
  };
}

/** The entries that pass the filter, oldest first. */
export function visibleEntries(state: LogViewState): LogEntry[] {
  return state.entries.filter((e) => matchesFilter(e, state.filter));
}

/** Index of the selected entry in `list`, or -1 when nothing (or something filtered out) is selected. */
export function selectedIndex(state: LogViewState, list: readonly LogEntry[]): number {
  if (state.selected === null) return -1;
  // Entries are in seq order: binary search.
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const seq = list[mid]!.seq;
    if (seq === state.selected) return mid;
    if (seq < state.selected) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The slice of `count` list rows to draw: the newest when nothing is
 * selected, else a window that contains the selection and moves as little
 * as possible from `previousTop`.
 */
export function listWindow(length: number, selected: number, count: number, previousTop: number): { start: number; end: number } {
  const rows = Math.max(1, count);
  if (selected < 0) return { start: Math.max(0, length - rows), end: length };
  let start = Math.min(Math.max(0, previousTop), Math.max(0, length - rows));
  if (selected < start) start = selected;
  if (selected >= start + rows) start = selected - rows + 1;
  return { start, end: Math.min(length, start + rows) };
}

const bound = (entries: readonly LogEntry[], max: number): { kept: readonly LogEntry[]; dropped: number } =>
  entries.length > max ? { kept: entries.slice(entries.length - max), dropped: entries.length - max } : { kept: entries, dropped: 0 };

/**
 * The minimum level `l` sets next: the lowest of debug, info, warn, error and
 * fatal that hides at least one of the `shown` entries (those that pass every
 * filter now), so each press changes what is shown; when none would (the
 * highest level is reached, or nothing is shown), undefined: all levels
 * again. A step may leave nothing shown (error+ before any error came), so
 * that the view can wait for such lines. With the daemon's info, warn and
 * error lines the cycle is all → warn+ → error+ → fatal+ → all; a line
 * without a level (not JSON) is hidden by the first step, debug+.
 */
export function nextMinLevel(shown: readonly LogEntry[]): number | undefined {
  let lowest = Infinity;
  for (const e of shown) lowest = Math.min(lowest, e.level ?? -Infinity);
  // trace (10) hides nothing: a minimum of 10 is the same as none.
  return LEVELS.find((l) => l.value > 10 && l.value > lowest)?.value;
}

/** One key press: what ink's `useInput` reports for a single key. */
export interface KeyPress {
  readonly input: string;
  readonly key: ViewKey;
}

const CONTROL_KEYS: Readonly<Record<string, ViewKey>> = { '\r': { return: true }, '\n': { return: true }, '\t': { tab: true }, '\u007f': { backspace: true }, '\b': { backspace: true }, '\u001b': { escape: true } };

/**
 * The key presses in one `useInput` call. A terminal hands over keys typed
 * in quick succession (or pasted) in one read, and ink passes such a chunk
 * as one `input` string ("ll", "fail\r"): it is split into one press per
 * character, with enter (\r, \n or \r\n), tab, backspace and Ctrl+letter
 * recognised as ink does for a single key. A single key (or an escape
 * sequence ink has parsed, with its `key` flags) is returned as it is.
 */
export function splitKeys(input: string, key: ViewKey): KeyPress[] {
  if (Array.from(input).length <= 1) return [{ input, key }];
  // A pasted line break may be \r\n: one enter.
  return Array.from(input.replace(/\r\n/g, '\r'), (ch) => {
    const control = CONTROL_KEYS[ch];
    if (control !== undefined) return { input: '', key: control };
    const code = ch.codePointAt(0)!;
    // Ctrl+A … Ctrl+Z: ink reports the letter with `ctrl`.
    if (code >= 1 && code <= 26) return { input: String.fromCharCode(code + 96), key: { ctrl: true } };
    return { input: ch, key: {} };
  });
}

const FILTER_KEYS: Readonly<Record<string, FilterField>> = { '/': 'text', e: 'event', r: 'repo', d: 'delivery' };

// Control characters never go into a filter (pasted text may carry them).
const printable = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');

function withFilter(state: LogViewState, field: FilterField, value: string): LogViewState {
  return { ...state, filter: { ...state.filter, [field]: value === '' ? undefined : value } };
}

function onInputKey(state: LogViewState, input: string, key: ViewKey): LogViewState {
  const editing = state.input!;
  if (key.escape) return { ...withFilter(state, editing.field, editing.previous), input: null };
  if (key.return) return { ...state, input: null };
  const current = state.filter[editing.field] ?? '';
  if (key.backspace || key.delete) return withFilter(state, editing.field, current.slice(0, -1));
  if (key.ctrl || key.meta || key.tab || key.upArrow || key.downArrow) return state;
  const text = printable(input);
  return text ? withFilter(state, editing.field, current + text) : state;
}

function onDetailKey(state: LogViewState, input: string, key: ViewKey, page: number): LogViewState {
  if (key.escape || key.return) return { ...state, detail: null, detailScroll: 0 };
  if (input === 'q') return { ...state, quit: true };
  let scroll = state.detailScroll;
  if (key.upArrow || input === 'k') scroll -= 1;
  else if (key.downArrow || input === 'j') scroll += 1;
  else if (key.pageUp) scroll -= page;
  else if (key.pageDown || input === ' ') scroll += page;
  else if (key.home || input === 'g') scroll = 0;
  else return state;
  // The upper bound depends on the screen: the view clamps it when drawing.
  return { ...state, detailScroll: Math.max(0, scroll) };
}

function onListKey(state: LogViewState, input: string, key: ViewKey, page: number): LogViewState {
  const field = FILTER_KEYS[input];
  if (field !== undefined && !key.ctrl && !key.meta) return { ...state, input: { field, previous: state.filter[field] ?? '' } };
  switch (input) {
    case 'q':
      return { ...state, quit: true };
    case 'l':
      return { ...state, filter: { ...state.filter, minLevel: nextMinLevel(visibleEntries(state)) } };
    case 'c':
      return { ...state, filter: {} };
    case ' ': {
      if (!state.paused) return { ...state, paused: true };
      const { kept, dropped } = bound([...state.entries, ...state.buffered], state.maxEntries);
      return { ...state, paused: false, entries: kept, buffered: [], dropped: state.dropped + dropped };
    }
    case 's': {
      const fresh = initialViewState({ log: state.log === 'webhook' ? 'security' : 'webhook', filter: state.filter, maxEntries: state.maxEntries });
      return { ...fresh, paused: state.paused };
    }
    default:
  }
  const list = visibleEntries(state);
  const at = selectedIndex(state, list);
  const select = (i: number): LogViewState => {
    const e = list[Math.min(Math.max(0, i), list.length - 1)];
    return e === undefined ? state : { ...state, selected: e.seq };
  };
  if (key.upArrow || input === 'k') return select(at < 0 ? list.length - 1 : at - 1);
  if (key.downArrow || input === 'j') return at < 0 ? select(list.length - 1) : select(at + 1);
  if (key.pageUp) return select(at < 0 ? list.length - 1 - page : at - page);
  if (key.pageDown) return at < 0 ? state : select(at + page);
  if (key.home || input === 'g') return select(0);
  if (key.end || input === 'G' || key.escape) return { ...state, selected: null };
  if (key.return) {
    const e = at >= 0 ? list[at] : list[list.length - 1];
    return e === undefined ? state : { ...state, selected: e.seq, detail: e, detailScroll: 0 };
  }
  return state;
}

function onKey(state: LogViewState, { input, key }: KeyPress, page: number): LogViewState {
  // Ctrl+C alone is ink's (it exits); inside a burst it reaches here.
  if (key.ctrl && input === 'c') return { ...state, quit: true };
  if (state.input !== null) return onInputKey(state, input, key);
  if (state.detail !== null) return onDetailKey(state, input, key, page);
  return onListKey(state, input, key, page);
}

/** Applies a tail event or a key press. Pure: returns a new state (or the same one when nothing changed). */
export function reduceLogView(state: LogViewState, action: LogViewAction): LogViewState {
  switch (action.type) {
    case 'entries': {
      if (action.entries.length === 0) return state;
      if (state.paused) {
        const { kept, dropped } = bound([...state.buffered, ...action.entries], state.maxEntries);
        return { ...state, buffered: kept, dropped: state.dropped + dropped };
      }
      const { kept, dropped } = bound([...state.entries, ...action.entries], state.maxEntries);
      return { ...state, entries: kept, dropped: state.dropped + dropped };
    }
    case 'tail': {
      const ev = action.event;
      const now = new Date().toISOString().slice(11, 19);
      if (ev.type === 'waiting') return { ...state, tail: 'waiting' };
      if (ev.type === 'following') return { ...state, tail: 'following' };
      if (ev.type === 'rotated') return { ...state, tail: 'following', notice: `file rotated at ${now}, reading the new one` };
      if (ev.type === 'truncated') return { ...state, notice: `file truncated at ${now}, reading from its top` };
      return { ...state, notice: `read error at ${now}: ${ev.message}` };
    }
    case 'key':
      // Each key of a burst applies to the state the one before it left.
      return splitKeys(action.input, action.key).reduce((s, press) => onKey(s, press, action.page), state);
    default:
      return state;
  }
}
