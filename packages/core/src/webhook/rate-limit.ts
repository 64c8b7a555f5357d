import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/** The outcome of a rate-limit check. */
export interface RateLimitDecision {
  /** False when the window's limit is reached. */
  readonly allowed: boolean;
  /** Requests counted in the current window after this call. */
  readonly count: number;
  /** The limit applied. */
  readonly limit: number;
  /** Seconds until the window ends (the value for `Retry-After`), ≥ 1. */
  readonly resetS: number;
}

/**
 * A fixed-window counter store. Keys are full keys such as
 * `rate_limit:webhook:repo_1296269` (the seed's scheme).
 * Implementations: {@link MemoryRateLimiter} (in-process, the embedded
 * default) and {@link RedisRateLimiter} (shared by several daemons).
 */
export interface RateLimiter {
  /**
   * Checks the counter and, when under `limit`, increments it (atomically).
   * A denied call does not increment.
   * @param windowS window length, seconds
   */
  consume(key: string, limit: number, windowS: number): Promise<RateLimitDecision>;
  /** Reads the counter without incrementing: allowed when it is under `limit`. */
  peek(key: string, limit: number, windowS: number): Promise<RateLimitDecision>;
  /** Releases resources (timers, connections). */
  close(): Promise<void>;
}

/** In-process fixed-window counters. `now` is injectable for tests (ms since epoch). */
export class MemoryRateLimiter implements RateLimiter {
  readonly #windows = new Map<string, { count: number; resetAt: number }>();
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => {
      const now = this.#now();
      for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
    }, 60_000);
    this.#sweep.unref();
  }

  #window(key: string, windowS: number): { count: number; resetAt: number } {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + windowS * 1000 };
      this.#windows.set(key, w);
    }
    return w;
  }

  #decision(w: { count: number; resetAt: number }, allowed: boolean, limit: number): RateLimitDecision {
    return { allowed, count: w.count, limit, resetS: Math.max(1, Math.ceil((w.resetAt - this.#now()) / 1000)) };
  }

  async consume(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    const w = this.#window(key, windowS);
    if (w.count >= limit) return this.#decision(w, false, limit);
    w.count++;
    return this.#decision(w, true, limit);
  }

  async peek(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    const w = this.#window(key, windowS);
    return this.#decision(w, w.count < limit, limit);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
  }
}

const CONSUME_LUA = readFileSync(fileURLToPath(new URL('../../assets/lua/consume.lua', import.meta.url)), 'utf8');

/**
 * Fixed-window counters in Redis, checked and incremented by one Lua script
 * (`assets/lua/consume.lua`), so concurrent daemons never race between the
 * read and the increment. Errors (Redis down) are thrown; wrap it in
 * {@link FailOpenRateLimiter} to keep ingest working.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #owned: boolean;

  /**
   * @param redis an ioredis client
   * @param options `prefix` prepended to every key (tests use a random one); `owned`: close the client on {@link close}
   */
  constructor(redis: Redis, options: { prefix?: string; owned?: boolean } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? '';
    this.#owned = options.owned ?? false;
    redis.defineCommand('gitbridgeConsume', { numberOfKeys: 1, lua: CONSUME_LUA });
  }

  async #run(key: string, limit: number, windowS: number, increment: boolean): Promise<RateLimitDecision> {
    const r = (await (this.#redis as unknown as Record<string, (...a: unknown[]) => Promise<[number, number, number]>>).gitbridgeConsume!(
      this.#prefix + key,
      limit,
      windowS,
      increment ? '1' : '0',
    ));
    return { allowed: r[0] === 1, count: r[1], limit, resetS: Math.max(1, r[2]) };
  }

  consume(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    return this.#run(key, limit, windowS, true);
  }

  peek(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    return this.#run(key, limit, windowS, false);
  }

  async close(): Promise<void> {
    if (this.#owned) this.#redis.disconnect();
  }
}

/**
 * Wraps a limiter so that its failures allow the request (fail open) instead
 * of rejecting deliveries GitHub will never retry. `onError` is called for
 * each failure (log a warning, count a metric).
 */
export class FailOpenRateLimiter implements RateLimiter {
  constructor(
    private readonly inner: RateLimiter,
    private readonly onError: (err: unknown) => void,
  ) {}

  async #guard(fn: () => Promise<RateLimitDecision>, limit: number): Promise<RateLimitDecision> {
    try {
      return await fn();
    } catch (err) {
      this.onError(err);
      return { allowed: true, count: 0, limit, resetS: 1 };
    }
  }

  consume(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    return this.#guard(() => this.inner.consume(key, limit, windowS), limit);
  }

  peek(key: string, limit: number, windowS: number): Promise<RateLimitDecision> {
    return this.#guard(() => this.inner.peek(key, limit, windowS), limit);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
