import { backoffDelay, type Clock } from '@gitbridge/core';

/** Numbers of the {@link CircuitBreaker}. */
export interface BreakerPolicy {
  /** First hold after a MAS-wide failure, ms; it doubles with each consecutive one (default 250). */
  readonly baseMs: number;
  /** Longest hold between probes, ms (default 60 000). */
  readonly capMs: number;
  /** Consecutive failures of different tasks that count as the MAS being down, whatever their kind (default 3). */
  readonly distinctTasks: number;
  /**
   * A hold never exceeds this share of the time the MAS has been down so far
   * (default 0.1): after an outage of a minute, recovery is noticed within
   * about 6 s; only outages of ten minutes or more reach the cap.
   */
  readonly outageShare: number;
}

/**
 * How a submission failed, as far as the breaker is concerned:
 * - `mas`: says the MAS as a whole is unavailable: no connection, a
 *   timeout, `429`, `502`, `503`, `504`;
 * - `task`: may be this task's own problem (another `5xx`, `408`, a `2xx`
 *   without a task id).
 */
export type FailureKind = 'mas' | 'task';

/**
 * The MAS circuit breaker. A MAS-wide failure opens it: no submission starts
 * until the hold passes, then one probe at a time (half open); the first
 * success closes it. Holds double with each consecutive failure up to the
 * cap, with jitter, so a long outage is probed about once a minute, not
 * every second; and no hold is longer than a share of the outage so far, so
 * that the end of a short outage is noticed soon after it ends. A failure that may be the task's own does not stop the other
 * tasks, unless several different tasks fail in a row.
 *
 * While the MAS is down, a probe's failure says nothing about the task that
 * carried it: {@link CircuitBreaker.failure} answers whether the attempt
 * should be refunded. Time comes from the injected clock.
 */
export class CircuitBreaker {
  readonly #clock: Clock;
  readonly #policy: BreakerPolicy;
  readonly #random: () => number;
  /** Consecutive MAS-wide failures (sets the hold). */
  #masFailures = 0;
  /** Clock time of the first MAS-wide failure of the current outage. */
  #downSince = 0;
  /** Tasks that failed since the last success. */
  readonly #failedTasks = new Set<string>();
  #openUntil = 0;

  constructor(clock: Clock, policy: BreakerPolicy, random: () => number = Math.random) {
    this.#clock = clock;
    this.#policy = policy;
    this.#random = random;
  }

  /** Consecutive failures since the last success (0: closed). */
  get failures(): number {
    return this.#failedTasks.size === 0 ? 0 : Math.max(this.#masFailures, 1);
  }

  /** True while no submission may start. */
  get isOpen(): boolean {
    return this.#clock.now() < this.#openUntil;
  }

  /** ms until submissions may start again (0 when they may now). */
  msUntilClosed(): number {
    return Math.max(0, this.#openUntil - this.#clock.now());
  }

  /** How many submissions may run at once: one probe while the MAS looks down, else `normal`. */
  concurrency(normal: number): number {
    return this.#masFailures > 0 ? 1 : normal;
  }

  /**
   * Records a success.
   * @returns the MAS-wide failures it ends (0 when the MAS did not look down)
   */
  success(): number {
    const ended = this.#masFailures;
    this.#masFailures = 0;
    this.#downSince = 0;
    this.#failedTasks.clear();
    this.#openUntil = 0;
    return ended;
  }

  /**
   * Records a failed submission of `taskId`.
   *
   * @param retryAfterMs the MAS's `Retry-After`, ms: a floor for every task
   * @returns `holdMs`, how long no submission starts (0: the others go on);
   *   `refund`, true when the MAS already looked down before this failure, so
   *   that this attempt must not count against the task
   */
  failure(taskId: string, kind: FailureKind, retryAfterMs: number | null): { holdMs: number; refund: boolean } {
    const otherTasksFailing = [...this.#failedTasks].some((t) => t !== taskId);
    const wasDown = this.#masFailures > 0;
    this.#failedTasks.add(taskId);
    const down = kind === 'mas' || retryAfterMs !== null || this.#failedTasks.size >= this.#policy.distinctTasks;
    if (!down) return { holdMs: 0, refund: false };
    const now = this.#clock.now();
    if (this.#masFailures === 0) this.#downSince = now;
    this.#masFailures++;
    const shareOfOutage = Math.max(this.#policy.baseMs, (now - this.#downSince) * this.#policy.outageShare);
    const ceiling = Math.min(this.#policy.capMs, shareOfOutage, this.#policy.baseMs * 2 ** Math.min(this.#masFailures - 1, 30));
    // Equal jitter: never less than half the ceiling, so the holds really grow.
    const hold = Math.max(retryAfterMs ?? 0, Math.ceil(ceiling / 2 + backoffDelay(1, { baseMs: ceiling / 2, capMs: ceiling / 2, random: this.#random })));
    this.#openUntil = Math.max(this.#openUntil, now + hold);
    return { holdMs: hold, refund: wasDown && (kind === 'mas' || otherTasksFailing) };
  }
}
