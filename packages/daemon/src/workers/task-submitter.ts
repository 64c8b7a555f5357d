import { backoffDelay, isGitBridgeError, MasError, submitTask, type Claim, type Task } from '@gitbridge/core';
import { CircuitBreaker, type FailureKind } from './circuit-breaker.js';
import type { WorkerContext } from './context.js';

/** MAS submissions in flight while ingest is busy. */
const BUSY_SUBMISSIONS = 2;

/** Tasks ended per sweep of the maximum age (one transaction). */
const EXPIRE_BATCH = 500;

/** Statuses that say the MAS as a whole cannot take work now (RFC 9110: 429, 502, 503, 504). */
const MAS_WIDE_STATUSES = new Set([429, 502, 503, 504]);

/** Whether a failed submission says the MAS is down, or may be this task's own problem. */
function failureKind(e: MasError): FailureKind {
  if (e.code === 'GB_MAS_UNREACHABLE') return 'mas';
  return e.status !== null && MAS_WIDE_STATUSES.has(e.status) ? 'mas' : 'task';
}

/**
 * Stage 6 of the flow: submits claimed tasks to the MAS (protocol 2.1) with
 * their idempotency key and ordering fields, records the MAS's task id,
 * retries retryable failures with backoff (a `Retry-After` is a floor),
 * fails a task the MAS rejects for good, and holds all submissions while the
 * circuit breaker is open.
 *
 * The outage policy (docs/mas-protocol.md): while the MAS as a whole is
 * down, probes back off up to a minute apart and spend no attempts; a task
 * that fails on its own while the MAS serves others spends its attempts and
 * is dead after GITBRIDGE_MAS_MAX_ATTEMPTS; any task not accepted within
 * GITBRIDGE_TASK_MAX_AGE_S is dead, whatever the breaker says.
 */
export class TaskSubmitter {
  readonly #ctx: WorkerContext;
  readonly #breaker: CircuitBreaker;
  readonly #inflight = new Set<Promise<void>>();
  readonly #onSettled: () => void;
  #nextSweepAt = 0;

  /** @param onSettled called when a submission ends (room for the next one) */
  constructor(ctx: WorkerContext, onSettled: () => void) {
    this.#ctx = ctx;
    const { policy } = ctx;
    this.#breaker = new CircuitBreaker(ctx.clock, { baseMs: policy.breakerBaseMs, capMs: policy.breakerCapMs, distinctTasks: policy.breakerDistinctTasks, outageShare: policy.breakerOutageShare }, ctx.random);
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

  /**
   * One tick: ends tasks past the maximum age (once a minute), then claims as
   * many tasks as there is room for and starts their submissions. Never
   * reports more work: settled submissions kick the loop.
   */
  async tick(): Promise<boolean> {
    const { store, policy } = this.#ctx;
    await this.#expireOld();
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
            { deliveryId: claim.item.deliveryId, task: claim.item.id, err },
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

  /** The bound on a task's age, through outages too: queued tasks older than the maximum age end dead. */
  async #expireOld(): Promise<void> {
    const { store, policy, clock, metrics, log, config } = this.#ctx;
    const now = clock.now();
    if (now < this.#nextSweepAt) return;
    this.#nextSweepAt = now + policy.expireEveryMs;
    const cutoff = new Date(now - policy.taskMaxAgeMs).toISOString();
    for (;;) {
      const dead = await store.expireTasks(cutoff, maxAgeReason(config.taskMaxAgeS), EXPIRE_BATCH);
      if (dead.length > 0) metrics.tasksDead.inc({ reason: 'max_age' }, dead.length);
      for (const t of dead) log.error({ deliveryId: t.deliveryId, task: t.id, createdAt: t.createdAt, attempts: t.attempts, lastError: t.lastError }, 'task not accepted by the MAS within the maximum age: dead');
      if (dead.length < EXPIRE_BATCH) return;
    }
  }

  async #submitOne(claim: Claim<Task>): Promise<void> {
    const { store, config, policy, metrics, log, random, clock } = this.#ctx;
    const task = claim.item;
    const tlog = log.child({ deliveryId: task.deliveryId, task: task.id, taskType: task.taskType });
    if (clock.now() - Date.parse(task.createdAt) > policy.taskMaxAgeMs) {
      await store.endTask(claim, 'dead', maxAgeReason(config.taskMaxAgeS), 'gitbridge');
      metrics.tasksDead.inc({ reason: 'max_age' });
      tlog.error({ createdAt: task.createdAt, attempts: task.attempts }, 'task not accepted by the MAS within the maximum age: dead');
      return;
    }
    if (task.stale && task.onStale === 'hold') {
      await store.endTask(claim, 'dead', `stale: a newer event of ${task.entity} was already accepted by the MAS (rule ${task.rule} holds stale tasks back)`, 'gitbridge');
      metrics.tasksDead.inc({ reason: 'stale' });
      tlog.info({ entity: task.entity, eventAt: task.eventAt }, 'stale task held back by its rule: dead');
      return;
    }
    const started = performance.now();
    try {
      const { taskId, masStatus, result, error } = await submitTask(
        { masUrl: config.masUrl, token: config.masToken, callbackUrl: this.#ctx.callbackUrl(), timeoutMs: policy.masTimeoutMs },
        {
          taskType: task.taskType,
          payload: task.payload,
          idempotencyKey: task.idempotencyKey,
          deliveryId: task.deliveryId,
          event: task.event,
          eventAt: task.eventAt,
          entity: task.entity,
          stale: task.stale,
        },
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
      if (task.stale) metrics.staleSubmissions.inc();
      tlog.info({ taskId, attempts: task.attempts, entity: task.entity, stale: task.stale }, 'task accepted by the MAS');
      if (masStatus !== 'pending') {
        // The MAS already had this task (a resubmission after GitBridge could
        // not record the first answer) and says where it stands: its callbacks
        // may have gone unanswered meanwhile and it may not send them again.
        const r = await store.applyCallback(taskId, masStatus, { ...(result !== undefined ? { result } : {}), ...(error !== undefined ? { error } : {}), source: 'mas' });
        if (r.outcome === 'applied') tlog.info({ taskId, status: masStatus }, `task ${masStatus} (from the MAS's answer to its submission)`);
      }
    } catch (err) {
      if (isGitBridgeError(err) && err.code.startsWith('GB_STORE_')) throw err;
      const e = err instanceof MasError ? err : new MasError('GB_MAS_UNREACHABLE', (err as Error).message, { retryable: true, cause: err });
      const outcome = !e.retryable ? 'rejected' : e.code === 'GB_MAS_UNREACHABLE' ? 'unreachable' : 'retryable_error';
      metrics.masSubmissions.inc({ outcome });
      metrics.masSubmissionDuration.observe({ outcome }, (performance.now() - started) / 1000);
      if (!e.retryable) {
        await store.endTask(claim, 'failed', e.message, 'mas');
        tlog.warn({ status: e.status, reason: e.message }, 'MAS rejected the task permanently: failed');
        return;
      }
      const { holdMs, refund } = this.#breaker.failure(task.id, failureKind(e), e.retryAfterMs);
      if (!refund && task.attempts >= policy.masMaxAttempts) {
        await store.endTask(claim, 'dead', `retries exhausted after ${task.attempts} attempts: ${e.message}`, 'gitbridge');
        metrics.tasksDead.inc({ reason: 'retries_exhausted' });
        tlog.error({ attempts: task.attempts, reason: e.message }, 'MAS submission retries exhausted: task is dead');
        return;
      }
      const delay = Math.max(holdMs, backoffDelay(task.attempts, { baseMs: policy.masBackoffMs, capMs: policy.masBackoffCapMs, retryAfterMs: e.retryAfterMs, random }));
      await store.retryTaskLater(claim, e.message, delay, { refundAttempt: refund });
      const failures = this.#breaker.failures;
      const level = failures <= 3 || failures % 50 === 0 ? 'warn' : 'debug';
      tlog[level]({ attempts: task.attempts, refunded: refund, retryInMs: delay, holdMs, reason: e.message, consecutiveFailures: failures }, 'MAS submission failed: will retry');
    }
  }
}

/** The `last_error` of a task that died of age. */
function maxAgeReason(maxAgeS: number): string {
  return `max_age: not accepted by the MAS within GITBRIDGE_TASK_MAX_AGE_S (${maxAgeS} s)`;
}
