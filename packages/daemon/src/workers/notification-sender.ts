import { backoffDelay, isGitBridgeError, postChatMessage, type Claim, type Notification } from '@gitbridge/core';
import type { WorkerContext } from './context.js';

const BATCH = 16;

/**
 * Stage 8 of the flow: sends the chat outbox to the Slack-compatible
 * incoming webhook. A failing chat service never holds up a task: a
 * notification is retried with backoff, then given up (`failed`).
 */
export class NotificationSender {
  readonly #ctx: WorkerContext;

  constructor(ctx: WorkerContext) {
    this.#ctx = ctx;
  }

  /** One tick. @returns true when the batch was full */
  async tick(): Promise<boolean> {
    const batch = await this.#ctx.store.claimNotifications(BATCH, this.#ctx.policy.leaseMs);
    await Promise.all(batch.map((n) => this.#sendOne(n).catch((err: unknown) => {
      // As the other workers: a lease that ran out while the chat service was slow belongs to another worker now.
      if (!isGitBridgeError(err, 'GB_STORE_CLAIM_LOST')) throw err;
      this.#ctx.log.warn({ deliveryId: n.item.deliveryId, notification: n.item.id }, 'lease lost while sending: another worker has the notification');
    })));
    return batch.length === BATCH;
  }

  async #sendOne(claim: Claim<Notification>): Promise<void> {
    const { store, config, policy, metrics, log, random } = this.#ctx;
    const n = claim.item;
    const nlog = log.child({ deliveryId: n.deliveryId, channel: n.channel });
    if (!config.notifyUrl) {
      await store.settleNotification(claim, 'skipped', 'no GITBRIDGE_NOTIFY_URL configured', null);
      metrics.notifications.inc({ outcome: 'skipped' });
      return;
    }
    try {
      await postChatMessage(config.notifyUrl, n, policy.notifyTimeoutMs);
    } catch (err) {
      const message = (err as Error).message;
      if (n.attempts >= policy.notifyMaxAttempts) {
        await store.settleNotification(claim, 'failed', message, null);
        metrics.notifications.inc({ outcome: 'failed' });
        nlog.warn({ reason: message, attempts: n.attempts }, 'chat notification failed; giving up (the task is not affected)');
      } else {
        await store.settleNotification(claim, 'pending', message, backoffDelay(n.attempts, { baseMs: policy.notifyBackoffMs, capMs: 30_000, random }));
        metrics.notifications.inc({ outcome: 'retried' });
        nlog.warn({ reason: message, attempts: n.attempts }, 'chat notification failed; will retry');
      }
      return;
    }
    await store.settleNotification(claim, 'sent', null, null);
    metrics.notifications.inc({ outcome: 'sent' });
    nlog.info('chat notification sent');
  }
}
