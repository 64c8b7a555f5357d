import { backoffDelay, type Clock } from '@gitbridge/core';

/** Numbers of the {@link CircuitBreaker}. */
export interface BreakerPolicy {
  /** First hold after a failure, ms; it doubles with each consecutive failure (default 250). */
  readonly baseMs: number;
  /** Longest hold, ms (default 30 000). */
  readonly capMs: number;
}

/**
 * The MAS circuit breaker: after a retryable failure the circuit opens for a
 * while (no new claims), then lets one probe through at a time (half open);
 * the first success closes it. While it is open, a failing probe says nothing
 * about the task that carried it (the MAS as a whole is down), so callers do
 * not spend that task's attempts. Time comes from the injected clock.
 */
export class CircuitBreaker {
  readonly #clock: Clock;
  readonly #policy: BreakerPolicy;
  readonly #random: () => number;
  #failures = 0;
  #openUntil = 0;

  constructor(clock: Clock, policy: BreakerPolicy, random: () => number = Math.random) {
    this.#clock = clock;
    this.#policy = policy;
    this.#random = random;
  }

  /** Consecutive failures since the last success (0: closed). */
  get failures(): number {
    return this.#failures;
  }

  /** True while no submission may start. */
  get isOpen(): boolean {
    return this.#clock.now() < this.#openUntil;
  }

  /** ms until submissions may start again (0 when they may now). */
  msUntilClosed(): number {
    return Math.max(0, this.#openUntil - this.#clock.now());
  }

  /** How many submissions may run at once: one probe while failures persist, else `normal`. */
  concurrency(normal: number): number {
    return this.#failures > 0 ? 1 : normal;
  }

  /**
   * Records a success.
   * @returns the failures it ends (0 when the circuit was already closed)
   */
  success(): number {
    const ended = this.#failures;
    this.#failures = 0;
    this.#openUntil = 0;
    return ended;
  }

  /**
   * Records a retryable failure and opens the circuit for at least
   * `retryAfterMs` (the MAS's own `Retry-After`, which holds for every task),
   * and at most the task's own retry delay.
   *
   * @param taskDelayMs when the failed task is due again, ms
   * @returns whether the circuit was already open (half open) before this failure: a probe
   */
  failure(taskDelayMs: number, retryAfterMs: number | null): { probe: boolean } {
    const probe = this.#failures > 0;
    this.#failures++;
    const hold = Math.max(retryAfterMs ?? 0, Math.min(taskDelayMs, backoffDelay(this.#failures, { baseMs: this.#policy.baseMs, capMs: this.#policy.capMs, random: this.#random }) || 1));
    this.#openUntil = Math.max(this.#openUntil, this.#clock.now() + hold);
    return { probe };
  }
}
