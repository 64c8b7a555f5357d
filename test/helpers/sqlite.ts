import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * The part of better-sqlite3's Database the tests use. The store has no raw
 * database handle any more, so a test that must reach under the store (make
 * a row look stale, corrupt its state) opens the file itself.
 */
export interface RawDb {
  exec(sql: string): void;
  prepare(sql: string): {
    run(...params: unknown[]): { changes: number };
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  };
  close(): void;
}

// better-sqlite3 is a dependency of @gitbridge/core, not of the test tree:
// load it the way core does.
const requireFromCore = createRequire(new URL('../../packages/core/package.json', import.meta.url));
const Database = requireFromCore('better-sqlite3') as new (path: string, options?: { fileMustExist?: boolean }) => RawDb;

/** Opens `<dataDir>/gitbridge.db` (which must exist) with better-sqlite3, for raw SQL. */
export function openRawDb(dataDir: string): RawDb {
  const db = new Database(join(dataDir, 'gitbridge.db'), { fileMustExist: true });
  db.exec('PRAGMA busy_timeout = 5000');
  return db;
}

/** Runs `fn` on the raw store file of `dataDir`, then closes it. */
export function withRawDb<T>(dataDir: string, fn: (db: RawDb) => T): T {
  const db = openRawDb(dataDir);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
