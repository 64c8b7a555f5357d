import { InvalidArgumentError, Option } from 'commander';
import type { TaskStatus } from '@gitbridge/core';

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

/**
 * Parses `--since`: an ISO-8601 date or time (`2025-01-31`,
 * `2025-01-31T12:00:00Z`) or an age such as `30m`, `2h`, `7d`. Returns the
 * ISO-8601 UTC form the store compares `created_at` against.
 *
 * @param now the reference time for ages (ms since epoch)
 */
export function parseSince(value: string, now: number = Date.now()): string {
  const rel = RELATIVE.exec(value.trim());
  if (rel) {
    const t = now - Number(rel[1]) * (UNIT_MS[rel[2]!.toLowerCase()] ?? 0);
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

/** `--data-dir`, shared by every command that reads the store; `prefix` qualifies when it applies (replay: "with --to: "). */
export function dataDirOption(prefix = ''): Option {
  return new Option('--data-dir <dir>', `${prefix}gitbridged's data directory (default $GITBRIDGE_DATA_DIR, else ./data)`);
}

/** `--database-url`, beside `--data-dir` on every command that reads the store: the PostgreSQL store instead of the SQLite file. */
export function databaseUrlOption(prefix = ''): Option {
  return new Option('--database-url <url>', `${prefix}the PostgreSQL store gitbridged uses (default $GITBRIDGE_DATABASE_URL; unset: the SQLite file in the data directory)`);
}
