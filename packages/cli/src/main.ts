#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isGitBridgeError } from '@gitbridge/core/errors';
import { deliveriesCommand } from './commands/deliveries.js';
import { journalCommand } from './commands/journal.js';
import { logsCommand } from './commands/logs.js';
import { metaCommand } from './commands/meta.js';
import { recoverCommand } from './commands/recover.js';
import { replayCommand } from './commands/replay.js';
import { sendTestCommand } from './commands/send-test.js';
import { storeCommand } from './commands/store.js';
import { tasksCommand } from './commands/tasks.js';
import { EXIT } from './exit.js';
import { VERSION } from './version.js';

/** Applies `fn` to a command and all its subcommands. */
function forEachCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) forEachCommand(sub, fn);
}

/**
 * Builds the `gitbridge` program with every command. Commander errors throw
 * (exitOverride) so that `run` maps them to exit code 2.
 */
export function createProgram(): Command {
  const program = new Command('gitbridge')
    .description('GitBridge command-line tool: send test webhooks, inspect deliveries and tasks, refresh the GitHub hook ranges, recover missed deliveries')
    .version(VERSION, '-V, --version')
    .addCommand(sendTestCommand())
    .addCommand(tasksCommand())
    .addCommand(deliveriesCommand())
    .addCommand(journalCommand())
    .addCommand(logsCommand())
    .addCommand(replayCommand())
    .addCommand(metaCommand())
    .addCommand(recoverCommand())
    .addCommand(storeCommand())
    .addHelpText('after', `
Examples:
  $ gitbridge send-test --event pull_request --action opened
  $ gitbridge tasks ls --status dead
  $ gitbridge tasks retry gbt_5d1c2a8e-3f0b-4a55-9d59-0e3c1a0b7f21
  $ gitbridge deliveries show 72d3162e       # ids: a unique prefix of 4+ characters is enough
  $ gitbridge journal ls --json
  $ gitbridge logs --level warn
  $ gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958 [--notify]
  $ gitbridge meta sync
  $ gitbridge recover --dry-run
  $ gitbridge store copy --to postgres://gitbridge@db:5432/gitbridge

Configuration: the daemon's, read the same way (flags > environment > the file named by
GITBRIDGE_CONFIG > defaults): GITBRIDGE_PORT, GITBRIDGE_WEBHOOK_SECRET, GITBRIDGE_DATA_DIR,
GITBRIDGE_LOG_DIR, GITBRIDGE_DATABASE_URL, GITBRIDGE_META_URL, GITBRIDGE_ADMIN_TOKEN, … (docs/configuration.md).
Exit status: 0 ok, 1 non-2xx answer or not found, 2 usage or configuration, 3 unreachable,
4 store missing or unreadable (docs/errors.md). Run "gitbridge <command> --help" for more.`);
  forEachCommand(program, (c) => {
    c.exitOverride();
    c.showHelpAfterError('(add --help for usage)');
  });
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and returns the exit code.
 * User errors print one line (and a hint), never a stack trace; set
 * `GITBRIDGE_DEBUG=1` to see the stack of an unexpected error.
 */
export async function run(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help / version).
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isGitBridgeError(err)) {
      process.stderr.write(`gitbridge: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`gitbridge: unexpected error: ${e?.message ?? String(err)}\n`);
    if (process.env.GITBRIDGE_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT.failed;
  }
}

// `gitbridge … | head`: a closed pipe ends the output quietly, as in other Unix tools.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv);
