import { describeFilter, type LogFilter } from '../log-entry.js';
import type { TailState } from '../log-view.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link StatusBar}. */
export interface StatusBarProps {
  /** The file being tailed. */
  readonly file: string;
  readonly tail: TailState;
  readonly paused: boolean;
  /**
   * When a selected row holds the view (the list stays put as entries come):
   * how many shown entries are newer than it. Null when the view follows the
   * newest entries.
   */
  readonly holding: number | null;
  /** Entries that pass the filters. */
  readonly shown: number;
  /** Entries kept in memory. */
  readonly total: number;
  /** Entries that arrived while paused. */
  readonly buffered: number;
  /** Entries let go to bound memory. */
  readonly dropped: number;
  readonly filter: LogFilter;
}

/**
 * One line: the file; whether the view follows the newest entries, is paused
 * (and how many new entries wait), holds at a selected row (and how many
 * entries are below it) or waits for the file; the counts shown/total; and
 * the filters. "following" only when new entries scroll into view.
 */
export function StatusBar(props: StatusBarProps): Element {
  const state = props.paused
    ? h(Ink.Text, { color: 'yellow', bold: true }, `PAUSED +${props.buffered} new`)
    : props.tail === 'waiting'
      ? h(Ink.Text, { color: 'yellow' }, 'waiting for the file to appear')
      : props.holding !== null
        ? h(Ink.Text, { color: 'yellow', bold: true }, `HOLDING +${props.holding} newer (End follows)`)
        : h(Ink.Text, { color: 'green' }, props.tail === 'following' ? 'following' : 'opening');
  const filters = describeFilter(props.filter);
  return h(
    Ink.Text,
    { wrap: 'truncate-end' },
    h(Ink.Text, { bold: true }, props.file),
    ' · ',
    state,
    ` · ${props.shown}/${props.total} shown`,
    props.dropped > 0 ? ` (${props.dropped} older dropped)` : '',
    ' · filters: ',
    h(Ink.Text, { color: filters === 'none' ? undefined : 'cyan' }, filters),
  );
}
