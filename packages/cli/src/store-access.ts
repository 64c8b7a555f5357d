import type { Config } from '@gitbridge/core/config';
import type { Store } from '@gitbridge/core/store';

/**
 * Opens the store the configuration names (PostgreSQL with
 * `GITBRIDGE_DATABASE_URL`, else the SQLite file in the data directory),
 * runs `fn` with it and closes it.
 * The store must exist and have this version's schema: the CLI never creates
 * or migrates a store a daemon owns. Read-only unless `writable`
 * (`tasks retry`, `deliveries retry`).
 *
 * `@gitbridge/core/store` is imported only here, when a command runs: it
 * loads the database driver, which takes a noticeable time, so `--help`,
 * `--version` and argument errors stay fast.
 *
 * @throws GitBridgeError `GB_STORE_NOT_FOUND`, `GB_STORE_SCHEMA_MISMATCH`, `GB_STORE_ERROR`,
 *   `GB_STORE_UNAVAILABLE` (exit 4), or what `fn` throws
 */
export async function withStore<T>(config: Pick<Config, 'dataDir' | 'databaseUrl'>, options: { readonly writable?: boolean }, fn: (store: Store) => T | Promise<T>): Promise<T> {
  const { openStore } = await import('@gitbridge/core/store');
  // One command, a few queries at a time: two connections are plenty.
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, poolMax: 2, access: options.writable ? 'write' : 'read' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
