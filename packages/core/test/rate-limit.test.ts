import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailOpenRateLimiter, MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../src/index.js';

const REDIS_URL = process.env.GITBRIDGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000 });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
const haveRedis = await redisAvailable();
if (!haveRedis && process.env.CI) throw new Error(`Redis is required in CI but ${REDIS_URL} does not answer`);
if (!haveRedis) console.warn(`SKIPPING Redis rate-limit tests: ${REDIS_URL} does not answer`);

/** One suite, run against every implementation. */
function limiterSuite(name: string, make: () => { limiter: RateLimiter; cleanup?: () => Promise<void> }, skip = false) {
  describe.skipIf(skip)(`${name} rate limiter`, () => {
    let limiter: RateLimiter;
    let cleanup: (() => Promise<void>) | undefined;
    beforeAll(() => {
      ({ limiter, cleanup } = make());
    });
    afterAll(async () => {
      await cleanup?.();
      await limiter.close();
    });
    const key = () => `rate_limit:webhook:repo_${randomUUID()}`;

    it('allows up to the limit, then denies without incrementing', async () => {
      const k = key();
      for (let i = 1; i <= 3; i++) expect(await limiter.consume(k, 3, 3600)).toMatchObject({ allowed: true, count: i, limit: 3 });
      const denied = await limiter.consume(k, 3, 3600);
      expect(denied).toMatchObject({ allowed: false, count: 3 });
      expect(denied.resetS).toBeGreaterThan(3590);
      expect(denied.resetS).toBeLessThanOrEqual(3600);
      expect(await limiter.consume(k, 3, 3600)).toMatchObject({ allowed: false, count: 3 });
    });

    it('peek reads without incrementing', async () => {
      const k = key();
      expect(await limiter.peek(k, 1, 60)).toMatchObject({ allowed: true, count: 0 });
      expect(await limiter.peek(k, 1, 60)).toMatchObject({ allowed: true, count: 0 });
      await limiter.consume(k, 1, 60);
      expect(await limiter.peek(k, 1, 60)).toMatchObject({ allowed: false, count: 1 });
    });

    it('keeps keys apart', async () => {
      const a = key();
      const b = key();
      await limiter.consume(a, 1, 60);
      expect((await limiter.consume(a, 1, 60)).allowed).toBe(false);
      expect((await limiter.consume(b, 1, 60)).allowed).toBe(true);
    });

    it('never over-admits under concurrency (no GET-then-INCR race)', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 200 }, () => limiter.consume(k, 50, 60)));
      expect(results.filter((r) => r.allowed)).toHaveLength(50);
    });
  });
}

limiterSuite('in-process', () => ({ limiter: new MemoryRateLimiter() }));

limiterSuite(
  'Redis',
  () => {
    const prefix = `gitbridge-test:${randomUUID()}:`;
    const redis = new Redis(REDIS_URL);
    return {
      limiter: new RedisRateLimiter(redis, { prefix, owned: true }),
      cleanup: async () => {
        // Remove only this run's keys; never FLUSHALL.
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      },
    };
  },
  !haveRedis,
);

describe.skipIf(!haveRedis)('Redis rate limiter specifics', () => {
  it('uses the seed key and sets the window TTL on first increment', async () => {
    const prefix = `gitbridge-test:${randomUUID()}:`;
    const redis = new Redis(REDIS_URL);
    const limiter = new RedisRateLimiter(redis, { prefix });
    await limiter.consume('rate_limit:webhook:repo_1296269', 10, 3600);
    expect(await redis.get(`${prefix}rate_limit:webhook:repo_1296269`)).toBe('1');
    const ttl = await redis.ttl(`${prefix}rate_limit:webhook:repo_1296269`);
    expect(ttl).toBeGreaterThan(3590);
    await redis.del(`${prefix}rate_limit:webhook:repo_1296269`);
    redis.disconnect();
  });
});

describe('FailOpenRateLimiter', () => {
  it('allows and reports when the backend is down (Redis on a closed port)', async () => {
    const redis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    redis.on('error', () => {});
    const errors: unknown[] = [];
    const limiter = new FailOpenRateLimiter(new RedisRateLimiter(redis, { owned: true }), (e) => errors.push(e));
    const d = await limiter.consume('k', 1, 60);
    expect(d.allowed).toBe(true);
    expect(errors).toHaveLength(1);
    await limiter.close();
  });
});
