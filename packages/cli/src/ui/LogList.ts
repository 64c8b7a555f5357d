import { rowParts, type LogEntry, type LogKind } from '../log-entry.js';
import { columnTitles, LogHeadings, LogRow } from './LogRow.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link LogList}. */
export interface LogListProps {
  /** The entries to draw, oldest first (already cut to what fits). */
  readonly entries: readonly LogEntry[];
  /** `seq` of the selected entry, or null. */
  readonly selected: number | null;
  /** The log shown: names the columns. */
  readonly log: LogKind;
  /** Lines the list occupies, its headings included (it is padded to this height so the layout does not jump). */
  readonly height: number;
  /** Columns available (the event and repository columns shrink on narrow terminals). */
  readonly width: number;
  /** Shown when there are no entries. */
  readonly empty: string;
}

/**
 * Widths of the event and repository columns: as wide as the longest value
 * shown (or the column's heading in `log`), but at most 26 and 22 characters
 * and about a fifth of the screen each, so the message keeps room on an
 * 80-column terminal.
 */
export function columnWidths(entries: readonly LogEntry[], width: number, log: LogKind): { what: number; where: number } {
  const titles = columnTitles(log);
  let what = titles.what.length;
  let where = titles.where.length;
  for (const e of entries) {
    const p = rowParts(e);
    what = Math.max(what, p.what.length);
    where = Math.max(where, p.where.length);
  }
  return { what: Math.min(what, 26, Math.max(8, Math.floor(width * 0.22))), where: Math.min(where, 22, Math.max(8, Math.floor(width * 0.2))) };
}

/** Column headings, then the entries, one per line, newest at the bottom. */
export function LogList({ entries, selected, log, height, width, empty }: LogListProps): Element {
  const cols = columnWidths(entries, width, log);
  return h(
    Ink.Box,
    { flexDirection: 'column', height },
    h(LogHeadings, { log, whatWidth: cols.what, whereWidth: cols.where }),
    entries.length === 0
      ? h(Ink.Text, { dimColor: true, wrap: 'truncate-end' }, empty)
      : entries.map((e) => h(LogRow, { key: e.seq, entry: e, selected: e.seq === selected, whatWidth: cols.what, whereWidth: cols.where })),
  );
}
