import { sanitize } from './format.js';

/**
 * Parsing, filtering and one-line rendering of gitbridged's log lines (pino
 * JSON, one object per line). Pure functions, shared by the plain output and
 * the TUI of `gitbridge logs`.
 */

/** Which of the daemon's two logs: `webhook.log` or `security.log`. */
export type LogKind = 'webhook' | 'security';

/** The file name of a log kind inside the log directory. */
export function logFileName(kind: LogKind): string {
  return kind === 'security' ? 'security.log' : 'webhook.log';
}

/** pino's level names and numbers, lowest first. */
export const LEVELS = [
  { name: 'trace', value: 10 },
  { name: 'debug', value: 20 },
  { name: 'info', value: 30 },
  { name: 'warn', value: 40 },
  { name: 'error', value: 50 },
  { name: 'fatal', value: 60 },
] as const;

/** A pino level name. */
export type LevelName = (typeof LEVELS)[number]['name'];

/**
 * Parses a level given as a name (`warn`, case-insensitive; `warning` too) or
 * a number (`40`). Returns undefined when it is neither.
 */
export function parseLevel(value: string): number | undefined {
  const v = value.trim().toLowerCase();
  if (/^\d{1,3}$/.test(v)) return Number(v);
  const name = v === 'warning' ? 'warn' : v;
  return LEVELS.find((l) => l.name === name)?.value;
}

/**
 * The name of a numeric level: the highest pino level not above it (`35` →
 * `info`), `trace` below 10, and `-` when there is none.
 */
export function levelName(level: number | undefined): string {
  if (level === undefined) return '-';
  let name: string = 'trace';
  for (const l of LEVELS) if (level >= l.value) name = l.name;
  return name;
}

/** The colour of a level in the TUI: trace/debug grey, info green, warn yellow, error/fatal red. */
export function levelColor(level: number | undefined): 'gray' | 'green' | 'yellow' | 'red' {
  if (level === undefined || level < 30) return 'gray';
  if (level < 40) return 'green';
  if (level < 50) return 'yellow';
  return 'red';
}

/** One line of a log: the raw text and, when it is a JSON object, its fields. */
export interface LogEntry {
  /** Position in the stream of lines read since the tail started (increasing, unique). */
  readonly seq: number;
  /** The line exactly as in the file (without the newline). */
  readonly raw: string;
  /** The parsed object, or undefined when the line is not a JSON object. */
  readonly json: Readonly<Record<string, unknown>> | undefined;
  /** pino's numeric `level`. */
  readonly level: number | undefined;
  /** `time` as an ISO-8601 string (pino's epoch milliseconds are converted). */
  readonly time: string | undefined;
  readonly msg: string | undefined;
  readonly deliveryId: string | undefined;
  /** The GitHub event name (`X-GitHub-Event`). */
  readonly event: string | undefined;
  readonly action: string | undefined;
  /** `owner/name`. */
  readonly repo: string | undefined;
  /** Security log: what happened (`signature_failed`, `address_denied`, `rate_limited`, …). */
  readonly kind: string | undefined;
  /** Security log: the client address. */
  readonly ip: string | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/** Parses one log line; a line that is not a JSON object becomes a raw text entry (no fields). */
export function parseLogLine(raw: string, seq: number): LogEntry {
  let json: Record<string, unknown> | undefined;
  const t = raw.trimStart();
  if (t.startsWith('{')) {
    try {
      const parsed = JSON.parse(t) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      // not JSON: kept as text
    }
  }
  if (json === undefined) {
    return { seq, raw, json, level: undefined, time: undefined, msg: undefined, deliveryId: undefined, event: undefined, action: undefined, repo: undefined, kind: undefined, ip: undefined };
  }
  const time = typeof json.time === 'number' && Number.isFinite(json.time) ? new Date(json.time).toISOString() : str(json.time);
  return {
    seq,
    raw,
    json,
    level: typeof json.level === 'number' ? json.level : typeof json.level === 'string' ? parseLevel(json.level) : undefined,
    time,
    msg: str(json.msg),
    deliveryId: str(json.deliveryId),
    event: str(json.event),
    action: str(json.action),
    repo: str(json.repo),
    kind: str(json.kind),
    ip: str(json.ip),
  };
}

/** The filters of `gitbridge logs` (flags, and the TUI's filter keys). Empty strings count as unset. */
export interface LogFilter {
  /** Minimum level (inclusive); lines without a level are hidden when it is above `trace`. */
  readonly minLevel?: number | undefined;
  /** Case-insensitive substring of `event.action` (or of `kind` in the security log). */
  readonly event?: string | undefined;
  /** Case-insensitive substring of `repo`. */
  readonly repo?: string | undefined;
  /** Case-insensitive substring (usually a prefix) of `deliveryId`. */
  readonly delivery?: string | undefined;
  /** Case-insensitive substring of the whole raw line. */
  readonly text?: string | undefined;
}

const has = (field: string | undefined, needle: string | undefined): boolean =>
  !needle || (field !== undefined && field.toLowerCase().includes(needle.toLowerCase()));

/** What the event column shows: `event.action`, else `event`, else the security `kind`. */
export function eventLabel(e: LogEntry): string | undefined {
  if (e.event !== undefined) return e.action !== undefined ? `${e.event}.${e.action}` : e.event;
  return e.kind;
}

/** Whether an entry passes every filter that is set. */
export function matchesFilter(e: LogEntry, f: LogFilter): boolean {
  if (f.minLevel !== undefined && f.minLevel > 10 && (e.level === undefined || e.level < f.minLevel)) return false;
  if (f.event && !(has(eventLabel(e), f.event) || has(e.kind, f.event))) return false;
  return has(e.repo, f.repo) && has(e.deliveryId, f.delivery) && has(e.raw, f.text);
}

/** Whether any filter is set. */
export function isFilterActive(f: LogFilter): boolean {
  return (f.minLevel !== undefined && f.minLevel > 10) || !!f.event || !!f.repo || !!f.delivery || !!f.text;
}

/** The active filters as short text for a status line: `level>=warn event~push`, or `none`. */
export function describeFilter(f: LogFilter): string {
  const parts: string[] = [];
  if (f.minLevel !== undefined && f.minLevel > 10) parts.push(`level>=${levelName(f.minLevel)}`);
  if (f.event) parts.push(`event~${f.event}`);
  if (f.repo) parts.push(`repo~${f.repo}`);
  if (f.delivery) parts.push(`delivery~${f.delivery}`);
  if (f.text) parts.push(`text~"${f.text}"`);
  return parts.length ? sanitize(parts.join(' ')) : 'none';
}

/** The columns of one list row in the TUI, already made safe for the terminal. */
export interface RowParts {
  /** Time of day, `HH:MM:SS.mmm` (as written, UTC for pino's ISO time), or blanks. */
  readonly time: string;
  /** Level name, upper case, padded to 5. */
  readonly level: string;
  /** The first 8 characters of the delivery id, or `-`. */
  readonly delivery: string;
  /** `event.action` (or the security `kind`), or `-`. */
  readonly what: string;
  /** `repo` (or the security `ip`), or `-`. */
  readonly where: string;
  /** The message; for a non-JSON line, the whole line. */
  readonly msg: string;
}

const oneLine = (s: string): string => sanitize(s.replace(/\s+/g, ' '));

/** Splits an entry into the columns the TUI shows. */
export function rowParts(e: LogEntry): RowParts {
  const tod = e.time !== undefined ? /T(\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)/.exec(e.time)?.[1] : undefined;
  return {
    time: (tod ?? (e.time !== undefined ? e.time.slice(0, 12) : '')).padEnd(12),
    level: (e.json === undefined ? 'TEXT' : levelName(e.level).toUpperCase()).padEnd(5),
    delivery: oneLine(e.deliveryId?.slice(0, 8) ?? '-').padEnd(8),
    what: oneLine(eventLabel(e) ?? '-'),
    where: oneLine(e.repo ?? e.ip ?? '-'),
    msg: oneLine(e.json === undefined ? e.raw : (e.msg ?? '')),
  };
}

/** The whole entry for the detail view: pretty-printed JSON (2 spaces), or the raw line; control characters replaced. */
export function entryDetail(e: LogEntry): string {
  return sanitize(e.json !== undefined ? JSON.stringify(e.json, null, 2) : e.raw);
}
