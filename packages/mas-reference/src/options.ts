/**
 * Defaults and validation of {@link ReferenceMasOptions}, and the range checks
 * shared with the failure-mode API.
 */
import type { ReferenceMasEvent, ReferenceMasOptions } from './types.js';

/** Largest delay accepted by `setTimeout`, in ms (about 24.8 days). */
export const MAX_MS = 2_147_483_647;

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  callbackDelayMs: 50,
  completeAfterMs: 200,
  callbackMaxAttempts: 8,
  callbackRetryBaseMs: 100,
  callbackTimeoutMs: 5000,
} as const;

/**
 * {@link ReferenceMasOptions} with defaults applied and every value checked.
 * Durations are in ms.
 */
export interface ResolvedOptions {
  /** Secret that signs callbacks (non-empty). */
  readonly callbackSecret: string;
  /** Interface to bind (non-empty). */
  readonly host: string;
  /** Port asked for, 0-65535 (`0` = any free port). */
  readonly port: number;
  /** From task creation to `running`, in ms. */
  readonly callbackDelayMs: number;
  /** From `running` to `completed`, in ms. */
  readonly completeAfterMs: number;
  /** Attempts per callback, first included (1-100). */
  readonly callbackMaxAttempts: number;
  /** Backoff before the 2nd attempt, in ms; doubles after each failure. */
  readonly callbackRetryBaseMs: number;
  /** Timeout of one callback attempt (connect, headers, body), in ms (>= 1). */
  readonly callbackTimeoutMs: number;
  /** Bearer token every endpoint but `/healthz` requires; `undefined` or `''` = no auth. */
  readonly token: string | undefined;
  /** Whether the `/_control/...` routes are served. */
  readonly control: boolean;
  /** Whether fastify's request logger is on. */
  readonly logger: boolean;
  /** Event listener, if any. */
  readonly onEvent: ((event: ReferenceMasEvent) => void) | undefined;
}

/**
 * Checks an integer number of milliseconds usable as a timer delay.
 *
 * @param name what the value is, for the error message
 * @returns `value` (ms), unchanged
 * @throws TypeError when `value` is not an integer from 0 to {@link MAX_MS}
 */
export function assertMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw new TypeError(`${name} must be an integer number of milliseconds between 0 and ${MAX_MS}, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks an integer in `[min, max]` (both included).
 *
 * @param name what the value is, for the error message
 * @returns `value`, unchanged
 * @throws TypeError when `value` is not an integer in range
 */
export function assertInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Applies the defaults to the options of `startReferenceMas` and checks
 * them, in the order of the fields of {@link ResolvedOptions}.
 *
 * @throws Error when `callbackSecret` is missing or empty
 * @throws TypeError when `host` is empty or a number is out of range
 *   (`port` 0-65535, durations 0-{@link MAX_MS} ms, `callbackMaxAttempts`
 *   1-100, `callbackTimeoutMs` 1-{@link MAX_MS} ms)
 */
export function resolveOptions(options: ReferenceMasOptions): ResolvedOptions {
  if (typeof options?.callbackSecret !== 'string' || options.callbackSecret === '') {
    throw new Error('startReferenceMas: callbackSecret is required (a non-empty string used to sign callbacks)');
  }
  const host = options.host ?? DEFAULTS.host;
  if (typeof host !== 'string' || host === '') throw new TypeError('startReferenceMas: host must be a non-empty string');
  return {
    callbackSecret: options.callbackSecret,
    host,
    port: assertInt('port', options.port ?? DEFAULTS.port, 0, 65535),
    callbackDelayMs: assertMs('callbackDelayMs', options.callbackDelayMs ?? DEFAULTS.callbackDelayMs),
    completeAfterMs: assertMs('completeAfterMs', options.completeAfterMs ?? DEFAULTS.completeAfterMs),
    callbackMaxAttempts: assertInt('callbackMaxAttempts', options.callbackMaxAttempts ?? DEFAULTS.callbackMaxAttempts, 1, 100),
    callbackRetryBaseMs: assertMs('callbackRetryBaseMs', options.callbackRetryBaseMs ?? DEFAULTS.callbackRetryBaseMs),
    callbackTimeoutMs: assertInt('callbackTimeoutMs', options.callbackTimeoutMs ?? DEFAULTS.callbackTimeoutMs, 1, MAX_MS),
    token: options.token,
    control: options.control !== false,
    logger: options.logger ?? false,
    onEvent: options.onEvent,
  };
}
