import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * Fresh PostgreSQL databases for tests (DESIGN "Do this": a fresh database
 * per test file, created and dropped by the test, never a shared one). The
 * server is the real PostgreSQL on 127.0.0.1:5432 (`.ci/run` starts it);
 * GITBRIDGE_TEST_POSTGRES_URL points elsewhere (a maintenance database the
 * user may create databases from). A missing server fails the tests, it never
 * skips them.
 */
export const POSTGRES_ADMIN_URL = process.env.GITBRIDGE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
  on(event: 'error', fn: (err: Error) => void): void;
}

// pg is a dependency of @gitbridge/core, not of the test tree: load it the way core does.
const requireFromCore = createRequire(new URL('../../packages/core/package.json', import.meta.url));
const { Client } = requireFromCore('pg') as { Client: new (config: { connectionString: string }) => PgClient };

/** A database of its own for one test file. */
export interface TestDatabase {
  /** `postgres://…/<name>`, for GITBRIDGE_DATABASE_URL. */
  readonly url: string;
  readonly name: string;
  /** Runs one statement on the test database (a fresh session). */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Ends every session on the test database but the helper's (`pg_terminate_backend`). @returns how many */
  terminateConnections(): Promise<number>;
  /** Drops the database, ending whatever sessions are still on it. */
  drop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL does not answer at ${url} (${(err as Error).message}): start it (.ci/run does) or set GITBRIDGE_TEST_POSTGRES_URL`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Creates an empty database with a random name. */
export async function createTestDatabase(prefix = 'gitbridge_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await withClient(POSTGRES_ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  const terminate = () =>
    withClient(POSTGRES_ADMIN_URL, async (c) =>
      (await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name])).rowCount ?? 0);
  return {
    url: url.toString(),
    name,
    query: (sql, params) => withClient(url.toString(), async (c) => (await c.query(sql, params)).rows),
    terminateConnections: terminate,
    drop: () => withClient(POSTGRES_ADMIN_URL, async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
