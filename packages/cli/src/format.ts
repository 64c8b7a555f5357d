/** A column of {@link formatTable}. */
export interface Column<T> {
  /** Header text (upper case by convention). */
  readonly header: string;
  /** The cell of a row; null and undefined print as `-`. */
  readonly value: (row: T) => string | number | null | undefined;
  /** Right-align (numbers). */
  readonly right?: boolean;
  /** Truncate longer cells to this many characters, ending with `…`. */
  readonly max?: number;
}

// C0/C1 control characters other than tab and newline: stored data (MAS errors,
// payload fields) must not be able to drive the operator's terminal.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Replaces terminal control characters (escape sequences) in stored text with `?`. */
export function sanitize(text: string): string {
  return text.replace(CONTROL, '?');
}

/** Makes a cell printable on one line: `-` for nothing, whitespace runs collapsed, truncated to `max`. */
function cell(v: string | number | null | undefined, max: number | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  const s = sanitize(String(v).replace(/\s+/g, ' '));
  return max !== undefined && s.length > max ? `${s.slice(0, Math.max(1, max - 1))}…` : s;
}

/**
 * Renders rows as an aligned plain-text table, two spaces between columns,
 * with a header line. The last column is not padded (no trailing spaces).
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        if (columns[i]!.right) return v.padStart(widths[i]!);
        return last ? v : v.padEnd(widths[i]!);
      })
      .join('  ');
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/**
 * Renders `label: value` pairs with the values aligned; null and undefined
 * print as `-`; a multi-line value continues indented under its first line.
 */
export function formatFields(pairs: readonly (readonly [string, string | number | null | undefined])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  const indent = ' '.repeat(width + 2);
  return pairs
    .map(([k, v]) => {
      const text = v === null || v === undefined || v === '' ? '-' : sanitize(String(v)).replace(/\r?\n/g, `\n${indent}`);
      return `${`${k}:`.padEnd(width)}  ${text}`;
    })
    .join('\n') + '\n';
}

/** An ISO-8601 time without milliseconds (`2025-01-31T12:00:00Z`), for tables. */
export function shortTime(iso: string | null | undefined): string | null {
  if (!iso) return null;
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** A byte count for people: `512 B`, `24.5 kB`, `3.1 MB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/** Writes a value to stdout as indented JSON followed by a newline. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Parses JSON text, returning the text itself when it is not JSON (stored payloads, results, response bodies). */
export function parseJsonOrText(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
