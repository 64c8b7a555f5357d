/**
 * Schema versions, the same rules for both engines. Each engine keeps a
 * versioned list of migrations and records the applied ones in
 * `schema_migrations`. Versions need not be contiguous: a version can be
 * reserved for a change made in parallel, so a store is current when every
 * migration this code knows is applied, whatever the numbers.
 */
import { GitBridgeError } from '../errors/errors.js';

/** One schema migration of an engine. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The schema version this code reads and writes: its newest migration. */
export function newestVersion(migrations: readonly Migration[]): number {
  return Math.max(...migrations.map((m) => m.version));
}

/**
 * Before migrating: refuses a store that a newer GitBridge migrated (a
 * version this code does not know, above its newest).
 *
 * @throws GitBridgeError `GB_STORE_SCHEMA_MISMATCH`
 */
export function refuseNewerSchema(location: string, applied: ReadonlySet<number>, migrations: readonly Migration[]): void {
  const known = newestVersion(migrations);
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new GitBridgeError('GB_STORE_SCHEMA_MISMATCH', {
      message: `${location}: store schema version ${newest} is newer than this GitBridge knows (${known})`,
      hint: 'upgrade GitBridge or restore a backup',
    });
  }
}

/**
 * For a store this process must not migrate (the CLI): it must hold a
 * schema, every migration this code knows, and none it does not.
 *
 * @param notFoundHint what to do when there is no GitBridge schema there
 * @throws GitBridgeError `GB_STORE_NOT_FOUND`, `GB_STORE_SCHEMA_MISMATCH`
 */
export function checkSchema(location: string, applied: ReadonlySet<number>, migrations: readonly Migration[], notFoundHint: string): void {
  const known = newestVersion(migrations);
  const version = Math.max(0, ...applied);
  if (version === 0) {
    throw new GitBridgeError('GB_STORE_NOT_FOUND', { message: `${location} is not a GitBridge store (no schema)`, hint: notFoundHint });
  }
  if (version > known) {
    throw new GitBridgeError('GB_STORE_SCHEMA_MISMATCH', {
      message: `The store ${location} has schema version ${version}, newer than this GitBridge knows (${known})`,
      hint: 'upgrade GitBridge to the version gitbridged runs',
    });
  }
  const missing = migrations.filter((m) => !applied.has(m.version)).map((m) => m.version);
  if (missing.length > 0) {
    throw new GitBridgeError('GB_STORE_SCHEMA_MISMATCH', {
      message: version < known
        ? `The store ${location} has schema version ${version}; this GitBridge needs ${known}`
        : `The store ${location} lacks schema migration ${missing.join(', ')}; this GitBridge needs every migration up to ${known}`,
      hint: 'start gitbridged of this version once: it migrates the store at start-up',
    });
  }
}
