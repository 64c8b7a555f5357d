import type { Logger } from 'pino';
import {
  fetchHooksSnapshot,
  newestHooksSnapshot,
  storedHooksSnapshot,
  storeHooksSnapshot,
  writeHooksSnapshot,
  type Clock,
  type HooksSnapshot,
  type Metrics,
  type Store,
} from '@gitbridge/core';
import { every } from './periodic.js';

/** How often every node reloads the snapshot from the store, ms (default of {@link HookRangesDeps.reloadEveryMs}). */
const RELOAD_EVERY_MS = 60_000;

/** What the hook ranges jobs need. */
export interface HookRangesDeps {
  readonly metaUrl: string;
  readonly dataDir: string;
  readonly store: Store;
  /** Refresh from GitHub every this many seconds; 0: never (the reload from the store still runs). */
  readonly refreshS: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The snapshot in force now. */
  readonly current: () => HooksSnapshot;
  readonly apply: (snapshot: HooksSnapshot) => void;
  readonly stopping: () => boolean;
  /** How often to reload the store's snapshot, ms (default a minute). */
  readonly reloadEveryMs?: number;
}

/**
 * The hook ranges with several daemons on one store: one node at a time
 * refreshes them from GitHub's meta API (the store's singleton lock
 * `hook-ranges`) and shares the fresh snapshot in the store; every node
 * reloads the store's snapshot every minute, so none stays on stale ranges.
 * A refresh that another node made recently is not made again. A failed
 * refresh keeps the last good list. GitHub advises refreshing the ranges
 * regularly (REST API, "Get GitHub meta information").
 *
 * @returns a function that stops both jobs
 */
export function startHookRanges(deps: HookRangesDeps): () => void {
  const { log, metrics, store } = deps;
  const applyIfNewer = (candidate: HooksSnapshot | undefined, how: string) => {
    const now = deps.current();
    const best = newestHooksSnapshot(now, candidate);
    if (best === now) return;
    deps.apply(best);
    log.info({ ranges: best.hooks.length, hooksSnapshot: best.snapshot_date }, how);
  };

  const reload = async () => {
    try {
      const stored = await storedHooksSnapshot(store);
      if (!deps.stopping()) applyIfNewer(stored, 'GitHub hook ranges reloaded from the store');
    } catch (err) {
      if (!deps.stopping()) log.warn({ err: { message: (err as Error).message } }, 'could not reload the hook ranges from the store; keeping the current list');
    }
  };

  const refresh = async () => {
    if (deps.stopping()) return;
    try {
      const outcome = await store.runExclusive('hook-ranges', async () => {
        const stored = await storedHooksSnapshot(store);
        const age = stored ? deps.clock.now() - Date.parse(stored.snapshot_date) : Infinity;
        // Another node refreshed them lately: use its snapshot.
        if (stored && age >= 0 && age < (deps.refreshS * 1000) / 2) return { snapshot: stored, fetched: false };
        const fresh = await fetchHooksSnapshot(deps.metaUrl);
        // The daemon may have stopped (and closed its logs and store) while the fetch ran.
        if (deps.stopping()) return undefined;
        await storeHooksSnapshot(store, fresh);
        writeHooksSnapshot(deps.dataDir, fresh);
        return { snapshot: fresh, fetched: true };
      });
      if (!outcome.ran || outcome.value === undefined || deps.stopping()) return;
      const { snapshot, fetched } = outcome.value;
      if (fetched) {
        deps.apply(snapshot);
        metrics.ipRangesRefresh.inc({ outcome: 'success' });
        log.info({ ranges: snapshot.hooks.length }, 'GitHub hook ranges refreshed');
      } else {
        applyIfNewer(snapshot, 'GitHub hook ranges refreshed by another node');
      }
    } catch (err) {
      if (deps.stopping()) return;
      metrics.ipRangesRefresh.inc({ outcome: 'failure' });
      log.warn({ err: { message: (err as Error).message } }, 'GitHub hook ranges refresh failed: keeping the last good list');
    }
  };

  const reloadMs = deps.reloadEveryMs ?? RELOAD_EVERY_MS;
  const stops = [every(deps.clock, reloadMs, reloadMs, reload)];
  if (deps.refreshS > 0) stops.push(every(deps.clock, Math.min(5_000, deps.refreshS * 1000), deps.refreshS * 1000, refresh));
  return () => {
    for (const stop of stops) stop();
  };
}
