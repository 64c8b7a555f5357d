import { describe, expect, it } from 'vitest';
import { checkSchema, refuseNewerSchema, type Migration } from '../src/store/schema.js';

/** A code base whose migrations skip version 3 (reserved for a change made in parallel). */
const MIGRATIONS: Migration[] = [1, 2, 4].map((version) => ({ version, name: `m${version}`, sql: '' }));

describe('schema versions', () => {
  it('a store with every known migration passes, whatever the gap in the numbers', () => {
    expect(() => refuseNewerSchema('s', new Set([1, 2, 4]), MIGRATIONS)).not.toThrow();
    expect(() => checkSchema('s', new Set([1, 2, 4]), MIGRATIONS, 'hint')).not.toThrow();
  });
  it('a store with a migration this code does not know is refused, above its newest or in a gap', () => {
    for (const check of [(a: Set<number>) => refuseNewerSchema('s', a, MIGRATIONS), (a: Set<number>) => checkSchema('s', a, MIGRATIONS, 'hint')]) {
      expect(() => check(new Set([1, 2, 4, 5]))).toThrow(/newer than this GitBridge knows \(4\)/);
      expect(() => check(new Set([1, 2, 3, 4]))).toThrow(/has migration 3, which this GitBridge does not know/);
      try {
        check(new Set([1, 2, 3, 4]));
      } catch (err) {
        expect(err).toMatchObject({ code: 'GB_STORE_SCHEMA_MISMATCH' });
      }
    }
  });
});
