import { errorCodeOf } from '../../errors/errors.js';

/** Node socket errors: the database cannot be reached. */
const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * SQLSTATEs that say "not now" rather than "this is wrong": the connection
 * or the server went away (class 08, 57P01-57P03: an administrator, a crash
 * or a failover ended the session), the server is out of connections or
 * resources (class 53), a statement ran past its timeout (57014), the server
 * is a read-only standby (25006, after a failover), or the transaction lost
 * a serialization or deadlock race (40001, 40P01) and may simply be tried
 * again.
 */
function transientSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || ['57P01', '57P02', '57P03', '57014', '25006', '40001', '40P01'].includes(code);
}

/**
 * node-postgres reports a few connection failures with no code at all,
 * only a message (a socket closed under a query, a pool that could not
 * connect in time): the only way to recognise them.
 */
const DRIVER_CONNECTION_MESSAGE = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout|Client was closed|Connection is closed/i;

/**
 * True when `err` means the database cannot be reached or cannot commit now
 * (answer 503, try again later), as opposed to a statement it refused.
 */
export function isConnectionError(err: unknown): boolean {
  const code = errorCodeOf(err);
  if (code !== undefined) return SOCKET_CODES.has(code) || transientSqlState(code);
  return DRIVER_CONNECTION_MESSAGE.test((err as Error | null)?.message ?? '');
}

/**
 * True when a prepared statement's plan no longer fits the schema: another
 * node migrated (a column added to a table a `*` reads) after this
 * connection prepared it. PostgreSQL refuses it with SQLSTATE 0A000 "cached
 * plan must not change result type" before running it; the statement is
 * safe to run again on a connection that prepares it afresh.
 */
export function isStalePlan(err: unknown): boolean {
  return errorCodeOf(err) === '0A000' && /cached plan must not change result type/i.test((err as Error | null)?.message ?? '');
}
