/**
 * `gitbridge-mas`: command-line entry point of the reference MAS server.
 * Loaded by the launcher `bin/gitbridge-mas`; running this module starts the CLI.
 *
 * Output: one JSON line per event on stdout (`listening`, `submission` per
 * `POST /tasks`, `callback` per callback attempt, `control`, `error`,
 * `stopped`). Exit codes: 0 after SIGINT/SIGTERM, 1 when the server cannot
 * start, 2 for usage errors (e.g. no callback secret).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createRequire } from 'node:module';
import { startReferenceMas } from './server.js';
import type { ReferenceMas, ReferenceMasEvent } from './types.js';

const EXIT_USAGE = 2;
const EXIT_START_FAILED = 1;

interface ServeOptions {
  port: number;
  host: string;
  callbackSecret?: string;
  token?: string;
  callbackDelayMs?: number;
  completeAfterMs?: number;
  control: boolean;
}

function parseInteger(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer between ${min} and ${max}.`);
    }
    return n;
  };
}

function writeLine(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

function logEvent(event: ReferenceMasEvent): void {
  writeLine({ ...event });
}

async function serve(opts: ServeOptions, command: Command): Promise<void> {
  if (!opts.callbackSecret) {
    command.error(
      'gitbridge-mas: a callback secret is required: pass --callback-secret <secret> or set GITBRIDGE_MAS_CALLBACK_SECRET ' +
        '(the same value as the daemon\'s MAS callback secret).',
      { exitCode: EXIT_USAGE, code: 'gitbridge.mas.missingCallbackSecret' },
    );
  }

  let mas: ReferenceMas;
  try {
    mas = await startReferenceMas({
      port: opts.port,
      host: opts.host,
      callbackSecret: opts.callbackSecret,
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.callbackDelayMs !== undefined ? { callbackDelayMs: opts.callbackDelayMs } : {}),
      ...(opts.completeAfterMs !== undefined ? { completeAfterMs: opts.completeAfterMs } : {}),
      control: opts.control,
      onEvent: logEvent,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code ? `${e.code}: ${e.message}` : e.message;
    process.stderr.write(`gitbridge-mas: cannot start on ${opts.host}:${opts.port}: ${reason}\n`);
    process.exit(EXIT_START_FAILED);
  }

  writeLine({
    event: 'listening',
    url: mas.url,
    port: mas.port,
    auth: opts.token ? 'bearer' : 'none',
    control: opts.control,
    at: new Date().toISOString(),
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1); // second signal: do not wait any longer
    }
    stopping = true;
    void mas.close().then(
      () => {
        writeLine({ event: 'stopped', signal, at: new Date().toISOString() });
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`gitbridge-mas: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const program = new Command()
  .name('gitbridge-mas')
  .description('Reference MAS server (MAS protocol 2.1) for GitBridge: accepts tasks and calls back running/completed, signed.')
  .version((createRequire(import.meta.url)('@gitbridge/core/package.json') as { version: string }).version)
  .exitOverride()
  .showSuggestionAfterError();

program
  .command('serve', { isDefault: true })
  .description('Run the reference MAS server (default command).')
  .addOption(
    new Option('--port <port>', 'TCP port to listen on (0 = any free port)')
      .env('GITBRIDGE_MAS_PORT')
      .default(8081)
      .argParser(parseInteger('--port', 0, 65535)),
  )
  .addOption(new Option('--host <host>', 'interface to bind').env('GITBRIDGE_MAS_HOST').default('127.0.0.1'))
  .addOption(
    new Option('--callback-secret <secret>', 'secret used to sign callbacks (X-MAS-Signature-256); required').env(
      'GITBRIDGE_MAS_CALLBACK_SECRET',
    ),
  )
  .addOption(new Option('--token <token>', 'require Authorization: Bearer <token> on every endpoint except /healthz').env('GITBRIDGE_MAS_TOKEN'))
  .addOption(
    new Option('--callback-delay-ms <ms>', 'delay before the running callback, in ms (default 50)').argParser(
      parseInteger('--callback-delay-ms', 0, 2_147_483_647),
    ),
  )
  .addOption(
    new Option('--complete-after-ms <ms>', 'time from running to completed, in ms (default 200)').argParser(
      parseInteger('--complete-after-ms', 0, 2_147_483_647),
    ),
  )
  .option('--no-control', 'disable the /_control failure-injection API')
  .action(serve);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed the message (or the help / version text).
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  process.stderr.write(`gitbridge-mas: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
}
