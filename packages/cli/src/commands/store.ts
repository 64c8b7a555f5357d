import { Command } from 'commander';
import type { CopyProgress, CopyResult } from '@gitbridge/core/store';
import { redactUrl } from '@gitbridge/core/util';
import { cliConfig } from '../config.js';
import { usageError } from '../exit.js';
import { printJson } from '../format.js';
import { dataDirOption, parsePositiveInt } from '../options.js';

interface CopyOptions {
  readonly to: string;
  readonly dataDir?: string;
  readonly batch: number;
  readonly json?: boolean;
}

/**
 * Progress on standard error: one line rewritten in place on a terminal,
 * else a line every few seconds (a log), and always the last one of each kind.
 */
function progressReporter(): (p: CopyProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  let last = 0;
  return (p) => {
    const now = Date.now();
    const done = p.done === p.total;
    if (!done && p.done > 0 && now - last < (tty ? 250 : 5000)) return;
    last = now;
    const pct = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
    const line = `copying ${p.kind}: ${p.done}/${p.total} (${pct}%)`;
    process.stderr.write(tty ? `\r\u001b[2K${line}${done ? '\n' : ''}` : `${line}\n`);
  };
}

function summary(result: CopyResult, from: string, to: string): string {
  const row = (name: string, r: { read: number; copied: number; updated?: number }, along = '') =>
    `  ${name.padEnd(12)}${String(r.read).padStart(9)} read${String(r.copied).padStart(9)} copied${r.updated === undefined ? '' : `${String(r.updated).padStart(9)} updated`}${along}`;
  return [
    `copied ${from} to ${to}`,
    row('deliveries', result.deliveries, ` (with ${result.deliveries.notifications} notifications)`),
    row('tasks', result.tasks, ` (with ${result.tasks.history} history entries)`),
    row('journal', result.journal),
    row('entities', result.entities),
    row('settings', result.settings),
    row('recovery', result.recovery, ' (redelivery requests, hook checkpoints, last sign of life, gaps)'),
    'Records the target already held were brought up to date where they changed: run it again after the old daemon stopped to bring over what it did since; nothing is copied twice.',
    '',
  ].join('\n');
}

/** The `store` command: `copy`. */
export function storeCommand(): Command {
  const store = new Command('store')
    .description('Manage the store itself: move a single-node SQLite store to PostgreSQL')
    .addHelpText('after', `
Examples:
  $ gitbridge store copy --to postgres://gitbridge@db:5432/gitbridge`);

  store
    .command('copy')
    .description('Copy the local SQLite store into a PostgreSQL database (for several daemons on GITBRIDGE_DATABASE_URL)')
    .requiredOption('--to <url>', 'the PostgreSQL store: postgres://user:password@host:5432/db (its schema is created when missing)')
    .addOption(dataDirOption())
    .option('--batch <n>', 'records per transaction', parsePositiveInt, 200)
    .option('--json', 'print the counts as a JSON object')
    .addHelpText('after', `
Copies everything the SQLite store in the data directory holds: deliveries with
their bodies byte-identical (for replay), tasks with their full history,
notifications, the journal, the per-entity order and the shared settings.
Running the command again copies what is new and brings up to date what
changed since (a task completed, a notification sent), never anything twice;
an interrupted copy resumes. No daemon may use the target meanwhile.

Stop gitbridged (or take it out of the load balancer) before the last run, so
that nothing changes in SQLite after it was copied; then start the daemons with
GITBRIDGE_DATABASE_URL. Progress goes to standard error, counts to standard
output. See docs/high-availability.md.

Examples:
  $ gitbridge store copy --to postgres://gitbridge@db:5432/gitbridge
  $ GITBRIDGE_DATA_DIR=/var/lib/gitbridge gitbridge store copy --to "$GITBRIDGE_DATABASE_URL" --json`)
    .action(async (opts: CopyOptions) => {
      const protocol = URL.canParse(opts.to) ? new URL(opts.to).protocol : null;
      if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw usageError(`--to must be a postgres:// URL, got "${redactUrl(opts.to)}"`);
      const config = await cliConfig({ dataDir: opts.dataDir });
      const { copySqliteToPostgres } = await import('@gitbridge/core/store');
      const result = await copySqliteToPostgres({ dataDir: config.dataDir, databaseUrl: opts.to, batch: opts.batch, onProgress: progressReporter() });
      if (opts.json) printJson(result);
      else process.stdout.write(summary(result, `${config.dataDir}/gitbridge.db`, redactUrl(opts.to)));
    });

  return store;
}
