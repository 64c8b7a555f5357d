import { InvalidArgumentError, Option, type Command } from 'commander';
import type { DeliveryState, TaskStatus } from '@gitbridge/core';

/**
 * Parses a positive integer option value (`--limit`, `--timeout`); commander
 * turns the thrown error into a usage error (exit 2).
 */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return n;
}

const RELATIVE = /^(\d+)\s*(s|m|h|d|w)$/i;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An age such as `30m`, `2h`, `3d` in ms, or undefined when `value` is not one. */
function relativeMs(value: string): number | undefined {
  const rel = RELATIVE.exec(value.trim());
  return rel ? Number(rel[1]) * (UNIT_MS[rel[2]!.toLowerCase()] ?? 0) : undefined;
}

/**
 * Parses a duration option (`recover --since`): a positive number followed
 * by s, m, h, d or w (`30m`, `2h`, `3d`). @returns ms
 */
export function parseDuration(value: string): number {
  const ms = relativeMs(value);
  if (ms === undefined || ms <= 0 || !Number.isSafeInteger(ms)) throw new InvalidArgumentError('must be a duration such as 30m, 2h or 3d');
  return ms;
}

/**
 * Parses `--since`: an ISO-8601 date or time (`2025-01-31`,
 * `2025-01-31T12:00:00Z`) or an age such as `30m`, `2h`, `7d`. Returns the
 * ISO-8601 UTC form the store compares `created_at` against.
 *
 * @param now the reference time for ages (ms since epoch)
 */
export function parseSince(value: string, now: number = Date.now()): string {
  const age = relativeMs(value);
  if (age !== undefined) {
    const t = now - age;
    // Older than any possible record (or past Date's range): everything qualifies.
    return Number.isFinite(t) && t > -8.64e15 ? new Date(t).toISOString() : '0000-01-01T00:00:00.000Z';
  }
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError('must be an ISO-8601 date or time (2025-01-31, 2025-01-31T12:00:00Z) or an age (30m, 2h, 7d)');
  return new Date(ms).toISOString();
}

/** Collects a repeatable option into an array (`--set a=1 --set b=2`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// A Record over TaskStatus so that a status added in core fails to compile here.
const STATUS_SET: Record<TaskStatus, true> = { queued: true, pending: true, running: true, completed: true, failed: true, dead: true };

/** The task states `--status` accepts (DESIGN §5), in lifecycle order. */
export const TASK_STATUS_CHOICES: readonly TaskStatus[] = Object.keys(STATUS_SET) as TaskStatus[];

const STATE_SET: Record<DeliveryState, true> = { queued: true, processed: true, ignored: true, dead: true };

/** The delivery states `deliveries ls --state` accepts. */
export const DELIVERY_STATE_CHOICES: readonly DeliveryState[] = Object.keys(STATE_SET) as DeliveryState[];

/** The filters every `ls` command shares (`tasks`, `deliveries`, `journal`), as commander parses them. */
export interface ListFilterOptions {
  readonly repo?: string;
  /** ISO-8601 UTC, from {@link parseSince}. */
  readonly since?: string;
  readonly limit: number;
}

/**
 * The `ls` subcommand of `parent` (`tasks`, `deliveries`, `journal`):
 * `--json`, the options `own` adds, then the filters every `ls` takes
 * (`--repo`, `--since`, `--limit`), `--wide` and `--data-dir`. `noun` names
 * what is listed (`tasks`), `when` what `--since` compares (`created`).
 */
export function lsCommand(parent: Command, what: { readonly noun: string; readonly when: string; readonly description: string }, own: (ls: Command) => Command): Command {
  const { noun, when } = what;
  return own(parent.command('ls').description(what.description).option('--json', 'print a JSON array'))
    .option('--repo <owner/name>', `only ${noun} of this repository`)
    .option('--since <time>', `only ${noun} ${when} at or after this ISO-8601 time, or within this age (30m, 2h, 7d)`, (v: string) => parseSince(v))
    .option('--limit <n>', `at most this many ${noun}`, parsePositiveInt, 100)
    .addOption(wideOption())
    .addOption(dataDirOption())
    .addOption(databaseUrlOption());
}

/** A store filter from parsed options: the `keys` that were given, and the limit. */
export function filterOf<O extends ListFilterOptions, K extends keyof O>(opts: O, keys: readonly K[]): Pick<O, K> & { limit: number } {
  const filter: Record<string | number | symbol, unknown> = { limit: opts.limit };
  for (const k of keys) if (opts[k] !== undefined) filter[k] = opts[k];
  return filter as Pick<O, K> & { limit: number };
}

/** `--data-dir`, shared by every command that reads the store; `prefix` qualifies when it applies (replay: "with --to: "). */
export function dataDirOption(prefix = ''): Option {
  return new Option('--data-dir <dir>', `${prefix}gitbridged's data directory (default $GITBRIDGE_DATA_DIR, else ./data)`);
}

/** `--wide`, shared by every command that prints a table. */
export function wideOption(): Option {
  return new Option('--wide', 'print every column and every value in full (ids too); otherwise tables fit 100 columns and show 8-character ids, which every command accepts back');
}

/** `--database-url`, beside `--data-dir` on every command that reads the store: the PostgreSQL store instead of the SQLite file. */
export function databaseUrlOption(prefix = ''): Option {
  return new Option('--database-url <url>', `${prefix}the PostgreSQL store gitbridged uses (default $GITBRIDGE_DATABASE_URL; unset: the SQLite file in the data directory)`);
}
