import { Command, Option } from 'commander';
import { CONFIG_SCHEMA, isGitBridgeError, loadConfig, VERSION, type Config } from '@gitbridge/core';
import { startDaemon } from './daemon.js';

const program = new Command('gitbridged')
  .description('GitBridge daemon: GitHub webhooks in, MAS tasks out')
  .version(VERSION);

const serve = program
  .command('serve', { isDefault: true })
  .description('Receive GitHub webhooks and submit MAS tasks')
  .addHelpText('after', `
Every option also reads its environment variable (flags win over the
environment, the environment over the config file). See docs/configuration.md.

Examples:
  GITBRIDGE_WEBHOOK_SECRET=s3cret GITBRIDGE_MAS_CALLBACK_SECRET=cb gitbridged serve
  gitbridged serve --port 8080 --config examples/gitbridge.config.json`);

for (const spec of CONFIG_SCHEMA) {
  const arg = spec.kind === 'bool' ? `${spec.flag} <bool>` : `${spec.flag} <value>`;
  serve.addOption(new Option(arg, `${spec.doc} [env ${spec.env}]`));
}

serve.action(async (opts: Record<string, string | undefined>) => {
  const flags: Partial<Record<keyof Config, string>> = {};
  for (const spec of CONFIG_SCHEMA) {
    const name = spec.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[name];
    if (v !== undefined) flags[spec.key] = v;
  }
  let config: Config;
  try {
    config = loadConfig({ flags });
  } catch (err) {
    if (isGitBridgeError(err)) {
      process.stderr.write(`gitbridged: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
      process.exit(2);
    }
    throw err;
  }
  let daemon;
  try {
    daemon = await startDaemon(config);
  } catch (err) {
    process.stderr.write(`gitbridged: cannot start: ${(err as Error).message}\n${isGitBridgeError(err) && err.hint ? `hint: ${err.hint}\n` : ''}`);
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    daemon.loggers.log.info({ signal }, 'signal received');
    const force = setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000);
    force.unref();
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`gitbridged: shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP: reopen the log files (logrotate) and reload the hook ranges (`gitbridge meta sync`).
  process.on('SIGHUP', () => daemon.reload());
});

await program.parseAsync(process.argv);
