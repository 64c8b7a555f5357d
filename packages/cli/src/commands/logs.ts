import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { GitBridgeError } from '@gitbridge/core/errors';
import { nonEmpty } from '@gitbridge/core/util';
import { cliConfig } from '../config.js';
import { isFilterActive, logFileName, matchesFilter, parseLevel, parseLogLine, type LogFilter, type LogKind } from '../log-entry.js';
import { followFile, readLastLines, type TailEvent } from '../log-tail.js';

/** Options of `gitbridge logs`, as commander parses them. */
export interface LogsOptions {
  readonly logDir?: string;
  readonly security?: boolean;
  readonly lines: number;
  readonly follow?: boolean;
  readonly plain?: boolean;
  /** Minimum level (a pino level number). */
  readonly level?: number;
  readonly event?: string;
  readonly repo?: string;
  readonly delivery?: string;
  readonly grep?: string;
}

/**
 * The log directory of gitbridged: `--log-dir`, else the shared
 * configuration's (GITBRIDGE_LOG_DIR, the config file, `./logs`), resolved
 * against the working directory (as the daemon does).
 */
export async function resolveLogDir(flag: string | undefined): Promise<string> {
  return (await cliConfig({ logDir: nonEmpty(flag) })).logDir;
}

/** Parses `--lines`: a whole number, 0 allowed (only new lines). */
export function parseLineCount(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number (0 or more)');
  return n;
}

/** Parses `--level`: trace, debug, info, warn, error, fatal, or a pino level number. */
export function parseLevelOption(value: string): number {
  const level = parseLevel(value);
  if (level === undefined) throw new InvalidArgumentError('must be trace, debug, info, warn, error, fatal or a level number');
  return level;
}

/** The filters set by the flags. */
export function filterFromOptions(opts: LogsOptions): LogFilter {
  return { minLevel: opts.level, event: nonEmpty(opts.event), repo: nonEmpty(opts.repo), delivery: nonEmpty(opts.delivery), text: nonEmpty(opts.grep) };
}

/** A test on raw lines for the filter; undefined when no filter is set (every line passes). */
function linePredicate(filter: LogFilter): ((line: string) => boolean) | undefined {
  return isFilterActive(filter) ? (line) => matchesFilter(parseLogLine(line, 0), filter) : undefined;
}

/** Prints the last matching lines, exactly as in the file, and returns. */
async function printOnce(path: string, lines: number, filter: LogFilter): Promise<void> {
  let out: string[];
  try {
    out = await readLastLines(path, lines, linePredicate(filter));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
      throw new GitBridgeError('GB_LOG_UNAVAILABLE', {
        message: `no log file ${path}`,
        hint: 'gitbridged creates it when it starts; pass --log-dir (or set GITBRIDGE_LOG_DIR) as the daemon has it, or add --follow to wait for it',
        cause: err,
      });
    }
    throw new GitBridgeError('GB_LOG_UNAVAILABLE', { message: `cannot read ${path}: ${e.message}`, cause: err });
  }
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * Prints the last matching lines, then every matching line appended, until
 * SIGINT or SIGTERM (exit 0). What happens to the file (not there yet,
 * rotated, truncated) is reported on stderr, so stdout stays pure JSON lines.
 */
async function followPlain(path: string, lines: number, filter: LogFilter): Promise<void> {
  const keep = linePredicate(filter);
  const note = (text: string): void => {
    process.stderr.write(`gitbridge: ${text}\n`);
  };
  const onEvent = (ev: TailEvent): void => {
    switch (ev.type) {
      case 'lines': {
        const out = keep ? ev.lines.filter(keep) : ev.lines;
        if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
        return;
      }
      case 'waiting':
        note(`waiting for ${path} to appear`);
        return;
      case 'rotated':
        note(`${path} was rotated; reading the new file`);
        return;
      case 'truncated':
        note(`${path} was truncated; reading from its top`);
        return;
      case 'error':
        note(`cannot read ${path}: ${ev.message} (retrying)`);
        return;
      default:
    }
  };
  const tail = followFile(path, onEvent, { lines, keep });
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void tail.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

const HELP = `
On a terminal, draws a live view of the log on the alternate screen (newest
entries at the bottom; the screen comes back as it was on quitting):
  /  text filter        l  raise the minimum level   e  event filter (event.action or kind)
  r  repository filter  d  delivery id filter        c  clear the filters
  space  pause/resume   up/down (k/j)  select        PgUp/PgDn  select a page up/down
  g, Home  the oldest   G, End, esc  follow the newest again
  enter  the selected entry's whole JSON (esc back)  s  webhook.log / security.log
  q, Ctrl+C  quit
Filters typed with / e r d apply as you type; enter keeps them, esc undoes.
l goes to the lowest level that hides a line shown (all -> warn+ -> error+ -> fatal+
-> all with the daemon's info, warn and error lines); the key help shows the next one.
While a selected row holds the view the status bar says HOLDING, not following.

When stdout is not a terminal (or with --plain) it prints the matching lines exactly
as in the file, one JSON object per line, and exits; with --follow it keeps printing
new lines until interrupted. The filters are case-insensitive substrings, except
--level (a minimum). --lines counts matching lines.

Log directory: --log-dir, else GITBRIDGE_LOG_DIR, else ./logs (the daemon's setting).
Rotation is followed: when the file is renamed or truncated, the new one is read from its top.

Examples:
  $ gitbridge logs
  $ gitbridge logs --security
  $ gitbridge logs --level warn --repo octo-org/
  $ gitbridge logs | jq 'select(.level >= 50)'
  $ gitbridge logs --delivery 72d3162e --lines 100000 | jq -c '{time, msg}'
  $ gitbridge logs -f --event pull_request.opened | jq -c '{time, repo, msg}'
  $ gitbridge logs --security --plain --grep signature_failed

Exit status: 0 ok (also when --follow is interrupted); 1 the log file does not exist
(without --follow) or cannot be read; 2 usage error.`;

/** The `logs` command: a TUI that tails gitbridged's logs on a terminal, raw JSON lines otherwise. */
export function logsCommand(): Command {
  return new Command('logs')
    .description("Tail gitbridged's webhook log (or security log): a live view on a terminal, raw JSON lines otherwise")
    .option('--log-dir <dir>', "gitbridged's log directory (default $GITBRIDGE_LOG_DIR, else ./logs)")
    .option('--security', 'the security log (security.log) instead of webhook.log')
    .option('-n, --lines <n>', 'existing last lines to show first (0: only new ones)', parseLineCount, 200)
    .option('-f, --follow', 'without a terminal: keep printing new lines (the live view always follows)')
    .option('--plain', 'print lines even on a terminal (no live view)')
    .option('--level <level>', 'minimum level: trace, debug, info, warn, error, fatal', parseLevelOption)
    .option('--event <text>', 'event.action (or security kind) contains this, e.g. pull_request or push')
    .option('--repo <text>', 'repository contains this, e.g. octo-org/')
    .option('--delivery <id>', 'delivery id contains this (a prefix is enough)')
    .option('--grep <text>', 'the line contains this text')
    .addHelpText('after', HELP)
    .action(async (opts: LogsOptions) => {
      const dir = await resolveLogDir(opts.logDir);
      const log: LogKind = opts.security ? 'security' : 'webhook';
      const path = join(dir, logFileName(log));
      const filter = filterFromOptions(opts);
      if (!opts.plain && process.stdout.isTTY === true && process.stdin.isTTY === true) {
        // Loaded only here: ink and React stay out of every other command's start-up.
        const { runLogsTui } = await import('../ui/LogsApp.js');
        await runLogsTui({ logDir: dir, log, lines: opts.lines, filter });
        return;
      }
      if (opts.follow) await followPlain(path, opts.lines, filter);
      else await printOnce(path, opts.lines, filter);
    });
}
