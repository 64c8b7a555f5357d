import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/postgres.js';
import { describeStoreContract } from './store-contract.js';

/** Every table of the schema but `schema_migrations`, children first: emptied before each test (DELETE: far quicker than TRUNCATE on tiny tables). */
const TABLES = ['task_history', 'notifications', 'journal', 'tasks', 'delivery_bodies', 'deliveries', 'entities', 'settings'];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('gitbridge_contract');
  // Creates the schema once; each test starts from empty tables.
  await (await PostgresStore.open(db.url, { poolMax: 1 })).close();
});
afterAll(async () => {
  await db?.drop();
});

describeStoreContract('postgres', async () => {
  await db.query(TABLES.map((t) => `DELETE FROM ${t};`).join(' '));
  const store = await PostgresStore.open(db.url, { poolMax: 4 });
  return {
    store,
    // Leases and retry times run on the database's clock: let that much real time pass.
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
    cleanup: () => store.close(),
  };
});
