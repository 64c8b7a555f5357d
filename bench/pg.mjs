// PostgreSQL for the bench: a fresh database per daemon run (or per flow with
// several daemons), dropped afterwards, as the tests do. `pg` comes from the
// measured checkout's packages/core (its dependency).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

/** Default server of --pg-url: the machine's PostgreSQL, trust auth. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function pgOf(root) {
  return createRequire(join(root, 'packages/core/package.json'))('pg');
}

/**
 * Creates a database `gb_bench_<random>` on the server of `serverUrl`.
 * @returns its URL and `drop()` (waits for connections to end, then drops it)
 */
export async function createBenchDatabase(root, serverUrl = DEFAULT_PG_URL) {
  const pg = pgOf(root);
  const name = `gb_bench_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
    /** The delivery ids stored (the integrity check after an ingest run). */
    async storedIds() {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        return new Set((await c.query('SELECT delivery_id FROM deliveries')).rows.map((r) => r.delivery_id));
      } finally {
        await c.end();
      }
    },
  };
}
