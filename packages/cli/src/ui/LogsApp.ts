import { join } from 'node:path';
import type { Key } from 'ink';
import { logFileName, parseLogLine, type LogFilter, type LogKind } from '../log-entry.js';
import { followFile } from '../log-tail.js';
import { initialViewState, listWindow, nextMinLevel, reduceLogView, selectedIndex, visibleEntries, type ViewKey } from '../log-view.js';
import { EntryDetail } from './EntryDetail.js';
import { FilterPrompt } from './FilterPrompt.js';
import { KEY_HELP_LINES, KeyHelp } from './KeyHelp.js';
import { LogList } from './LogList.js';
import { h, Ink, React, type Element } from './runtime.js';
import { StatusBar } from './StatusBar.js';

/** Props of {@link LogsApp}. */
export interface LogsAppProps {
  /** Directory of `webhook.log` and `security.log`. */
  readonly logDir: string;
  /** The log shown first (default `webhook`; `s` switches). */
  readonly log?: LogKind;
  /** Existing last lines read first (default 200). */
  readonly lines?: number;
  /** Filters set from the command line. */
  readonly filter?: LogFilter;
  /** Entries kept in memory (default 5000). */
  readonly maxEntries?: number;
  /** Stat poll interval of the tail, ms (default 250). */
  readonly pollMs?: number;
  /** Screen lines to use (default: the terminal's, else 24). */
  readonly height?: number;
  /** Screen columns to use (default: the terminal's, else 80). */
  readonly width?: number;
}

// Status bar, prompt or notice line, key help, and one spare line: an app as
// tall as the terminal makes ink clear the screen on every update.
const CHROME_LINES = 3 + KEY_HELP_LINES;
// The list's column headings (the detail view has its title line there).
const HEADING_LINES = 1;

/** The terminal's size, re-read when it is resized. */
function useTerminalSize(): { rows: number | undefined; columns: number | undefined } {
  const { stdout } = Ink.useStdout();
  const [, redraw] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    const onResize = (): void => redraw();
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return { rows: stdout.rows, columns: stdout.columns };
}

const pickKey = (k: Key): ViewKey => ({
  upArrow: k.upArrow,
  downArrow: k.downArrow,
  pageUp: k.pageUp,
  pageDown: k.pageDown,
  home: k.home,
  end: k.end,
  return: k.return,
  escape: k.escape,
  backspace: k.backspace,
  delete: k.delete,
  ctrl: k.ctrl,
  meta: k.meta,
  tab: k.tab,
});

/**
 * The `gitbridge logs` TUI: tails `<logDir>/webhook.log` (or `security.log`)
 * and shows a status bar, column headings, the newest entries that fit and
 * the key help. Keys: `/` text filter, `l` minimum level, `e` event,
 * `r` repository, `d` delivery id, `c` clear filters, space pause/resume,
 * ↑↓ (k j) PgUp PgDn g Home select (G End esc: follow the newest again),
 * enter the selected entry's whole JSON (esc back), `s` the other log, `q`
 * quit. Every key of a burst (fast typing, a paste) is applied in turn.
 */
export function LogsApp(props: LogsAppProps): Element {
  const { exit } = Ink.useApp();
  const size = useTerminalSize();
  const [state, dispatch] = React.useReducer(reduceLogView, props, (p) =>
    initialViewState({ log: p.log ?? 'webhook', filter: p.filter, maxEntries: p.maxEntries }),
  );
  const path = join(props.logDir, logFileName(state.log));
  const { lines, pollMs } = props;

  React.useEffect(() => {
    let active = true;
    let seq = 0;
    const tail = followFile(
      path,
      (ev) => {
        if (!active) return;
        if (ev.type === 'lines') dispatch({ type: 'entries', entries: ev.lines.map((l) => parseLogLine(l, seq++)) });
        else dispatch({ type: 'tail', event: ev });
      },
      { lines, pollMs },
    );
    return () => {
      active = false;
      void tail.close();
    };
    // `state.log` is in `path`; switching logs starts a fresh tail (and state).
  }, [path, lines, pollMs]);

  React.useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);

  // A pseudo-terminal without a size reports 0 rows and columns.
  const height = Math.max(CHROME_LINES + HEADING_LINES + 1, props.height ?? (size.rows || 24));
  const width = Math.max(20, props.width ?? (size.columns || 80));
  const bodyHeight = height - CHROME_LINES;
  const listHeight = Math.max(1, bodyHeight - HEADING_LINES);

  // One dispatch per `useInput` call, however many keys its input holds: the
  // reducer applies each to the state the previous one left.
  Ink.useInput(
    React.useCallback((input: string, key: Key) => dispatch({ type: 'key', input, key: pickKey(key), page: Math.max(1, listHeight - 1) }), [listHeight]),
  );

  const list = React.useMemo(() => visibleEntries(state), [state.entries, state.filter]);
  const at = selectedIndex(state, list);
  const top = React.useRef(0);
  const win = listWindow(list.length, at, listHeight, top.current);
  top.current = win.start;

  const mode = state.input !== null ? 'input' : state.detail !== null ? 'detail' : 'list';
  const file = logFileName(state.log);
  const empty =
    state.tail === 'waiting'
      ? `${path} does not exist yet: waiting for gitbridged to write it…`
      : state.entries.length > 0
        ? 'No entries match the filters (c clears them).'
        : state.tail === 'following'
          ? `No entries in ${path} yet.`
          : `Opening ${path}…`;

  return h(
    Ink.Box,
    { flexDirection: 'column', width },
    h(StatusBar, {
      file,
      tail: state.tail,
      paused: state.paused,
      holding: at >= 0 ? list.length - 1 - at : null,
      shown: list.length,
      total: state.entries.length,
      buffered: state.buffered.length,
      dropped: state.dropped,
      filter: state.filter,
    }),
    state.detail !== null
      ? h(EntryDetail, { entry: state.detail, scroll: state.detailScroll, height: bodyHeight, width })
      : h(LogList, { entries: list.slice(win.start, win.end), selected: at >= 0 ? state.selected : null, log: state.log, height: bodyHeight, width, empty }),
    state.input !== null
      ? h(FilterPrompt, { field: state.input.field, value: state.filter[state.input.field] ?? '' })
      : h(Ink.Text, { color: 'yellow', wrap: 'truncate-end' }, state.notice ?? ' '),
    h(KeyHelp, { mode, log: state.log, nextLevel: nextMinLevel(list) }),
  );
}

/** What switches a terminal to its alternate screen (the view draws there) and back to the main one. */
export const ALTERNATE_SCREEN = { enter: '\u001B[?1049h', leave: '\u001B[?1049l' } as const;

/**
 * Switches `stdout` to its alternate screen when it is a terminal, and
 * returns what switches it back (once, however often it is called). Until
 * then, the process's exit (an uncaught error, `process.exit`) switches back
 * too, so the shell's screen is never left hidden. Not a terminal: nothing is
 * written, and the returned function does nothing.
 */
export function enterAlternateScreen(stdout: NodeJS.WriteStream = process.stdout): () => void {
  if (stdout.isTTY !== true) return () => {};
  let inside = true;
  const leave = (): void => {
    if (!inside) return;
    inside = false;
    process.off('exit', leave);
    stdout.write(ALTERNATE_SCREEN.leave);
  };
  stdout.write(ALTERNATE_SCREEN.enter);
  process.on('exit', leave);
  return leave;
}

/**
 * Draws {@link LogsApp} on the terminal's alternate screen and resolves when
 * the user quits (`q`, or Ctrl+C), or on SIGINT or SIGTERM; the screen as it
 * was before comes back in every case, an error included.
 */
export async function runLogsTui(props: LogsAppProps): Promise<void> {
  const leave = enterAlternateScreen();
  try {
    const app = Ink.render(h(LogsApp, props), { exitOnCtrlC: true });
    // Without these, a signal would end the process before the screen is switched back.
    const stop = (): void => app.unmount();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      await app.waitUntilExit();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  } finally {
    leave();
  }
}
