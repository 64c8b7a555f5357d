import type { Logger } from 'pino';
import { GitBridgeError, type Clock, type Config, type Metrics, type RuleSpec, type Store } from '@gitbridge/core';

/**
 * The numbers of the workers. The ones an operator sets come from the
 * configuration; the rest are defaults here ({@link DEFAULT_POLICY}), and
 * tests may override any of them.
 */
export interface WorkerPolicy {
  /** Lease on a claimed item, ms (GITBRIDGE_LEASE_MS). */
  readonly leaseMs: number;
  /** Processing attempts before a delivery is dead (GITBRIDGE_PROCESS_MAX_ATTEMPTS). */
  readonly processMaxAttempts: number;
  /** First retry delay of a delivery that failed processing, ms; doubles per attempt (full jitter), capped at 60 s. */
  readonly processBackoffMs: number;
  /** Submission attempts before a task is dead (GITBRIDGE_MAS_MAX_ATTEMPTS). */
  readonly masMaxAttempts: number;
  /** Concurrent MAS submissions (GITBRIDGE_MAS_CONCURRENCY). */
  readonly masConcurrency: number;
  /** Per-attempt timeout of a submission, ms (GITBRIDGE_MAS_TIMEOUT_MS). */
  readonly masTimeoutMs: number;
  /** First retry delay of a task, ms; doubles per attempt (full jitter) up to `masBackoffCapMs`. */
  readonly masBackoffMs: number;
  readonly masBackoffCapMs: number;
  /** The circuit breaker's first hold and longest hold between probes, ms. */
  readonly breakerBaseMs: number;
  readonly breakerCapMs: number;
  /** Consecutive failures of different tasks that open the breaker even when each may be the task's own problem. */
  readonly breakerDistinctTasks: number;
  /** The longest hold as a share of the outage so far (0.1: a 1-minute outage is noticed over within about 6 s). */
  readonly breakerOutageShare: number;
  /** A task not accepted by the MAS after this long is dead, ms (GITBRIDGE_TASK_MAX_AGE_S). */
  readonly taskMaxAgeMs: number;
  /** How often queued tasks past the maximum age are swept, ms. */
  readonly expireEveryMs: number;
  /** Attempts of a chat notification before it is given up. */
  readonly notifyMaxAttempts: number;
  /** First retry delay of a notification, ms; doubles up to 30 s. */
  readonly notifyBackoffMs: number;
  /** Per-attempt timeout of a notification, ms. */
  readonly notifyTimeoutMs: number;
  /** Longest sleep of a worker loop, ms: polling is the backstop of wake-ups. */
  readonly pollMs: number;
}

/** Policy defaults that are not in the configuration. */
export const DEFAULT_POLICY = {
  processBackoffMs: 1000,
  masBackoffMs: 500,
  masBackoffCapMs: 60_000,
  breakerBaseMs: 250,
  breakerCapMs: 60_000,
  breakerDistinctTasks: 3,
  breakerOutageShare: 0.1,
  expireEveryMs: 60_000,
  notifyMaxAttempts: 4,
  notifyBackoffMs: 1000,
  notifyTimeoutMs: 5000,
  pollMs: 1000,
} as const;

/**
 * The policy of a configuration, with {@link DEFAULT_POLICY} for the rest; `overrides` win.
 * @throws GitBridgeError `GB_CONFIG_INVALID` for a negative or non-finite number
 */
export function policyFrom(config: Config, overrides: Partial<WorkerPolicy> = {}): WorkerPolicy {
  const policy: WorkerPolicy = {
    ...DEFAULT_POLICY,
    leaseMs: config.leaseMs,
    processMaxAttempts: config.processMaxAttempts,
    masMaxAttempts: config.masMaxAttempts,
    masConcurrency: config.masConcurrency,
    masTimeoutMs: config.masTimeoutMs,
    taskMaxAgeMs: config.taskMaxAgeS * 1000,
    ...overrides,
  };
  for (const [k, v] of Object.entries(policy)) {
    if (!Number.isFinite(v) || v < 0) throw new GitBridgeError('GB_CONFIG_INVALID', { message: `Worker policy ${k} must be a non-negative number, got ${String(v)}` });
  }
  return Object.freeze(policy);
}

/** What every worker needs. */
export interface WorkerContext {
  readonly config: Config;
  readonly policy: WorkerPolicy;
  readonly store: Store;
  readonly rules: readonly RuleSpec[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  /** Jitter source for backoff (default Math.random). */
  readonly random: () => number;
  /**
   * True while deliveries are arriving and the event loop is nearly
   * saturated: the workers then yield to ingest.
   */
  readonly ingestBusy: () => boolean;
  /** The callback URL the MAS is given: `<public URL>/mas/callback`. */
  readonly callbackUrl: () => string;
}
