import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '@gitbridge/core';
import { CliError, EXIT } from './exit.js';

/** The `@gitbridge/core/store` module namespace (the store alone: no pino, prom-client or undici). */
export type Core = typeof import('@gitbridge/core/store');

/**
 * Loads `@gitbridge/core` on demand. Core pulls in SQLite, pino and
 * prom-client, which take a noticeable time to load; commands import it only
 * when they run, so that `--help`, `--version` and argument errors stay fast.
 */
export async function loadCore(): Promise<Core> {
  return import('@gitbridge/core/store');
}

/** True for errors thrown by better-sqlite3 (`SqliteError`, codes `SQLITE_*`). */
export function isSqliteError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof Error)) return false;
  const code: unknown = (err as Error & { code?: unknown }).code;
  return err.name === 'SqliteError' || (typeof code === 'string' && code.startsWith('SQLITE_'));
}

const DATA_DIR_HINT = "point --data-dir (or GITBRIDGE_DATA_DIR) at gitbridged's data directory";

/**
 * Opens gitbridged's store in `dataDir`, runs `fn` with it and closes it.
 * The file must exist: a missing store is never created, even when opening
 * for writing. Read-only by default; `tasks retry` opens it writable.
 *
 * @throws CliError exit 4 when the store is missing, not a GitBridge store, or
 *   unreadable (any SQLite error while `fn` runs is reported the same way)
 */
export async function withStore<T>(dataDir: string, options: { readonly writable?: boolean }, fn: (store: Store, core: Core) => T | Promise<T>): Promise<T> {
  const core = await loadCore();
  const path = join(dataDir, core.STORE_FILE);
  if (!existsSync(path)) throw new CliError(`no GitBridge store at ${path}`, EXIT.store, DATA_DIR_HINT);
  let store: Store;
  try {
    // Only the daemon migrates the schema; the CLI never changes it under a running daemon.
    store = core.Store.open(dataDir, { readonly: !options.writable, migrate: false });
    const version = store.schemaVersion();
    if (version === 0) {
      store.close();
      throw new CliError(`${path} is not a GitBridge store (no schema)`, EXIT.store, DATA_DIR_HINT);
    }
    if (version !== core.SCHEMA_VERSION) {
      store.close();
      throw version < core.SCHEMA_VERSION
        ? new CliError(`the store ${path} has schema version ${version}; this gitbridge needs ${core.SCHEMA_VERSION}`, EXIT.store,
          'start gitbridged of this version once: it migrates the store at start-up')
        : new CliError(`the store ${path} has schema version ${version}, newer than this gitbridge knows (${core.SCHEMA_VERSION})`, EXIT.store,
          'upgrade gitbridge to the version gitbridged runs');
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot ${options.writable ? 'open for writing' : 'read'} the store ${path}: ${(err as Error).message}`, EXIT.store, DATA_DIR_HINT);
  }
  try {
    return await fn(store, core);
  } catch (err) {
    if (isSqliteError(err)) throw new CliError(`cannot read the store ${path}: ${err.message}`, EXIT.store);
    throw err;
  } finally {
    store.close();
  }
}
