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

/** Applied versions that no migration of this code has: a newer GitBridge, or a build with a migration this one lacks, wrote them. */
function unknownVersions(applied: ReadonlySet<number>, migrations: readonly Migration[]): number[] {
  const known = new Set(migrations.map((m) => m.version));
  return [...applied].filter((v) => !known.has(v)).sort((a, b) => a - b);
}

/**
 * Refuses a store that holds a migration this code does not know: a newer
 * GitBridge migrated it (a version above this code's newest), or another
 * build did (a version this code skipped, since versions need not be
 * contiguous). Either way this code cannot tell what the schema is.
 */
function refuseUnknown(location: string, applied: ReadonlySet<number>, migrations: readonly Migration[], newer: (version: number, known: number) => string, hint: string): void {
  const unknown = unknownVersions(applied, migrations);
  if (unknown.length === 0) return;
  const known = newestVersion(migrations);
  const newest = Math.max(...unknown);
  throw new GitBridgeError('GB_STORE_SCHEMA_MISMATCH', {
    message: newest > known ? newer(newest, known) : `${location}: store schema has migration ${unknown.join(', ')}, which this GitBridge does not know`,
    hint,
  });
}

/**
 * Before migrating: refuses a store that holds a version this code does
 * not know (a newer GitBridge, or another build, migrated it).
 *
 * @throws GitBridgeError `GB_STORE_SCHEMA_MISMATCH`
 */
export function refuseNewerSchema(location: string, applied: ReadonlySet<number>, migrations: readonly Migration[]): void {
  refuseUnknown(location, applied, migrations, (v, known) => `${location}: store schema version ${v} is newer than this GitBridge knows (${known})`, 'upgrade GitBridge or restore a backup');
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
  refuseUnknown(`The store ${location}`, applied, migrations, (v, known) => `The store ${location} has schema version ${v}, newer than this GitBridge knows (${known})`,
    'upgrade GitBridge to the version gitbridged runs');
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
