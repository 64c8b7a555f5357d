import { Command, CommanderError, Option } from 'commander';
import { CONFIG_SCHEMA, EXIT, isGitBridgeError, loadConfig, resolveConfig, VERSION, type Config, type OptionSpec } from '@gitbridge/core';
import { checkConfig, configCheckJson, formatConfigCheck } from './config-check.js';
import { startDaemon } from './daemon.js';

/**
 * Ends gitbridged after an error it cannot start with: `gitbridged: <prefix><message>` and its hint on
 * stderr, no stack trace, and the catalogue's exit status (docs/errors.md: 2 for configuration, 4 for the
 * store); 1 for an error outside the catalogue.
 */
function die(prefix: string, err: unknown): never {
  process.stderr.write(`gitbridged: ${prefix}${(err as Error).message}${isGitBridgeError(err) ? ` [${err.code}]` : ''}\n${isGitBridgeError(err) && err.hint ? `hint: ${err.hint}\n` : ''}`);
  process.exit(isGitBridgeError(err) ? err.exitCode : EXIT.failed);
}

/** `(default: 3000; env: GITBRIDGE_PORT)`, for an option's help line. */
function defaultAndEnv(spec: OptionSpec): string {
  const def = spec.default !== undefined ? spec.default : spec.required ? 'none, required' : 'unset';
  return `(default: ${def}; env: ${spec.env})`;
}

/**
 * Adds one flag per configuration option. Neither commander's `.default()`
 * nor its `.env()` is used: both would fill the flag, and the configuration
 * (and `config check`) would then take a default or an environment value
 * for a flag.
 */
function addConfigOptions(cmd: Command): Command {
  for (const spec of CONFIG_SCHEMA) {
    const arg = spec.kind === 'bool' ? `${spec.flag} <bool>` : `${spec.flag} <value>`;
    cmd.addOption(new Option(arg, `${spec.doc} ${defaultAndEnv(spec)}`));
  }
  return cmd;
}

/** The configuration flags commander parsed, by config key. */
function flagsOf(opts: Record<string, unknown>): Partial<Record<keyof Config, string>> {
  const flags: Partial<Record<keyof Config, string>> = {};
  for (const spec of CONFIG_SCHEMA) {
    const name = spec.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[name];
    if (typeof v === 'string') flags[spec.key] = v;
  }
  return flags;
}

/** `config check` and `serve --check`: prints the report; the exit status is 0 when valid, 2 when not. */
function runCheck(opts: Record<string, unknown>): void {
  const check = checkConfig(resolveConfig({ flags: flagsOf(opts) }));
  process.stdout.write(opts.json ? `${JSON.stringify(configCheckJson(check), null, 2)}\n` : formatConfigCheck(check));
  process.exitCode = check.valid ? 0 : EXIT.usage;
}

const CONFIG_HELP = `
Every option also reads its environment variable, shown with its default
(flags win over the environment, the environment over the config file named by
GITBRIDGE_CONFIG, the file over the defaults). See docs/configuration.md.`;

const program = new Command('gitbridged')
  .description('GitBridge daemon: GitHub webhooks in, MAS tasks out. Without a command it runs "serve".')
  .version(VERSION)
  .showSuggestionAfterError(true)
  .addHelpText('after', `
Examples:
  gitbridged                       # the same as "gitbridged serve"
  gitbridged serve --port 8080
  gitbridged config check          # every setting, where it came from, and every problem`);

const serve = addConfigOptions(program.command('serve'))
  .description('Receive GitHub webhooks and submit MAS tasks')
  .option('--check', 'print the resolved configuration (secrets redacted) and every problem, then exit: 0 valid, 2 not')
  .addHelpText('after', `${CONFIG_HELP}

Examples:
  GITBRIDGE_WEBHOOK_SECRET=s3cret GITBRIDGE_MAS_CALLBACK_SECRET=cb gitbridged serve
  gitbridged serve --port 8080 --config examples/gitbridge.config.json
  gitbridged serve --check`);

serve.action(async (opts: Record<string, unknown>) => {
  if (opts.check) return runCheck(opts);
  let config: Config;
  try {
    config = loadConfig({ flags: flagsOf(opts) });
  } catch (err) {
    if (!isGitBridgeError(err)) throw err;
    die('', err);
  }
  let daemon;
  try {
    daemon = await startDaemon(config);
  } catch (err) {
    die('cannot start: ', err);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second SIGTERM (a supervisor repeating itself) must not cut the drain short.
      daemon.loggers.log.info({ signal }, 'signal received while shutting down: still draining');
      return;
    }
    stopping = true;
    daemon.loggers.log.info({ signal }, 'signal received');
    const forceMs = config.shutdownGraceMs + 5000;
    const force = setTimeout(() => {
      const message = `shutdown did not finish within ${forceMs} ms (GITBRIDGE_SHUTDOWN_GRACE_MS + 5000): exiting; deliveries answered 202 are stored, and work under a lease is taken up again after its lease`;
      daemon.loggers.log.error({ kind: 'shutdown_forced', forceMs }, message);
      process.stderr.write(`gitbridged: ${message}\n`);
      process.exit(1);
    }, forceMs);
    force.unref();
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`gitbridged: shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP: reopen the log files (logrotate) and reload the hook ranges (`gitbridge meta sync`).
  process.on('SIGHUP', () => daemon.reload());
});

const config = program.command('config').description('Inspect the configuration gitbridged would start with');
addConfigOptions(config.command('check'))
  .description('Print every option with its value and source (flag, env, file, default), secrets redacted, then every warning and problem; exit 0 when valid, 2 when not')
  .option('--json', 'print one JSON object {valid, options, rules, warnings, problems}')
  .addHelpText('after', `${CONFIG_HELP}

Examples:
  gitbridged config check
  GITBRIDGE_CONFIG=/etc/gitbridge/config.json gitbridged config check --json | jq .problems`)
  .action((opts: Record<string, unknown>) => runCheck(opts));

for (const cmd of [program, ...program.commands, ...config.commands]) cmd.exitOverride();

// "serve" is the default, but only for no command at all or flags alone: a
// mistyped command ("gitbridged serv") must be an error with a suggestion,
// not an argument that "serve" silently ignores.
const args = process.argv.slice(2);
const first = args[0];
if (first === undefined || (first.startsWith('-') && !['-h', '--help', '-V', '--version'].includes(first))) args.unshift('serve');

try {
  await program.parseAsync(args, { from: 'user' });
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // Commander printed the message (with "Did you mean …?"), the help or the version.
  process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
}
