import { entryDetail, levelColor, levelName, type LogEntry } from '../log-entry.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link EntryDetail}. */
export interface EntryDetailProps {
  readonly entry: LogEntry;
  /** First line shown (clamped to the text). */
  readonly scroll: number;
  /** Lines available, the title included. */
  readonly height: number;
  /** Columns available: longer lines are wrapped, so nothing is hidden. */
  readonly width: number;
}

/** Lines of `text` hard-wrapped at `width` characters. */
export function wrapLines(text: string, width: number): string[] {
  const w = Math.max(10, width);
  return text.split('\n').flatMap((line) => {
    if (line.length <= w) return [line];
    const out: string[] = [];
    for (let i = 0; i < line.length; i += w) out.push(line.slice(i, i + w));
    return out;
  });
}

/** One entry's whole JSON, pretty-printed (a non-JSON line as it is), scrollable. */
export function EntryDetail({ entry, scroll, height, width }: EntryDetailProps): Element {
  const lines = wrapLines(entryDetail(entry), width);
  const rows = Math.max(1, height - 1);
  const top = Math.min(Math.max(0, scroll), Math.max(0, lines.length - rows));
  const end = Math.min(lines.length, top + rows);
  return h(
    Ink.Box,
    { flexDirection: 'column', height },
    h(
      Ink.Text,
      { wrap: 'truncate-end' },
      h(Ink.Text, { color: levelColor(entry.level), bold: true }, entry.json === undefined ? 'TEXT' : levelName(entry.level).toUpperCase()),
      ` ${entry.time ?? ''} · lines ${lines.length === 0 ? 0 : top + 1}-${end} of ${lines.length}`,
    ),
    ...lines.slice(top, end).map((l, i) => h(Ink.Text, { key: top + i }, l === '' ? ' ' : l)),
  );
}
