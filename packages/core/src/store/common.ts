/**
 * Rules of the store contract that both engines apply the same way, whatever
 * their SQL: the claim-lost error, the wake-up signals of one process, the
 * default order of a delivery's tasks, the idempotency key of an operator's
 * retry, and zeroed counts.
 */
import { GitBridgeError } from '../errors/errors.js';
import type { EventOrder } from '../routing/ordering.js';
import { DELIVERY_STATES, TASK_STATUSES, type Claim, type ClaimedDelivery, type DeliveryResult, type DeliveryState, type QueueName, type TaskStatus } from './contract.js';

/** A claim whose token no longer matches: the lease ran out and another worker claimed the item. */
export function claimLost(what: string): GitBridgeError {
  return new GitBridgeError('GB_STORE_CLAIM_LOST', { message: `The claim on ${what} was lost: its lease ran out and another worker claimed it` });
}

/** The error of any call on a store after {@link Store.close}: unavailable (a 503 for a request that raced the shutdown). */
export function storeClosed(): GitBridgeError {
  return new GitBridgeError('GB_STORE_UNAVAILABLE', { message: 'The store is closed' });
}

/** The subscribers of {@link Store.onWake} in one process, by queue. */
export class WakeSignals {
  readonly #subscribers = new Map<QueueName, Set<() => void>>();

  /** @returns a function that unsubscribes */
  on(queue: QueueName, fn: () => void): () => void {
    let set = this.#subscribers.get(queue);
    if (!set) this.#subscribers.set(queue, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Calls every subscriber of `queue`; one that throws does not stop the others. */
  emit(queue: QueueName): void {
    for (const fn of this.#subscribers.get(queue) ?? []) {
      try {
        fn();
      } catch {
        // a listener's failure is its own business
      }
    }
  }
}

/** A delivery's event order: the processor's, else its tasks are ordered only among themselves (`delivery:<id>`). */
export function orderOf(claim: Claim<ClaimedDelivery>, result: DeliveryResult): EventOrder {
  const d = claim.item;
  return result.order ?? { event: d.action ? `${d.event}.${d.action}` : d.event, entity: `delivery:${d.deliveryId}`, eventAt: d.receivedAt };
}

/**
 * The idempotency key of a task an operator retries for the `n`th time after
 * the MAS had accepted it: a new one (`<key>:retry:<n>`), or the MAS would
 * answer with the old, finished task.
 */
export function retryKey(key: string, n: number): string {
  return `${key.split(':retry:')[0]}:retry:${n}`;
}

/** Counts by state with every state present, at 0. */
export function zeroCounts(): { deliveries: Record<DeliveryState, number>; tasks: Record<TaskStatus, number> } {
  return {
    deliveries: Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>,
    tasks: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>,
  };
}
