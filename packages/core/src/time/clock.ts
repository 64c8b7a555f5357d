/**
 * Time as the loops, backoff, circuit breaker, leases and schedules of
 * GitBridge see it. Production code gets {@link systemClock}; tests pass a
 * {@link ManualClock} so that an outage of minutes runs in milliseconds and
 * nothing waits for a real timer.
 *
 * Only policy reads this clock (when is a retry due, when does a lease end,
 * how long the breaker stays open). Measurements (request durations, event
 * loop utilisation) stay on `performance.now()`.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `fn` once after `ms` milliseconds of this clock. The timer never
   * keeps the process alive (it is unref'd on the system clock).
   *
   * @returns a handle for {@link Clock.clearTimeout}
   */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** Cancels a timer; a timer that already fired or was cleared is ignored. */
  clearTimeout(timer: ClockTimer | undefined | null): void;
}

/** An opaque timer handle of a {@link Clock}. */
export interface ClockTimer {
  readonly __clockTimer: true;
}

/** Resolves after `ms` milliseconds of `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** The wall clock (`Date.now`) with Node's unref'd timers. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t as unknown as ClockTimer;
  },
  clearTimeout(timer: ClockTimer | undefined | null): void {
    if (timer) clearTimeout(timer as unknown as NodeJS.Timeout);
  },
});

interface ManualTimer extends ClockTimer {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * A clock that moves only when a test says so. Timers fire in order of their
 * due time (then creation) during {@link ManualClock.advance}; between two
 * timers it lets pending I/O callbacks and promise continuations run, so that
 * code woken by one timer can schedule the next before the clock moves on.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  /** @param startMs the initial time, ms since the epoch (default: the real time now) */
  constructor(startMs: number = Date.now()) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: ManualTimer = { __clockTimer: true, at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer | undefined | null): void {
    if (!timer) return;
    (timer as ManualTimer).fn = null;
    this.#timers = this.#timers.filter((t) => t !== timer);
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Due time (ms since the epoch) of the next timer, or null when none waits. */
  nextAt(): number | null {
    let next: number | null = null;
    for (const t of this.#timers) if (next === null || t.at < next) next = t.at;
    return next;
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that falls due on
   * the way, in order. After each timer (and at the end) it yields to the
   * event loop (`setImmediate`) so that real I/O started by the woken code
   * can progress.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + Math.max(0, ms);
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      const fn = due.fn;
      due.fn = null;
      fn?.();
    }
    this.#now = end;
    await new Promise<void>((r) => setImmediate(r));
  }
}
