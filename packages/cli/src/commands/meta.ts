import { Command } from 'commander';
import type { HooksSnapshot } from '@gitbridge/core';
import { GitBridgeError, isGitBridgeError } from '@gitbridge/core/errors';
import { storeConfig } from '../config.js';
import { checkHttpUrl } from '../env.js';
import { printJson } from '../format.js';
import { parsePositiveInt, dataDirOption, databaseUrlOption } from '../options.js';
import { withStore } from '../store-access.js';

interface SyncOptions {
  readonly metaUrl?: string;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  readonly timeout: number;
  readonly json?: boolean;
}

/** The `meta` command: `sync`. */
export function metaCommand(): Command {
  const meta = new Command('meta')
    .description("Manage the snapshot of GitHub's webhook source address ranges (the IP allowlist)")
    .addHelpText('after', `
Examples:
  $ gitbridge meta sync
  $ gitbridge meta sync --meta-url https://github.example.com/api/v3/meta   # GitHub Enterprise Server`);

  meta
    .command('sync')
    .description('Fetch the "hooks" ranges from GitHub\'s meta API and store them in the data directory')
    .option('--meta-url <url>', 'meta API URL (default $GITBRIDGE_META_URL, else $GITBRIDGE_GITHUB_API_URL/meta: https://api.github.com/meta)')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .option('--timeout <ms>', 'give up after this many ms', parsePositiveInt, 10_000)
    .option('--json', 'print a JSON object {ranges, path, source, snapshot_date}')
    .addHelpText('after', `
The snapshot is written atomically to <data dir>/github-meta-hooks.json and wins
over the one shipped with GitBridge. gitbridged reads it when it starts.
With a PostgreSQL store (--database-url, GITBRIDGE_DATABASE_URL) it is also
stored there, and every gitbridged on that store applies it within a minute.

Examples:
  $ gitbridge meta sync
  $ gitbridge meta sync --data-dir /var/lib/gitbridge
  $ GITBRIDGE_GITHUB_API_URL=https://github.example.com/api/v3 gitbridge meta sync   # GHES: /meta of its API`)
    .action(async (opts: SyncOptions) => {
      if (opts.metaUrl !== undefined) checkHttpUrl(opts.metaUrl, '--meta-url');
      const config = await storeConfig(opts, { metaUrl: opts.metaUrl });
      const url = config.metaUrl;
      checkHttpUrl(url, 'GITBRIDGE_META_URL');
      const dataDir = config.dataDir;
      const core = await import('@gitbridge/core/meta');
      let snapshot: HooksSnapshot;
      try {
        snapshot = await core.fetchHooksSnapshot(url, opts.timeout);
      } catch (err) {
        if (!isGitBridgeError(err)) throw err;
        throw new GitBridgeError('GB_GITHUB_META_FAILED', {
          message: `cannot fetch the hook ranges from ${url}: ${err.message.startsWith(url) ? err.message.slice(url.length).replace(/^:?\s*/, '') : err.message}`,
          hint: 'the previous snapshot stays in force; on a machine without access to the API, copy github-meta-hooks.json from one that has',
          cause: err,
        });
      }
      let path: string;
      try {
        path = core.writeHooksSnapshot(dataDir, snapshot);
      } catch (err) {
        throw new GitBridgeError('GB_DATA_DIR_UNWRITABLE', { message: `cannot write the snapshot to ${dataDir}: ${(err as Error).message}`, cause: err });
      }
      // Several daemons on one PostgreSQL store each reload the store's snapshot every minute.
      const shared = config.databaseUrl !== undefined;
      if (shared) await withStore(config, { writable: true }, (store) => core.storeHooksSnapshot(store, snapshot));
      const v4 = snapshot.hooks.filter((h) => !h.includes(':')).length;
      if (opts.json) {
        printJson({ ranges: snapshot.hooks.length, ipv4: v4, ipv6: snapshot.hooks.length - v4, path, stored: shared, source: snapshot.source, snapshot_date: snapshot.snapshot_date });
        return;
      }
      process.stdout.write(
        `${snapshot.hooks.length} hook ranges (${v4} IPv4, ${snapshot.hooks.length - v4} IPv6) from ${snapshot.source}\n` +
          `written to ${path}\n` +
          (shared
            ? 'stored in the PostgreSQL store: every gitbridged on it applies them within a minute\n'
            : 'apply them: kill -HUP <gitbridged pid> (or restart gitbridged)\n'),
      );
    });

  return meta;
}
