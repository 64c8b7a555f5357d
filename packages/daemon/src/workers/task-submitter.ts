import { backoffDelay, isGitBridgeError, MasError, submitTask, type Claim, type Task } from '@gitbridge/core';
import { CircuitBreaker } from './circuit-breaker.js';
import type { WorkerContext } from './context.js';

/** MAS submissions in flight while ingest is busy. */
const BUSY_SUBMISSIONS = 2;

/**
 * Stage 6 of the flow: submits claimed tasks to the MAS (protocol 2.1) with
 * their idempotency key, records the MAS's task id, retries retryable
 * failures with backoff (a `Retry-After` is a floor), fails a task the MAS
 * rejects for good, and holds all submissions while the circuit breaker is
 * open.
 */
export class TaskSubmitter {
  readonly #ctx: WorkerContext;
  readonly #breaker: CircuitBreaker;
  readonly #inflight = new Set<Promise<void>>();
  readonly #onSettled: () => void;

  /** @param onSettled called when a submission ends (room for the next one) */
  constructor(ctx: WorkerContext, onSettled: () => void) {
    this.#ctx = ctx;
    this.#breaker = new CircuitBreaker(ctx.clock, { baseMs: ctx.policy.breakerBaseMs, capMs: ctx.policy.breakerCapMs }, ctx.random);
    this.#onSettled = onSettled;
  }

  /** Submissions in flight now. */
  get inflight(): ReadonlySet<Promise<void>> {
    return this.#inflight;
  }

  /** ms until the next task may be submitted: the store's next due task, held while the circuit is open. */
  async msUntilDue(): Promise<number | null> {
    const due = await this.#ctx.store.msUntilDue('tasks');
    return due === null ? null : Math.max(due, this.#breaker.msUntilClosed());
  }

  /** One tick: claims as many tasks as there is room for and starts their submissions. Never reports more work: settled submissions kick the loop. */
  async tick(): Promise<boolean> {
    const { store, policy } = this.#ctx;
    if (this.#breaker.isOpen) return false;
    const limit = this.#breaker.concurrency(this.#ctx.ingestBusy() ? BUSY_SUBMISSIONS : policy.masConcurrency);
    const room = limit - this.#inflight.size;
    if (room <= 0) return false;
    const batch = await store.claimTasks(room, policy.leaseMs);
    for (const claim of batch) {
      const p = this.#submitOne(claim)
        .catch((err: unknown) => {
          // Only a store failure while recording the outcome gets here; the
          // task's lease runs out and it is submitted again (same Idempotency-Key).
          const lost = isGitBridgeError(err, 'GB_STORE_CLAIM_LOST');
          this.#ctx.log[lost ? 'warn' : 'error'](
            { deliveryId: claim.item.deliveryId, task: claim.item.id, err: { message: (err as Error).message } },
            lost ? 'lease lost while submitting: another worker has the task' : 'could not record a MAS submission outcome; will retry');
        })
        .finally(() => {
          this.#inflight.delete(p);
          this.#onSettled();
        });
      this.#inflight.add(p);
    }
    return false;
  }

  async #submitOne(claim: Claim<Task>): Promise<void> {
    const { store, config, policy, metrics, log, random } = this.#ctx;
    const task = claim.item;
    const tlog = log.child({ deliveryId: task.deliveryId, task: task.id, taskType: task.taskType });
    const started = performance.now();
    try {
      const { taskId } = await submitTask(
        { masUrl: config.masUrl, token: config.masToken, callbackUrl: this.#ctx.callbackUrl(), timeoutMs: policy.masTimeoutMs },
        { taskType: task.taskType, payload: task.payload, idempotencyKey: task.idempotencyKey, deliveryId: task.deliveryId },
      );
      await store.markTaskSubmitted(claim, taskId);
      const ended = this.#breaker.success();
      if (ended > 0) {
        // The circuit closes: the MAS is back, drain the backlog now.
        const released = await store.releaseTaskBackoff();
        log.info({ released, afterFailures: ended }, 'MAS reachable again: resuming submissions');
      }
      metrics.masSubmissions.inc({ outcome: 'accepted' });
      metrics.masSubmissionDuration.observe({ outcome: 'accepted' }, (performance.now() - started) / 1000);
      tlog.info({ taskId, attempts: task.attempts }, 'task accepted by the MAS');
    } catch (err) {
      if (isGitBridgeError(err, 'GB_STORE_CLAIM_LOST') || (isGitBridgeError(err) && err.code.startsWith('GB_STORE_'))) throw err;
      const e = err instanceof MasError ? err : new MasError('GB_MAS_UNREACHABLE', (err as Error).message, { retryable: true, cause: err });
      const outcome = !e.retryable ? 'rejected' : e.code === 'GB_MAS_UNREACHABLE' ? 'unreachable' : 'retryable_error';
      metrics.masSubmissions.inc({ outcome });
      metrics.masSubmissionDuration.observe({ outcome }, (performance.now() - started) / 1000);
      if (!e.retryable) {
        await store.endTask(claim, 'failed', e.message, 'mas');
        tlog.warn({ status: e.status, reason: e.message }, 'MAS rejected the task permanently: failed');
        return;
      }
      const delay = backoffDelay(task.attempts, { baseMs: policy.masBackoffMs, capMs: policy.masBackoffCapMs, retryAfterMs: e.retryAfterMs, random });
      // A probe while the circuit is already open tells nothing about this
      // task, so it does not spend the task's attempts: a long MAS outage
      // never kills tasks, while a task that fails when others succeed does die.
      const { probe } = this.#breaker.failure(delay, e.retryAfterMs);
      if (!probe && task.attempts >= policy.masMaxAttempts) {
        await store.endTask(claim, 'dead', `retries exhausted: ${e.message}`, 'gitbridge');
        tlog.error({ attempts: task.attempts, reason: e.message }, 'MAS submission retries exhausted: task is dead');
        return;
      }
      await store.retryTaskLater(claim, e.message, delay, { refundAttempt: probe && task.attempts > 1 });
      const failures = this.#breaker.failures;
      const level = failures <= 3 || failures % 50 === 0 ? 'warn' : 'debug';
      tlog[level]({ attempts: task.attempts, retryInMs: delay, reason: e.message, consecutiveFailures: failures }, 'MAS submission failed: will retry');
    }
  }
}
