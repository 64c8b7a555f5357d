import pg from 'pg';

/** Options of a {@link GuardedClient}: node-postgres's, and how long an answer may take. */
export interface GuardedClientConfig extends pg.ClientConfig {
  /**
   * ms a query may wait for the server's answer before the connection is
   * given up (0: no limit). Set above the server-side `statement_timeout`:
   * it only fires when the server cannot answer at all (a partition that
   * drops packets without a reset, a frozen host), where TCP would wait for
   * minutes.
   */
  readonly answerTimeoutMs?: number;
}

/**
 * A string without U+0000: PostgreSQL's `text` cannot hold it (SQLSTATE
 * 22021, "invalid byte sequence for encoding UTF8: 0x00"), while JSON, and
 * so a GitHub payload or a MAS answer, may carry it in any string. It
 * becomes U+FFFD, the replacement character. Arrays (the columns of a
 * multi-row insert) are cleaned element by element; every other value,
 * Buffers (the delivery body, kept byte-identical) included, is left as it is.
 */
export function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
  if (Array.isArray(value)) return value.map(withoutNul);
  return value;
}

type QueryArgs = unknown[];
type Callback = (err: Error | null, result: unknown) => void;

/**
 * The connection class of the PostgreSQL store's pools. Two things no query
 * of the store should have to remember:
 * - parameters never carry U+0000 ({@link withoutNul}), so a payload value
 *   cannot make a delivery fail for good, nor a callback fail with 500;
 * - a query that gets no answer within `answerTimeoutMs` ends its
 *   connection: the query fails at once with `ETIMEDOUT` (the store answers
 *   503, GB_STORE_UNAVAILABLE) and the pool discards the connection, instead
 *   of a webhook request hanging past GitHub's 10-s timeout.
 */
export class GuardedClient extends pg.Client {
  readonly #answerTimeoutMs: number;

  constructor(config: GuardedClientConfig = {}) {
    super(config);
    this.#answerTimeoutMs = config.answerTimeoutMs ?? 0;
  }

  // node-postgres's query() is overloaded (text, values, callback, config
  // objects, submittables): the parameters are cleaned where they are, and
  // the watchdog follows whichever of a callback or a promise reports the end.
  override query(...args: QueryArgs): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    const [first, second] = args;
    if (Array.isArray(second)) args[1] = second.map(withoutNul);
    else if (first !== null && typeof first === 'object' && Array.isArray((first as { values?: unknown }).values)) {
      args[0] = { ...(first as object), values: (first as { values: unknown[] }).values.map(withoutNul) };
    }
    const base = pg.Client.prototype.query as (...a: QueryArgs) => unknown;
    if (this.#answerTimeoutMs <= 0 || (first !== null && typeof first === 'object' && typeof (first as { submit?: unknown }).submit === 'function')) {
      return base.apply(this, args);
    }
    const timer = setTimeout(() => this.#giveUp(), this.#answerTimeoutMs);
    timer.unref();
    const cbAt = args.findIndex((a) => typeof a === 'function');
    if (cbAt >= 0) {
      const cb = args[cbAt] as Callback;
      args[cbAt] = (err: Error | null, result: unknown) => {
        clearTimeout(timer);
        cb(err, result);
      };
      return base.apply(this, args);
    }
    const result = base.apply(this, args) as Promise<unknown>;
    const done = (): void => clearTimeout(timer);
    result.then(done, done);
    return result;
  }

  /** Ends the connection under a query that got no answer: node-postgres fails every query on it with this error. */
  #giveUp(): void {
    destroySocket(this, Object.assign(new Error(`Connection terminated: PostgreSQL did not answer within ${this.#answerTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
  }
}

/**
 * Destroys a connection's socket (node-postgres keeps it at
 * `connection.stream`): every query on it fails at once, with `err` when
 * given, and the connection ends without waiting for the server.
 */
export function destroySocket(client: pg.ClientBase, err?: Error): void {
  (client as unknown as { connection?: { stream?: { destroy(e?: Error): void } } }).connection?.stream?.destroy(err);
}
