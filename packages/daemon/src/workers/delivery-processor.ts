import {
  backoffDelay,
  decodePayload,
  eventOrder,
  explainIgnored,
  identifyDelivery,
  isGitBridgeError,
  journalEntry,
  labelValue,
  mapDelivery,
  type Claim,
  type ClaimedDelivery,
  type TaskDraft,
} from '@gitbridge/core';
import type { WorkerContext } from './context.js';

/**
 * The drafts of an operator's replay: its chat messages (sent only when the
 * operator asked, see the store's `notify`) say that they announce a replay.
 */
function markedAsReplay(drafts: readonly TaskDraft[]): TaskDraft[] {
  return drafts.map((t) => (t.notify ? { ...t, notify: { ...t.notify, text: `[replay] ${t.notify.text}` } } : t));
}

/** Deliveries claimed per tick while ingest is busy (keeps each tick to a few ms). */
const BUSY_BATCH = 4;
const IDLE_BATCH = 16;

/**
 * Stage 5 of the flow: turns claimed deliveries into tasks (routing rules),
 * their notifications and the journal entry, in one transaction per
 * delivery (shared per turn by the store). A delivery that fails is retried
 * with backoff, then `dead`.
 */
export class DeliveryProcessor {
  readonly #ctx: WorkerContext;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  /** One tick: claims a batch and processes it. @returns true when the batch was full (more may wait) */
  async tick(): Promise<boolean> {
    const { store, policy } = this.#ctx;
    const limit = this.#ctx.ingestBusy() ? BUSY_BATCH : IDLE_BATCH;
    const batch = await store.claimDeliveries(limit, policy.leaseMs);
    await Promise.all(batch.map((claim) => this.#processOne(claim)));
    return batch.length === limit;
  }

  async #processOne(claim: Claim<ClaimedDelivery>): Promise<void> {
    const { store, rules, policy, metrics, log, random } = this.#ctx;
    const row = claim.item;
    try {
      const d = identifyDelivery({ deliveryId: row.deliveryId, event: row.event, hookId: row.hookId }, decodePayload(row.body, row.contentType));
      const mapped = mapDelivery(rules, d);
      const drafts = row.replayOf === null ? mapped : markedAsReplay(mapped);
      const journal = journalEntry(d, row.receivedAt);
      const ignoredReason = drafts.length === 0 ? explainIgnored(rules, d) : null;
      await store.completeDelivery(claim, { drafts, journal, repo: d.repo ?? d.org, order: eventOrder(d, row.receivedAt), ignoredReason });
      metrics.processing.inc({ outcome: drafts.length > 0 ? 'tasks' : 'ignored' });
      if (drafts.length === 0) {
        metrics.events.inc({ type: labelValue(row.event, 'unknown'), action: labelValue(row.action), status: 'ignored' });
        log.info({ deliveryId: row.deliveryId, event: row.event, action: row.action, repo: row.repo, reason: ignoredReason }, 'no rule matched: recorded as ignored');
      } else {
        log.info({ deliveryId: row.deliveryId, event: row.event, action: row.action, repo: row.repo, tasks: drafts.map((t) => t.taskType), hookId: row.hookId }, 'delivery turned into tasks');
      }
    } catch (err) {
      if (isGitBridgeError(err, 'GB_STORE_CLAIM_LOST')) {
        log.warn({ deliveryId: row.deliveryId }, 'lease lost while processing: another worker has the delivery');
        return;
      }
      const message = (err as Error).message;
      const dead = row.attempts >= policy.processMaxAttempts;
      try {
        await store.failDelivery(claim, message, dead ? null : backoffDelay(row.attempts, { baseMs: policy.processBackoffMs, random }));
      } catch (e) {
        // The lease runs out and the delivery is claimed again.
        log.error({ deliveryId: row.deliveryId, err: { message: (e as Error).message } }, 'could not record the processing failure');
      }
      metrics.processing.inc({ outcome: dead ? 'dead' : 'error' });
      log.error({ deliveryId: row.deliveryId, err, attempts: row.attempts, dead }, dead ? 'processing failed: delivery is dead' : 'processing failed: will retry');
    }
  }
}
