import type { Clock, ClockTimer } from '@gitbridge/core';

/**
 * Runs `job` after `firstMs`, then every `everyMs` (ms of `clock`), one run at
 * a time: a run that is still going when the next is due skips that turn.
 *
 * @returns a function that stops the schedule (a running job finishes)
 */
export function every(clock: Clock, firstMs: number, everyMs: number, job: () => Promise<void>): () => void {
  let timer: ClockTimer | null = null;
  let stopped = false;
  let running = false;
  const schedule = (ms: number) => {
    if (!stopped) timer = clock.setTimeout(run, ms);
  };
  const run = () => {
    if (running) return schedule(everyMs);
    running = true;
    job().finally(() => {
      running = false;
      schedule(everyMs);
    });
  };
  schedule(firstMs);
  return () => {
    stopped = true;
    clock.clearTimeout(timer);
  };
}
