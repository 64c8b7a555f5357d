import type { Logger } from 'pino';
import { parseHookPath, runRecoveryPass, type Clock, type Config, type GitHubClient, type HookRef, type IsoTime, type Metrics, type Store } from '@gitbridge/core';
import { every } from './periodic.js';

/** How often the daemon records that it is alive, ms: the reach of the first pass after a crash is at most this much too long. */
export const HEARTBEAT_MS = 60_000;

/** Delay of the first pass after start, ms (at most the interval). */
const FIRST_PASS_MS = 10_000;

/**
 * The liveness heartbeat: records in the store, every {@link HEARTBEAT_MS}
 * of the clock, that a daemon is alive, so that a pass after downtime knows
 * where the downtime began (DESIGN §11). The daemon records the first one
 * itself at start, after reading the previous one.
 *
 * @returns a function that stops it
 */
export function startHeartbeat(deps: { store: Store; clock: Clock; log: Logger; stopping: () => boolean }): () => void {
  return every(deps.clock, HEARTBEAT_MS, HEARTBEAT_MS, async () => {
    if (deps.stopping()) return;
    try {
      await deps.store.recordHeartbeat();
    } catch (err) {
      if (!deps.stopping()) deps.log.warn({ err: { message: (err as Error).message } }, 'heartbeat could not be recorded; will try again');
    }
  });
}

/**
 * The periodic recovery pass (GITBRIDGE_RECOVER_INTERVAL_S): every interval
 * of the clock, one pass over GITBRIDGE_RECOVER_HOOKS under the store's
 * singleton lock `recovery`, so that with several daemons on one store one
 * pass runs at a time (a daemon that finds the lock held skips its turn).
 * The first pass, soon after start, reaches back to `lastAlive` (the last
 * sign of life before this start) for a hook without a checkpoint.
 *
 * @returns a function that stops it (a running pass finishes)
 */
export function startRecovery(deps: {
  store: Store;
  client: GitHubClient;
  clock: Clock;
  log: Logger;
  security: Logger;
  metrics: Metrics;
  config: Pick<Config, 'recoverHooks' | 'recoverIntervalS' | 'recoverLookbackS' | 'githubApiUrl'>;
  lastAlive: IsoTime | null;
  stopping: () => boolean;
}): () => void {
  const { store, clock, log, metrics, config } = deps;
  const hooks = config.recoverHooks.map(parseHookPath).filter((h): h is HookRef => h !== null);
  const intervalMs = config.recoverIntervalS * 1000;
  const passDeps = {
    store, client: deps.client, clock, log, security: deps.security, metrics,
    policy: { apiUrl: config.githubApiUrl, lookbackMs: config.recoverLookbackS * 1000 },
  };
  log.info({ hooks: hooks.map((h) => h.path), intervalS: config.recoverIntervalS, lastAlive: deps.lastAlive }, 'recovery: periodic pass on');
  return every(clock, Math.min(FIRST_PASS_MS, intervalMs), intervalMs, async () => {
    if (deps.stopping()) return;
    try {
      const outcome = await store.runExclusive('recovery', () => runRecoveryPass(passDeps, { hooks, lastAlive: deps.lastAlive }));
      if (!outcome.ran) {
        metrics.recoveryPasses.inc({ outcome: 'skipped' });
        log.debug('recovery: another node runs a pass; skipping this turn');
      }
    } catch (err) {
      if (deps.stopping()) return;
      metrics.recoveryPasses.inc({ outcome: 'failure' });
      log.warn({ err: { message: (err as Error).message } }, 'recovery pass failed; will try again');
    }
  });
}
