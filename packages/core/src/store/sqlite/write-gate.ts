/**
 * A pause for the writers on the daemon's event loop. While the background
 * checkpointer restarts the WAL it holds SQLite's writer lock; a commit
 * started on the event loop then would sleep in SQLite's busy handler and
 * stall every request (measured: 80–200 ms stalls with a 256 MB WAL). The
 * checkpointer closes the gate first, the group committers queue their rows
 * instead of committing, the event loop keeps serving requests, and the gate
 * reopens (and the queued commits run) when the checkpoint is done.
 *
 * Only the scheduled commits and the workers' claims look at the gate; a
 * write that must happen now (shutdown flushes, operator commands) does not,
 * and at worst waits in the busy handler as it would without a gate.
 */
export class WriteGate {
  #open = true;
  #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;

  /** True when writers may start a transaction. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Closes the gate for at most `maxMs` (ms): if nobody reopens it by then it
   * reopens by itself, so that a checkpointer that died mid-checkpoint cannot
   * stop writes for good.
   */
  close(maxMs = 2000): void {
    this.#open = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.open(), maxMs);
    this.#timer.unref();
  }

  /** Reopens the gate and runs the waiting writers, in the order they arrived. */
  open(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#open) return;
    this.#open = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Runs `fn` when the gate is open: now if it is, else when it reopens. */
  whenOpen(fn: () => void): void {
    if (this.#open) fn();
    else this.#waiters.push(fn);
  }
}
