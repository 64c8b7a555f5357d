/**
 * What recovery does about one delivery GUID, decided from what GitHub lists
 * and what the store holds. Pure: the pass (`recovery.ts`) does the I/O.
 *
 * The rules (DESIGN §11; GitHub docs, "Handling failed webhook deliveries"):
 * - stored here: nothing, whatever GitHub shows (when every attempt failed
 *   at GitHub, GitBridge answered too late: counted as a late answer);
 * - `ping` not stored: nothing (a hook's creation, no event to recover);
 * - not stored, no successful attempt: redeliver (`failed`);
 * - not stored, a successful attempt: something else answered for this hook:
 *   redeliver (`answered_elsewhere`) and tell the security log;
 * - at most `maxRequests` requests per GUID; after one, wait for GitHub's new
 *   attempt: ask again only when that attempt failed too, or when none came
 *   within `settleMs`, or when the request itself failed.
 */
import type { RedeliveryReason, RedeliveryRequest } from '../store/contract.js';
import { succeeded, type HookDelivery } from './client.js';

/** The decision for one GUID. `attempt` is the newest attempt, the one a redelivery names. */
export type Verdict =
  | { readonly kind: 'stored'; readonly lateAnswer: boolean }
  | { readonly kind: 'skip_ping' }
  | { readonly kind: 'redeliver'; readonly reason: RedeliveryReason; readonly attempt: HookDelivery }
  | { readonly kind: 'waiting'; readonly record: RedeliveryRequest }
  | { readonly kind: 'gave_up'; readonly record: RedeliveryRequest };

/** The limits of {@link judgeDelivery}. */
export interface PlanPolicy {
  /** The hook whose attempts are judged (attempt ids compare only within one hook). */
  readonly hook: string;
  /** Requests per GUID, ever (3). */
  readonly maxRequests: number;
  /** How long to wait for GitHub's new attempt after a request before asking again, ms. */
  readonly settleMs: number;
  /** Now, ms since the epoch (the pass's clock). */
  readonly now: number;
}

/**
 * Decides what to do about one GUID.
 *
 * @param attempts its attempts as listed, at least one, newest first
 * @param stored whether the store holds it
 * @param record its redelivery record, if recovery asked for it before
 */
export function judgeDelivery(attempts: readonly HookDelivery[], stored: boolean, record: RedeliveryRequest | undefined, policy: PlanPolicy): Verdict {
  const newest = attempts[0]!;
  if (stored) return { kind: 'stored', lateAnswer: !attempts.some(succeeded) };
  if (newest.event === 'ping') return { kind: 'skip_ping' };
  const reasonOf = (list: readonly HookDelivery[]): RedeliveryReason => (list.some(succeeded) ? 'answered_elsewhere' : 'failed');
  if (record === undefined) return { kind: 'redeliver', reason: reasonOf(attempts), attempt: newest };
  if (record.outcome === 'given_up') return { kind: 'gave_up', record };
  // Attempts GitHub made after the last request (ids grow with time). A
  // request through another hook (the same event via a repository and an
  // organization hook) makes its attempt there: here only time tells.
  const since = record.hook === policy.hook ? attempts.filter((a) => a.id > record.githubDeliveryId) : [];
  const settled = record.outcome === 'failed' || since.length > 0 || policy.now - Date.parse(record.lastRequestedAt) >= policy.settleMs;
  if (!settled) return { kind: 'waiting', record };
  if (record.requests >= policy.maxRequests) return { kind: 'gave_up', record };
  return { kind: 'redeliver', reason: reasonOf(since.length > 0 ? since : attempts), attempt: newest };
}

/**
 * Groups listed attempts by GUID, each group newest first (by GitHub's
 * attempt id, which grows with time).
 */
export function groupByGuid(attempts: readonly HookDelivery[]): Map<string, HookDelivery[]> {
  const groups = new Map<string, HookDelivery[]>();
  for (const a of attempts) {
    const list = groups.get(a.guid);
    if (list) list.push(a);
    else groups.set(a.guid, [a]);
  }
  for (const list of groups.values()) list.sort((a, b) => b.id - a.id);
  return groups;
}
