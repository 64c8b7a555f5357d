/**
 * The store: its contract, and {@link openStore}, which picks the engine.
 * This module loads no engine until a store is opened, so that commands
 * that never touch a store stay fast to start.
 */
import { GitBridgeError } from '../errors/errors.js';
import type { Clock } from '../time/clock.js';
import type { Store, StoreAccess } from './contract.js';
import type { CopyProgress, CopyResult } from './copy.js';

export { DELIVERY_STATES, TASK_STATUSES, UNFINISHED_TASK_STATUSES, STATUS_RANK, isTerminal } from './contract.js';
export { MIN_ID_PREFIX, resolveDeliveryId, resolveTaskId } from './resolve-id.js';
export type {
  CallbackDetail,
  CallbackOutcome,
  TaskWithoutPayload,
  Claim,
  ClaimedDelivery,
  Delivery,
  DeliveryFilter,
  DeliveryResult,
  DeliveryState,
  ExclusiveOutcome,
  IsoTime,
  JournalFilter,
  JournalRecord,
  NewDelivery,
  Notification,
  NotificationStatus,
  QueueName,
  RecoveryGap,
  RedeliveryIntent,
  RedeliveryOutcome,
  RedeliveryReason,
  RedeliveryRequest,
  RetryOutcome,
  Store,
  StoreCounts,
  StoreHealth,
  Task,
  TaskFilter,
  TaskStatus,
  UnfinishedTaskStatus,
  TaskTransition,
  TransitionSource,
  StoreAccess,
} from './contract.js';
export type { CopyProgress, CopyResult } from './copy.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** The data directory (SQLite: `<dataDir>/gitbridge.db`). */
  readonly dataDir: string;
  /** A PostgreSQL URL (`GITBRIDGE_DATABASE_URL`): when set, the store is that database instead of the SQLite file. */
  readonly databaseUrl?: string | undefined;
  /** PostgreSQL: connections in the pool (default 10). */
  readonly poolMax?: number;
  /** PostgreSQL: called with each connection-level error the store recovers from by itself, to log it. */
  readonly onConnectionError?: (err: { message: string; code?: string }) => void;
  readonly access: StoreAccess;
  /** The store's clock (SQLite; PostgreSQL uses the database's). Default the system clock. */
  readonly clock?: Clock;
  /** SQLite `synchronous` mode (default NORMAL). */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** Called with each background checkpoint error (SQLite), to log it. */
  readonly onCheckpointError?: (err: { message: string; code?: string }) => void;
  /** Observes each group commit of deliveries: batch size, duration in ms. */
  readonly onIngestCommit?: (batchSize: number, durationMs: number) => void;
}

/**
 * Opens the store a configuration names: PostgreSQL when `databaseUrl` is
 * set, else the SQLite file in the data directory.
 *
 * @throws GitBridgeError `GB_STORE_NOT_FOUND`, `GB_STORE_SCHEMA_MISMATCH`, `GB_STORE_DISK_SPACE`,
 *   `GB_STORE_UNAVAILABLE` (PostgreSQL cannot be reached), `GB_STORE_ERROR`
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (options.databaseUrl) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open(options.databaseUrl, {
      access: options.access,
      applicationName: options.access === 'owner' ? 'gitbridged' : 'gitbridge',
      ...(options.poolMax !== undefined ? { poolMax: options.poolMax } : {}),
      ...(options.onIngestCommit ? { onIngestCommit: options.onIngestCommit } : {}),
      ...(options.onConnectionError ? { onConnectionError: options.onConnectionError } : {}),
    });
  }
  const { SqliteStore } = await import('./sqlite/sqlite-store.js');
  return SqliteStore.open(options.dataDir, {
    readonly: options.access === 'read',
    migrate: options.access === 'owner',
    backgroundCheckpoint: options.access === 'owner',
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onCheckpointError ? { onCheckpointError: options.onCheckpointError } : {}),
    ...(options.onIngestCommit ? { onIngestCommit: options.onIngestCommit } : {}),
  });
}

/** Options of {@link copySqliteToPostgres}. */
export interface CopyToPostgresOptions {
  /** The data directory of the SQLite store (`<dataDir>/gitbridge.db`), read-only. */
  readonly dataDir: string;
  /** The PostgreSQL store, created or migrated to this version's schema when needed. */
  readonly databaseUrl: string;
  /** Records per transaction (default 200). */
  readonly batch?: number;
  readonly onProgress?: (p: CopyProgress) => void;
}

/**
 * `gitbridge store copy`: copies the SQLite store into PostgreSQL
 * (deliveries with their bodies byte-identical, tasks with their history,
 * notifications, the journal, entities and settings). Runs again copy only
 * what the target does not hold.
 *
 * @throws GitBridgeError as {@link openStore} for either store
 */
export async function copySqliteToPostgres(options: CopyToPostgresOptions): Promise<CopyResult> {
  const [{ SqliteStore }, { PostgresStore }, { copyStore }] = await Promise.all([
    import('./sqlite/sqlite-store.js'),
    import('./postgres/postgres-store.js'),
    import('./copy.js'),
  ]);
  let source: ReturnType<typeof SqliteStore.open>;
  try {
    source = SqliteStore.open(options.dataDir, { readonly: true });
  } catch (err) {
    // The copy's source is only ever the SQLite file: its hint need not mention a database URL.
    if (err instanceof GitBridgeError && err.code === 'GB_STORE_NOT_FOUND') {
      throw new GitBridgeError('GB_STORE_NOT_FOUND', { message: err.message, hint: "point --data-dir (or GITBRIDGE_DATA_DIR) at the data directory of the gitbridged whose SQLite store you copy", cause: err });
    }
    throw err;
  }
  try {
    // The copy creates (or migrates) the target's schema, under the same advisory lock as a daemon.
    const target = await PostgresStore.open(options.databaseUrl, { access: 'owner', poolMax: 2, applicationName: 'gitbridge store copy' });
    try {
      return await copyStore(source.copySource(), target.copyTarget(), {
        ...(options.batch !== undefined ? { batch: options.batch } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
