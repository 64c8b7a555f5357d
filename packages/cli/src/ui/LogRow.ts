import { levelColor, rowParts, type LogEntry, type LogKind } from '../log-entry.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link LogRow}. */
export interface LogRowProps {
  readonly entry: LogEntry;
  /** Drawn in inverse video. */
  readonly selected: boolean;
  /** Width of the `event.action` column. */
  readonly whatWidth: number;
  /** Width of the repository column. */
  readonly whereWidth: number;
}

/** `s` cut or padded to exactly `width` characters (a cut ends with `…`). */
function fit(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width);
}

/**
 * One entry on one line: time, level (coloured: trace/debug grey, info green,
 * warn yellow, error/fatal red), the delivery id's first 8 characters,
 * `event.action` (or the security `kind`), repository (or `ip`) and message.
 * Longer lines are cut at the terminal's edge.
 */
export function LogRow({ entry, selected, whatWidth, whereWidth }: LogRowProps): Element {
  const p = rowParts(entry);
  return h(
    Ink.Text,
    { wrap: 'truncate-end', inverse: selected },
    h(Ink.Text, { dimColor: true }, p.time),
    ' ',
    h(Ink.Text, { color: levelColor(entry.level), bold: (entry.level ?? 0) >= 50 }, p.level),
    ' ',
    h(Ink.Text, { color: 'cyan' }, p.delivery),
    ' ',
    fit(p.what, whatWidth),
    ' ',
    h(Ink.Text, { color: 'magenta' }, fit(p.where, whereWidth)),
    ' ',
    p.msg,
  );
}

/** The headings of the event and repository columns: what {@link rowParts} puts there in each log. */
export function columnTitles(log: LogKind): { what: string; where: string } {
  // Security entries carry `kind` and `ip` (rate limiting names the repository instead).
  return log === 'security' ? { what: 'KIND', where: 'IP/REPO' } : { what: 'EVENT', where: 'REPO' };
}

/** Props of {@link LogHeadings}. */
export interface LogHeadingsProps {
  readonly log: LogKind;
  /** Width of the `event.action` column, as given to {@link LogRow}. */
  readonly whatWidth: number;
  /** Width of the repository column, as given to {@link LogRow}. */
  readonly whereWidth: number;
}

/** The column headings above the rows of {@link LogRow}, aligned with them. */
export function LogHeadings({ log, whatWidth, whereWidth }: LogHeadingsProps): Element {
  const titles = columnTitles(log);
  const cells = ['TIME'.padEnd(12), 'LEVEL', 'DELIVERY', fit(titles.what, whatWidth), fit(titles.where, whereWidth), 'MESSAGE'];
  return h(Ink.Text, { wrap: 'truncate-end', bold: true, dimColor: true }, cells.join(' '));
}
