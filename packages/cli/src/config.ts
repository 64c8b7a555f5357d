import type { Config } from '@gitbridge/core/config';

/** Flags a command passes to the configuration, by config key (as typed). */
export type ConfigFlags = Partial<Record<keyof Config, string | undefined>>;

/**
 * The configuration the CLI shares with gitbridged (DESIGN §9): flags >
 * environment > config file (`GITBRIDGE_CONFIG`) > defaults, validated the
 * same way, every problem at once. Nothing is required up front: a command
 * that needs a secret or a store says so when it runs.
 *
 * @throws GitBridgeError `GB_CONFIG_INVALID` (exit 2)
 */
export async function cliConfig(flags: ConfigFlags = {}): Promise<Config> {
  const { loadConfig } = await import('@gitbridge/core/config');
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as ConfigFlags;
  return loadConfig({ flags: defined, scope: 'cli' });
}

/** The flags that name the store: `--data-dir` (SQLite) and `--database-url` (PostgreSQL). */
export interface StoreFlags {
  readonly dataDir?: string | undefined;
  readonly databaseUrl?: string | undefined;
}

/** {@link cliConfig} for a command that opens the store, with its store flags. */
export function storeConfig(opts: StoreFlags, flags: ConfigFlags = {}): Promise<Config> {
  return cliConfig({ ...flags, dataDir: opts.dataDir, databaseUrl: opts.databaseUrl });
}
