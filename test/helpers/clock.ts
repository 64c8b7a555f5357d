import type { ManualClock } from '@gitbridge/core';

/** Waits `ms` of real time: lets I/O on loopback (HTTP, SQLite commits) happen while a ManualClock stands still. */
export function realDelay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Moves `clock` forward in steps of at most `stepMs`, letting real I/O settle
 * (`settleMs` of real time) after each step, until `done()` holds.
 *
 * @returns the manual time that passed, ms
 * @throws Error when `done()` still fails after `maxMs` of manual time
 */
export async function advanceUntil(clock: ManualClock, done: () => boolean | Promise<boolean>, options: { maxMs: number; stepMs?: number; settleMs?: number; what?: string }): Promise<number> {
  const start = clock.now();
  const step = options.stepMs ?? 250;
  for (;;) {
    await realDelay(options.settleMs ?? 15);
    if (await done()) return clock.now() - start;
    if (clock.now() - start >= options.maxMs) throw new Error(`not ${options.what ?? 'done'} after ${options.maxMs} ms of manual time`);
    await clock.advance(step);
  }
}

/** Moves `clock` forward by `totalMs` in steps of `stepMs`, letting real I/O settle (`settleMs`) after each step. */
export async function advanceBy(clock: ManualClock, totalMs: number, stepMs = 250, settleMs = 15): Promise<void> {
  const end = clock.now() + totalMs;
  while (clock.now() < end) {
    await clock.advance(Math.min(stepMs, end - clock.now()));
    await realDelay(settleMs);
  }
}
