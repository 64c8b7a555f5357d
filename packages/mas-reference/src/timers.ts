/**
 * Time and shutdown plumbing shared by the parts of one reference MAS:
 * ISO timestamps, cancellable sleeps and the `closed` flag.
 */

/**
 * Whether the server has been closed. Set once by `ReferenceMas.close()`;
 * background work (status changes, callback retries, withheld responses)
 * checks it before doing anything.
 */
export interface RunState {
  closed: boolean;
}

/** The current time as an ISO-8601 string (ms precision, UTC). */
export function nowIso(): string {
  return new Date().toISOString();
}

/** Cancellable timers: every pending sleep resolves `false` on {@link Timers.cancelAll}. */
export class Timers {
  readonly #pending = new Map<NodeJS.Timeout, (fired: boolean) => void>();
  #cancelled = false;

  /**
   * Resolves `true` after `ms` milliseconds, or `false` at once if (or as
   * soon as) the timers are cancelled. Never rejects.
   */
  sleep(ms: number): Promise<boolean> {
    if (this.#cancelled) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(timer);
        resolve(true);
      }, ms);
      this.#pending.set(timer, resolve);
    });
  }

  /** Clears every pending sleep (they resolve `false`); later sleeps resolve `false` at once. */
  cancelAll(): void {
    this.#cancelled = true;
    for (const [timer, resolve] of this.#pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.#pending.clear();
  }
}
