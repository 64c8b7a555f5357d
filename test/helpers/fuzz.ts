/**
 * A seeded pseudo-random generator and generators of hostile values for the
 * fuzz tests. Everything drawn here comes from one 32-bit seed, so a run is
 * reproduced exactly by running again with the same `GITBRIDGE_FUZZ_SEED`.
 */

/** The seed used when `GITBRIDGE_FUZZ_SEED` is not set. */
export const DEFAULT_FUZZ_SEED = 20240611;

/**
 * The seed of a fuzz run: `GITBRIDGE_FUZZ_SEED` (decimal, or hex with `0x`)
 * when set and not empty, else {@link DEFAULT_FUZZ_SEED}.
 *
 * @throws Error when the variable is set to something that is not an integer from 0 to 2^32 - 1
 */
export function fuzzSeed(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env.GITBRIDGE_FUZZ_SEED?.trim();
  if (!raw) return DEFAULT_FUZZ_SEED;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new Error(`GITBRIDGE_FUZZ_SEED must be an integer from 0 to 4294967295, got ${JSON.stringify(raw)}`);
  }
  return seed;
}

/** A seeded source of pseudo-random choices (mulberry32: 32-bit state, period 2^32). */
export interface Rng {
  /** The seed it started from. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer from `min` to `max`, both included. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** One value of a non-empty list of `[weight, value]`, with probability proportional to its weight. */
  weighted<T>(entries: readonly (readonly [number, T])[]): T;
  /** `length` characters drawn from `alphabet` (whole code points). */
  string(length: number, alphabet: string): string;
  /** `length` random bytes. */
  bytes(length: number): Buffer;
}

/**
 * A {@link Rng} seeded with `seed` (mulberry32, public domain, Tommy Ettinger).
 * The same seed always gives the same sequence, on every platform.
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[int(0, items.length - 1)]!;
  };
  return {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick,
    weighted<T>(entries: readonly (readonly [number, T])[]): T {
      const total = entries.reduce((sum, [w]) => sum + w, 0);
      let r = next() * total;
      for (const [w, value] of entries) {
        r -= w;
        if (r < 0) return value;
      }
      return entries[entries.length - 1]![1];
    },
    string(length, alphabet) {
      const chars = [...alphabet];
      let out = '';
      for (let i = 0; i < length; i++) out += pick(chars);
      return out;
    },
    bytes(length) {
      const b = Buffer.alloc(length);
      for (let i = 0; i < length; i++) b[i] = int(0, 255);
      return b;
    },
  };
}

/** Character classes for hostile strings: each is a plain alphabet of whole code points. */
export const CHAR_CLASSES = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  idPunct: '._:-',
  punct: '!"#$%&\'()*+,/;<=>?@[\\]^`{|}~',
  space: ' \t',
  control: '\u0000\u0001\u0007\u0008\u000b\u000c\u000e\u001b\u001f\u007f',
  newline: '\r\n',
  latin1: '\u00a0\u00e9\u00ff\u00d7\u00bf',
  unicode: '\u00e9\u4e2d\u0416\u05d0\u0627\u202e\u200b\u2028\u2029\ufeff\ufffd\u{1f600}\u{1f4a9}\u{10ffff}',
  loneSurrogate: '\ud800\udbff\udc00\udfff',
} as const;

/** The name of a {@link CHAR_CLASSES} entry. */
export type CharClass = keyof typeof CHAR_CLASSES;

/** Strings that have broken parsers, loggers and stores elsewhere. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'null',
  'undefined',
  'NaN',
  '-NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e999',
  '0x1f',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '\ud800',
  '\udfff\ud800',
  '\u{1f600}',
  '\u202eevil',
  'a\u0000b',
  '\r\nX-Injected: 1',
  '\n{"level":60,"msg":"forged"}',
  '<script>alert(1)</script>',
  "'; DROP TABLE deliveries; --",
  '../../../../etc/passwd',
  '%00%2F%2e%2e',
  '${jndi:ldap://127.0.0.1/x}',
  '{{constructor.constructor("return process")()}}',
  'sha256=',
  'Bearer ',
];

/** A string of `length` code points mixing the given character classes (default: all). */
export function randomString(rng: Rng, length: number, classes: readonly CharClass[] = Object.keys(CHAR_CLASSES) as CharClass[]): string {
  let out = '';
  for (let i = 0; i < length; i++) out += rng.string(1, CHAR_CLASSES[rng.pick(classes)]);
  return out;
}

/** A hostile string: a known troublemaker, a random mix of every class, or a long run (up to `maxLength`). */
export function hostileString(rng: Rng, maxLength = 300): string {
  return rng.weighted<() => string>([
    [4, () => rng.pick(HOSTILE_STRINGS)],
    [4, () => randomString(rng, rng.int(0, Math.min(40, maxLength)))],
    [1, () => rng.pick([...CHAR_CLASSES.unicode]).repeat(rng.int(1, Math.max(1, Math.floor(maxLength / 2))))],
    [1, () => 'x'.repeat(rng.int(0, maxLength))],
  ])();
}

/** JSON number literals at and past the edges of what JavaScript holds. */
export const HOSTILE_NUMBERS: readonly string[] = [
  '0', '-0', '0.0', '-0.0', '1', '-1', '1.5', '1e999', '-1e999', '1E+400', '1e-400', '5e-324', '1.7976931348623157e308',
  '9007199254740993', '-9007199254740993', '18446744073709551616', '123456789012345678901234567890', `1${'0'.repeat(400)}`,
  `0.${'0'.repeat(400)}1`, '2147483648', '4294967296',
];

/**
 * A JSON text nested `depth` levels deep: arrays, objects or both in turn,
 * with `leaf` (JSON text) at the bottom. Built as text, so any depth is
 * cheap and no JSON.stringify recursion is involved.
 */
export function nestedJson(depth: number, kind: 'array' | 'object' | 'mixed', leaf = '1'): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    const arr = kind === 'array' || (kind === 'mixed' && i % 2 === 0);
    open.push(arr ? '[' : '{"a":');
    close.push(arr ? ']' : '}');
  }
  return open.join('') + leaf + close.reverse().join('');
}

/**
 * A hostile JSON value as text (always valid JSON): numbers at the edges,
 * hostile strings (lone surrogates included, escaped), deep or wide arrays
 * and objects, duplicate and prototype-polluting keys. `budget` bounds the
 * size of composite values; deep nesting is drawn with `maxDepth`.
 */
export function hostileJson(rng: Rng, budget = 4, maxDepth = 200): string {
  const str = () => JSON.stringify(hostileString(rng, 200));
  return rng.weighted<() => string>([
    [3, () => rng.pick(['null', 'true', 'false', '""', '[]', '{}'])],
    [3, () => rng.pick(HOSTILE_NUMBERS)],
    [4, str],
    [1, () => nestedJson(rng.int(1, maxDepth), rng.pick(['array', 'object', 'mixed'] as const), budget > 0 ? hostileJson(rng, 0, 0) : '1')],
    [budget > 0 ? 2 : 0, () => `[${Array.from({ length: rng.int(0, 5) }, () => hostileJson(rng, budget - 1, maxDepth)).join(',')}]`],
    [budget > 0 ? 2 : 0, () => {
      const keys = Array.from({ length: rng.int(0, 5) }, () => JSON.stringify(rng.chance(0.3) ? rng.pick(['__proto__', 'constructor', 'prototype', 'action', 'a', 'a']) : hostileString(rng, 40)));
      return `{${keys.map((k) => `${k}:${hostileJson(rng, budget - 1, maxDepth)}`).join(',')}}`;
    }],
    [1, () => `[${Array.from({ length: rng.int(100, 2000) }, () => rng.pick(['0', '{}', '[]', '""', 'null'])).join(',')}]`],
  ])();
}

/** Text that is almost JSON: what a truncated, corrupted or hand-written body looks like. */
export function brokenJson(rng: Rng, valid: string): string {
  const at = rng.int(0, valid.length);
  return rng.weighted<() => string>([
    [2, () => valid.slice(0, at)],
    [2, () => valid.slice(0, at) + rng.pick(['\u0000', '"', '}', ']', ',', ':', '\\', '\ud800', '\u0001', 'NaN', 'undefined']) + valid.slice(at)],
    [1, () => `\ufeff${valid}`],
    [1, () => `${valid}${rng.pick(['x', ',', '}', ' {}', '\u0000', '//'])}`],
    [1, () => rng.pick(['NaN', 'Infinity', '-Infinity', 'undefined', "{'a':1}", '{a:1}', '{"a":1,}', '[1,]', '{"a":01}', '{"a":.5}', '{"a":"\\x41"}', '{"a":"\\u12"}', '/*c*/{}', '{"a":1}{"b":2}', ''])],
    [1, () => valid.replace(/:/, ' '.repeat(rng.int(0, 3)))],
  ])();
}

/** The lower-case 64-hex-digit runs in `text` (every 64-character window of a longer run too). */
export function hexDigestsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/[0-9a-fA-F]{64,}/g)) {
    const run = m[0].toLowerCase();
    for (let i = 0; i + 64 <= run.length; i++) out.push(run.slice(i, i + 64));
  }
  return out;
}
