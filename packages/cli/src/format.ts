/** A column of {@link formatTable}. */
export interface Column<T> {
  /** Header text (upper case by convention). */
  readonly header: string;
  /** The cell of a row; null and undefined print as `-`. */
  readonly value: (row: T) => string | number | null | undefined;
  /** Right-align (numbers). */
  readonly right?: boolean;
  /** Truncate longer cells to this many characters, ending with `…` (not with `--wide`). */
  readonly max?: number;
  /** A delivery or task id: shown as {@link shortId} (not with `--wide`). */
  readonly id?: boolean;
  /**
   * May be truncated so that the table fits {@link TABLE_WIDTH} (not with
   * `--wide`): `true` for free text, `'last'` for values that are narrowed
   * only once the free text is as narrow as it gets (ids from elsewhere).
   */
  readonly flex?: boolean | 'last';
  /** Shown only with `--wide`. */
  readonly wideOnly?: boolean;
}

/** How {@link formatTable} renders. */
export interface TableOptions {
  /** Every column, every value in full (`--wide`); otherwise the table fits {@link tableWidth} columns. */
  readonly wide?: boolean;
  /** Columns (characters) the table fits unless `wide` (default {@link tableWidth}()). */
  readonly width?: number;
}

/** The width tables fit unless `--wide`, when standard output is not a terminal or is narrower. */
export const TABLE_WIDTH = 100;

/**
 * The width, in characters, that tables fit: the terminal's when standard
 * output is a terminal wider than {@link TABLE_WIDTH}, else TABLE_WIDTH (so
 * that piped output does not depend on who runs it).
 */
export function tableWidth(stdout: { readonly isTTY?: boolean; readonly columns?: number } = process.stdout): number {
  return stdout.isTTY && stdout.columns !== undefined && stdout.columns > TABLE_WIDTH ? stdout.columns : TABLE_WIDTH;
}

/** Characters of an id that tables show, as the log view does. */
export const SHORT_ID_LENGTH = 8;

/** Narrowest a flexible column gets when a table is made to fit. */
const FLEX_MIN = 10;

// C0/C1 control characters other than tab and newline: stored data (MAS errors,
// payload fields) must not be able to drive the operator's terminal.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Replaces terminal control characters (escape sequences) in stored text with `?`. */
export function sanitize(text: string): string {
  return text.replace(CONTROL, '?');
}

/**
 * An id as tables show it: its first {@link SHORT_ID_LENGTH} characters (of
 * a GitBridge task id, those after `gbt_`, which every one shares), and a
 * replay's `:replay:<n>`. Every command that takes an id accepts it back
 * while it is unique.
 */
export function shortId(id: string): string {
  const replay = /:replay:\d+$/.exec(id);
  const base = replay ? id.slice(0, replay.index) : id;
  const head = base.slice(0, (base.startsWith('gbt_') ? 4 : 0) + SHORT_ID_LENGTH);
  return head + (replay?.[0] ?? '');
}

/** `text` cut to `width` characters, the last one `…` when cut. */
function truncate(text: string, width: number | undefined): string {
  return width !== undefined && text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text;
}

/** Makes a cell printable on one line: `-` for nothing, whitespace runs collapsed, truncated to `max`. */
function cell(v: string | number | null | undefined, max: number | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  return truncate(sanitize(String(v).replace(/\s+/g, ' ')), max);
}

/**
 * Narrows the widest flexible column, one character at a time, until the
 * table fits `limit`: free text first, `'last'` columns once the free text
 * is at its narrowest; a table that still does not fit is left so.
 */
function fitWidths<T>(widths: number[], columns: readonly Column<T>[], limit: number): void {
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const narrowest = (i: number) => Math.max(FLEX_MIN, columns[i]!.header.length);
  for (const rank of [true, 'last'] as const) {
    while (total() > limit) {
      let widest = -1;
      widths.forEach((w, i) => {
        if (columns[i]!.flex === rank && w > narrowest(i) && (widest < 0 || w > widths[widest]!)) widest = i;
      });
      if (widest < 0) break;
      widths[widest]! -= 1;
    }
  }
}

/**
 * Renders rows as an aligned plain-text table, two spaces between columns,
 * with a header line. The last column is not padded (no trailing spaces).
 * Unless `wide`, ids are shortened, `max` applies, `wideOnly` columns are
 * left out and flexible columns are truncated so that lines fit
 * `options.width` columns (default {@link tableWidth}).
 */
export function formatTable<T>(rows: readonly T[], allColumns: readonly Column<T>[], options: TableOptions = {}): string {
  const wide = options.wide ?? false;
  const columns = allColumns.filter((c) => wide || !c.wideOnly);
  const cells = rows.map((r) => columns.map((c) => {
    const v = c.value(r);
    return cell(c.id && !wide && typeof v === 'string' ? shortId(v) : v, wide ? undefined : c.max);
  }));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  if (!wide) fitWidths(widths, columns, options.width ?? tableWidth());
  const line = (values: readonly string[]): string =>
    values
      .map((raw, i) => {
        const v = truncate(raw, widths[i]);
        if (columns[i]!.right) return v.padStart(widths[i]!);
        return i === values.length - 1 ? v : v.padEnd(widths[i]!);
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
