/**
 * One recovery pass (DESIGN §11): for each watched hook, list the deliveries
 * GitHub attempted since the hook's checkpoint, compare them with the store,
 * and ask GitHub to redeliver what GitBridge never stored. A redelivery
 * arrives at `POST /webhook` like any delivery and is verified and ingested
 * there; nothing here touches the ingest path.
 *
 * Framework-neutral: the store, the GitHub client, the clock, the loggers and
 * the metrics are passed in. The caller holds the store's singleton lock
 * (`store.runExclusive('recovery', …)`) so that one pass runs at a time.
 */
import type { Logger } from 'pino';
import { isGitBridgeError, type ErrorCode } from '../errors/errors.js';
import type { Metrics } from '../metrics.js';
import type { IsoTime, RecoveryGap, RedeliveryReason, RedeliveryRequest, Store } from '../store/contract.js';
import type { Clock } from '../time/clock.js';
import type { GitHubClient, HookDelivery } from './client.js';
import { deliveriesWindowMs, type HookRef } from './hooks.js';
import { groupByGuid, judgeDelivery } from './recovery-plan.js';

/** Requests per delivery GUID, ever (the "never more than 3 times"). */
export const MAX_REDELIVERY_REQUESTS = 3;

/** The store methods a pass uses. */
export type RecoveryStore = Pick<Store,
  'storedDeliveryIds' | 'redeliveryRequests' | 'reserveRedelivery' | 'settleRedelivery' | 'markRedeliveriesArrived'
  | 'recoveryCheckpoint' | 'advanceRecoveryCheckpoint' | 'recordRecoveryGap'>;

/** Tuning of a pass; every duration in ms. */
export interface RecoveryPolicy {
  /** GitHub's API URL: decides GitHub's window (3 days on github.com, 7 on GHES). */
  readonly apiUrl: string;
  /** How far back a hook without a checkpoint is examined (GITBRIDGE_RECOVER_LOOKBACK_S). */
  readonly lookbackMs: number;
  /** How far before its checkpoint a pass starts again: attempts GitHub was still making when the last pass listed (default 10 minutes). */
  readonly overlapMs?: number;
  /** After a request, how long to wait for GitHub's new attempt before asking again (default 10 minutes). */
  readonly settleMs?: number;
}

/** What a pass needs. */
export interface RecoveryDeps {
  readonly store: RecoveryStore;
  readonly client: GitHubClient;
  readonly clock: Clock;
  /** The webhook log, and the security log (deliveries answered elsewhere, gaps). */
  readonly log: Logger;
  readonly security: Logger;
  /** Omitted by the CLI (a command has no scrape endpoint). */
  readonly metrics?: Metrics;
  readonly policy: RecoveryPolicy;
}

/** Progress of a pass, as it happens (the CLI prints it). */
export type RecoveryProgress =
  | { readonly kind: 'hook'; readonly hook: string; readonly from: IsoTime }
  | { readonly kind: 'page'; readonly hook: string; readonly page: number; readonly attempts: number; readonly oldest: IsoTime | null }
  | { readonly kind: 'redelivery'; readonly hook: string; readonly guid: string; readonly outcome: MissingOutcome };

/** Options of one pass. */
export interface RecoveryPassOptions {
  readonly hooks: readonly HookRef[];
  /** Look back this far (ms) instead of from the checkpoint (`gitbridge recover --since`); at most GitHub's window. */
  readonly sinceMs?: number;
  /** Request nothing and write nothing. */
  readonly dryRun?: boolean;
  /**
   * The last sign of life of a daemon before this one started (the store's
   * heartbeat). A hook without a checkpoint is examined back to it when that
   * is further back than the look-back: the downtime.
   */
  readonly lastAlive?: IsoTime | null;
  readonly onProgress?: (p: RecoveryProgress) => void;
}

/** What became of a missing delivery in this pass. */
export type MissingOutcome =
  /** GitHub accepted the request (202): it re-sends the delivery. */
  | 'requested'
  /** Dry run: it would have been requested. */
  | 'would_request'
  /** GitHub refused the request; asked again by a later pass. */
  | 'request_failed'
  /** Not asked this pass: the hook stopped (rate limit, credentials); `detail` says why. */
  | 'not_requested'
  /** Requested before; GitHub has not made its new attempt yet. */
  | 'waiting'
  /** Requested the most times allowed without arriving. */
  | 'gave_up'
  /** A `ping` (a hook's creation), never requested. */
  | 'skipped_ping';

/** One missing delivery in a {@link HookReport}. */
export interface MissingDelivery {
  readonly guid: string;
  readonly event: string;
  readonly action: string | null;
  /** When GitHub last attempted it. */
  readonly deliveredAt: IsoTime;
  readonly outcome: MissingOutcome;
  readonly reason: RedeliveryReason | null;
  /** Requests made for it so far, this pass's included. */
  readonly requests: number;
  readonly detail: string | null;
}

/** One hook's part of a pass. */
export interface HookReport {
  readonly hook: string;
  /** The span examined: from (oldest attempt time considered) to the pass's start. */
  readonly from: IsoTime;
  readonly to: IsoTime;
  readonly pages: number;
  /** Attempts listed (several per delivery when GitHub retried or redelivered). */
  readonly attempts: number;
  /** Delivery GUIDs inside the span. */
  readonly deliveries: number;
  /** Of those, stored here. */
  readonly stored: number;
  /** Stored here, but every attempt failed at GitHub: GitBridge answered too late. */
  readonly lateAnswers: number;
  readonly missing: readonly MissingDelivery[];
  /** A span GitHub no longer keeps that was never examined, or null. */
  readonly gap: RecoveryGap | null;
  /** The checkpoint after the pass. */
  readonly checkpoint: IsoTime | null;
  /** Why the hook could not be examined, or null. */
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly hint?: string } | null;
}

/** What a pass found and did. */
export interface RecoveryReport {
  readonly startedAt: IsoTime;
  readonly finishedAt: IsoTime;
  readonly dryRun: boolean;
  /** True when every hook was examined and every request GitHub was asked for was accepted. */
  readonly ok: boolean;
  readonly hooks: readonly HookReport[];
  /** Requested deliveries that arrived since the previous pass. */
  readonly arrived: readonly RedeliveryRequest[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Errors after which a hook's remaining requests would fail the same way. */
const HOOK_STOPPERS: readonly ErrorCode[] = ['GB_GITHUB_AUTH_FAILED', 'GB_GITHUB_RATE_LIMITED', 'GB_GITHUB_HOOK_NOT_FOUND', 'GB_RECOVERY_NOT_CONFIGURED'];

/**
 * The span a hook's pass examines, and the gap before it, if any.
 *
 * Without `sinceMs`: from the checkpoint minus the overlap; without a
 * checkpoint, from `lookbackMs` ago, or from the last sign of life (minus the
 * overlap) when that is further back (after downtime). Never before GitHub's
 * window: what lies before it and was never examined is a gap.
 */
export function passSpan(input: {
  readonly now: number;
  readonly windowMs: number;
  readonly lookbackMs: number;
  readonly overlapMs: number;
  readonly checkpoint: IsoTime | null;
  readonly lastAlive: IsoTime | null;
  readonly sinceMs?: number;
}): { readonly from: number; readonly coversCheckpoint: boolean; readonly gap: { start: number; end: number } | null } {
  const windowStart = input.now - input.windowMs;
  const lastAlive = input.lastAlive !== null ? Date.parse(input.lastAlive) : Number.POSITIVE_INFINITY;
  const lookback = input.now - input.lookbackMs;
  const base = input.checkpoint !== null ? Date.parse(input.checkpoint) : Math.min(lookback, lastAlive);
  // The overlap covers attempts GitHub was still making at a checkpoint or a last sign of life.
  const required = Math.max(windowStart, base === lookback ? base : base - input.overlapMs);
  const from = input.sinceMs !== undefined ? Math.max(windowStart, input.now - input.sinceMs) : required;
  // Only what something was expected to examine is a gap: a checkpoint, or a daemon's life.
  const expected = input.checkpoint !== null || Number.isFinite(lastAlive);
  const gap = input.sinceMs === undefined && expected && base < windowStart ? { start: base, end: windowStart } : null;
  return { from, coversCheckpoint: from <= required, gap };
}

/**
 * Runs one pass over `options.hooks`. Never throws for a hook's failure: it
 * is in that hook's report (`error`), and its checkpoint stays.
 *
 * @throws GitBridgeError `GB_STORE_*` when the store fails
 */
export async function runRecoveryPass(deps: RecoveryDeps, options: RecoveryPassOptions): Promise<RecoveryReport> {
  const { store, clock, log, metrics } = deps;
  const dryRun = options.dryRun === true;
  const startedAt = clock.now();
  let arrived: RedeliveryRequest[] = [];
  if (!dryRun) {
    arrived = await store.markRedeliveriesArrived();
    metrics?.recoveryArrived.inc(arrived.length);
    for (const a of arrived) log.info({ deliveryId: a.deliveryId, hook: a.hook, requests: a.requests, arrivedAt: a.arrivedAt }, 'recovery: redelivered delivery arrived');
  }
  const hooks: HookReport[] = [];
  for (const hook of options.hooks) hooks.push(await passHook(deps, hook, startedAt, options));
  const ok = hooks.every((h) => h.error === null && !h.missing.some((m) => m.outcome === 'request_failed' || m.outcome === 'not_requested'));
  if (!dryRun) {
    metrics?.recoveryPasses.inc({ outcome: ok ? 'success' : 'failure' });
    if (ok) metrics?.recoveryLastSuccess.set(clock.now() / 1000);
  }
  return { startedAt: iso(startedAt), finishedAt: iso(clock.now()), dryRun, ok, hooks, arrived };
}

async function passHook(deps: RecoveryDeps, hook: HookRef, now: number, options: RecoveryPassOptions): Promise<HookReport> {
  const { store, client, log, security, metrics, policy } = deps;
  const dryRun = options.dryRun === true;
  const hlog = log.child({ hook: hook.path });
  const checkpoint = await store.recoveryCheckpoint(hook.path);
  const span = passSpan({
    now,
    windowMs: deliveriesWindowMs(policy.apiUrl),
    lookbackMs: policy.lookbackMs,
    overlapMs: policy.overlapMs ?? 10 * 60_000,
    checkpoint,
    lastAlive: options.lastAlive ?? null,
    ...(options.sinceMs !== undefined ? { sinceMs: options.sinceMs } : {}),
  });
  const report = {
    hook: hook.path, from: iso(span.from), to: iso(now), pages: 0, attempts: 0, deliveries: 0, stored: 0, lateAnswers: 0,
    missing: [] as MissingDelivery[], gap: null as RecoveryGap | null, checkpoint, error: null as HookReport['error'],
  };
  const fail = (err: unknown): HookReport => {
    if (!isGitBridgeError(err)) throw err;
    hlog.warn({ code: err.code, err: { message: err.message } }, 'recovery: hook not examined');
    return { ...report, error: { code: err.code, message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}) } };
  };

  if (span.gap) {
    report.gap = { hook: hook.path, start: iso(span.gap.start), end: iso(span.gap.end) };
    if (!dryRun && (await store.recordRecoveryGap(report.gap))) {
      metrics?.recoveryGaps.inc();
      const line = { kind: 'recovery_gap', hook: hook.path, start: report.gap.start, end: report.gap.end, lastAlive: options.lastAlive ?? null, checkpoint };
      hlog.error(line, "recovery: deliveries between start and end are older than GitHub's window and cannot be recovered");
      security.error(line, "unrecoverable gap: deliveries older than GitHub's window were never examined");
    }
  }
  options.onProgress?.({ kind: 'hook', hook: hook.path, from: report.from });

  // List newest first until past the span.
  const listed: HookDelivery[] = [];
  try {
    for await (const page of client.deliveryPages(hook)) {
      report.pages++;
      report.attempts += page.length;
      listed.push(...page);
      const oldest = page.at(-1);
      options.onProgress?.({ kind: 'page', hook: hook.path, page: report.pages, attempts: page.length, oldest: oldest?.deliveredAt ?? null });
      if (!oldest || Date.parse(oldest.deliveredAt) < span.from) break;
    }
  } catch (err) {
    return fail(err);
  } finally {
    if (!dryRun) metrics?.recoveryDeliveriesListed.inc(report.attempts);
  }

  // A delivery is inside the span when GitHub attempted it there at least once.
  const groups = [...groupByGuid(listed)].filter(([, attempts]) => Date.parse(attempts[0]!.deliveredAt) >= span.from);
  report.deliveries = groups.length;
  const stored = new Set(await store.storedDeliveryIds(groups.map(([guid]) => guid)));
  const records = new Map((await store.redeliveryRequests(groups.filter(([guid]) => !stored.has(guid)).map(([guid]) => guid))).map((r) => [r.deliveryId, r]));
  const checkpointMs = checkpoint !== null ? Date.parse(checkpoint) : Number.NEGATIVE_INFINITY;
  // The oldest attempt time of a delivery still unresolved: the checkpoint stays before it.
  let holdAt = now;
  let stopped: { message: string } | null = null;

  for (const [guid, attempts] of groups) {
    const newest = attempts[0]!;
    const record = records.get(guid);
    const verdict = judgeDelivery(attempts, stored.has(guid), record, { hook: hook.path, maxRequests: MAX_REDELIVERY_REQUESTS, settleMs: policy.settleMs ?? 10 * 60_000, now });
    const missing = (outcome: MissingOutcome, reason: RedeliveryReason | null, requests: number, detail: string | null = null) => {
      report.missing.push({ guid, event: newest.event, action: newest.action, deliveredAt: newest.deliveredAt, outcome, reason, requests, detail });
      if (outcome !== 'gave_up' && outcome !== 'skipped_ping') holdAt = Math.min(holdAt, Date.parse(newest.deliveredAt));
      options.onProgress?.({ kind: 'redelivery', hook: hook.path, guid, outcome });
    };
    switch (verdict.kind) {
      case 'stored':
        report.stored++;
        // Counted once: only deliveries first attempted after the checkpoint (the overlap was counted before).
        if (verdict.lateAnswer && Date.parse(attempts.at(-1)!.deliveredAt) > checkpointMs) {
          report.lateAnswers++;
          if (!dryRun) metrics?.recoveryLateAnswers.inc();
        }
        break;
      case 'skip_ping':
        missing('skipped_ping', null, 0);
        break;
      case 'waiting':
        missing('waiting', verdict.record.reason, verdict.record.requests);
        break;
      case 'gave_up':
        missing('gave_up', verdict.record.reason, verdict.record.requests, verdict.record.detail);
        if (!dryRun && verdict.record.outcome !== 'given_up') {
          const detail = `requested ${verdict.record.requests} times; GitHub's redeliveries never reached GitBridge`;
          await store.settleRedelivery(guid, 'given_up', detail);
          metrics?.recoveryRedeliveries.inc({ outcome: 'given_up' });
          hlog.error({ deliveryId: guid, event: newest.event, requests: verdict.record.requests }, `recovery: gave up on a missing delivery: ${detail}`);
        }
        break;
      case 'redeliver': {
        const requestsBefore = record?.requests ?? 0;
        if (dryRun) {
          missing('would_request', verdict.reason, requestsBefore);
          break;
        }
        if (stopped) {
          missing('not_requested', verdict.reason, requestsBefore, stopped.message);
          break;
        }
        const reserved = await store.reserveRedelivery(
          { deliveryId: guid, hook: hook.path, githubDeliveryId: verdict.attempt.id, event: newest.event, action: newest.action, reason: verdict.reason },
          MAX_REDELIVERY_REQUESTS,
        );
        if (!reserved) {
          // Another pass took the last request between our read and now.
          missing('gave_up', verdict.reason, MAX_REDELIVERY_REQUESTS);
          break;
        }
        if (requestsBefore === 0) metrics?.recoveryMissing.inc({ reason: verdict.reason });
        if (verdict.reason === 'answered_elsewhere') {
          security.warn({ kind: 'recovery_answered_elsewhere', deliveryId: guid, hook: hook.path, event: newest.event, githubDeliveryId: verdict.attempt.id },
            'GitHub shows a successful delivery GitBridge never stored: something else answered for this hook; redelivery requested');
        }
        try {
          await client.redeliver(hook, verdict.attempt.id);
          await store.settleRedelivery(guid, 'requested', null);
          metrics?.recoveryRedeliveries.inc({ outcome: 'requested' });
          hlog.info({ deliveryId: guid, event: newest.event, action: newest.action, reason: verdict.reason, request: reserved.requests, githubDeliveryId: verdict.attempt.id }, 'recovery: redelivery requested');
          missing('requested', verdict.reason, reserved.requests);
        } catch (err) {
          if (!isGitBridgeError(err)) throw err;
          await store.settleRedelivery(guid, 'failed', err.message);
          metrics?.recoveryRedeliveries.inc({ outcome: 'failed' });
          hlog.warn({ deliveryId: guid, code: err.code, err: { message: err.message } }, 'recovery: redelivery request failed');
          missing('request_failed', verdict.reason, reserved.requests, err.message);
          if (HOOK_STOPPERS.includes(err.code)) {
            stopped = { message: err.message };
            report.error = { code: err.code, message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}) };
          }
        }
        break;
      }
    }
  }

  if (!dryRun && report.error === null && span.coversCheckpoint) {
    await store.advanceRecoveryCheckpoint(hook.path, iso(holdAt));
    report.checkpoint = await store.recoveryCheckpoint(hook.path);
  }
  hlog.info({
    from: report.from, pages: report.pages, attempts: report.attempts, deliveries: report.deliveries, stored: report.stored, lateAnswers: report.lateAnswers,
    requested: report.missing.filter((m) => m.outcome === 'requested').length, missing: report.missing.length, dryRun,
  }, 'recovery: hook examined');
  return report;
}
