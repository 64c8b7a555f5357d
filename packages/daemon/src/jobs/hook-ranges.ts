import type { Logger } from 'pino';
import { fetchHooksSnapshot, writeHooksSnapshot, type Clock, type HooksSnapshot, type Metrics } from '@gitbridge/core';
import { every } from './periodic.js';

/**
 * The periodic refresh of GitHub's hook ranges (GITBRIDGE_META_REFRESH_S):
 * `GET <meta URL>`, field `hooks`; a fresh list is written to the data
 * directory and applied; a failed refresh keeps the last good list. GitHub
 * advises refreshing the ranges regularly (REST API, "Get GitHub meta
 * information").
 *
 * @returns a function that stops it
 */
export function startHookRangesRefresh(deps: {
  metaUrl: string;
  dataDir: string;
  refreshS: number;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  apply: (snapshot: HooksSnapshot) => void;
  stopping: () => boolean;
}): () => void {
  const { log, metrics } = deps;
  return every(deps.clock, Math.min(5_000, deps.refreshS * 1000), deps.refreshS * 1000, async () => {
    try {
      const fresh = await fetchHooksSnapshot(deps.metaUrl);
      // The daemon may have stopped (and closed its logs) while the fetch ran.
      if (deps.stopping()) return;
      writeHooksSnapshot(deps.dataDir, fresh);
      deps.apply(fresh);
      metrics.ipRangesRefresh.inc({ outcome: 'success' });
      log.info({ ranges: fresh.hooks.length }, 'GitHub hook ranges refreshed');
    } catch (err) {
      if (deps.stopping()) return;
      metrics.ipRangesRefresh.inc({ outcome: 'failure' });
      log.warn({ err: { message: (err as Error).message } }, 'GitHub hook ranges refresh failed: keeping the last good list');
    }
  });
}
