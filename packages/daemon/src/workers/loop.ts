import type { Logger } from 'pino';
import type { Clock, ClockTimer } from '@gitbridge/core';

/** Options of a {@link Loop}. */
export interface LoopOptions {
  /** Names the loop in logs. */
  readonly name: string;
  /** One round of work; resolves true when it should run again at once (a full batch was claimed). */
  readonly tick: () => Promise<boolean>;
  /** ms until the next item is due, or null when nothing waits (the store's {@link Store.msUntilDue}, plus any hold). */
  readonly msUntilDue: () => Promise<number | null>;
  readonly log: Logger;
  readonly clock: Clock;
  /** The longest sleep, ms, whatever the store says: polling is the backstop of wake-ups (default 1000). */
  readonly pollMs?: number;
  /**
   * Asks for a pause after a tick that took `tickMs` (real time), ms: ingest
   * priority while the event loop is saturated. Default none.
   */
  readonly pace?: (tickMs: number) => number;
  /** Backoff after a tick that threw: first delay and cap, ms (default 250 doubling to 5000: a store back from an outage is used again within 5 s). */
  readonly failureBackoffMs?: { readonly first: number; readonly cap: number };
}

/**
 * A polling loop that also wakes on `kick()`. When a tick reports no more
 * work, the loop sleeps until the store's next due item, `pollMs` at most.
 * Ticks never run inside the caller of `kick()` (a request handler): the
 * first one runs on the next turn of the event loop, and the loop yields to
 * I/O between ticks. A tick that throws (a store that cannot write) backs the
 * loop off, doubling, instead of spinning. Sleeps run on the injected clock.
 */
export class Loop {
  readonly #o: Required<Omit<LoopOptions, 'failureBackoffMs'>> & { failureBackoffMs: { first: number; cap: number } };
  #timer: ClockTimer | null = null;
  #scheduled = false;
  /** Clock time before which no tick starts (a failure backoff). */
  #notBefore = 0;
  #running = false;
  #stopped = false;
  #again = false;
  #failures = 0;
  #idle: Promise<void> = Promise.resolve();

  constructor(options: LoopOptions) {
    this.#o = { pollMs: 1000, pace: () => 0, failureBackoffMs: { first: 250, cap: 5_000 }, ...options };
  }

  /** Runs a tick soon (next turn), unless one runs now (then once more after it) or a failure backoff holds. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    const start = () => {
      this.#scheduled = false;
      if (this.#running || this.#stopped) return;
      this.#idle = this.#run();
    };
    const wait = this.#notBefore - this.#o.clock.now();
    if (wait > 0) this.#timer = this.#o.clock.setTimeout(start, wait);
    else setImmediate(start);
  }

  async #run(): Promise<void> {
    this.#running = true;
    let again = true;
    while (again && !this.#stopped) {
      this.#again = false;
      const started = performance.now();
      try {
        again = (await this.#o.tick()) || this.#again;
        this.#failures = 0;
      } catch (err) {
        this.#failures++;
        const backoffMs = Math.min(this.#o.failureBackoffMs.cap, this.#o.failureBackoffMs.first * 2 ** Math.min(this.#failures - 1, 16));
        this.#o.log.error({ err, worker: this.#o.name, failures: this.#failures, retryInMs: backoffMs }, 'worker tick failed');
        this.#notBefore = this.#o.clock.now() + backoffMs;
        break;
      }
      const pause = this.#o.pace(performance.now() - started);
      if (again && !this.#stopped) {
        // Let the event loop serve requests between ticks; pause longer when asked to.
        await new Promise<void>((r) => (pause > 0 ? setTimeout(r, pause) : setImmediate(r)));
      }
    }
    this.#running = false;
    if (this.#stopped) return;
    let wait: number;
    if (this.#failures > 0) {
      // kick() honours #notBefore too, so new work does not bring back a tight loop.
      wait = Math.max(0, this.#notBefore - this.#o.clock.now());
    } else {
      wait = this.#o.pollMs;
      try {
        const due = await this.#o.msUntilDue();
        if (due !== null) wait = Math.max(0, Math.min(this.#o.pollMs, due));
      } catch {
        // the store is closing: poll again later
      }
    }
    if (this.#stopped) return;
    if (this.#again) return this.kick();
    this.#timer = this.#o.clock.setTimeout(() => this.kick(), wait);
  }

  /** Stops scheduling and waits for the running tick. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    await this.#idle;
  }
}
