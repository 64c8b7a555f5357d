import type { Logger } from 'pino';
import {
  backoffDelay,
  decodePayload,
  identifyDelivery,
  journalEntry,
  labelValue,
  mapDelivery,
  MasError,
  postChatMessage,
  submitTask,
  type Config,
  type DeliveryRow,
  type Metrics,
  type RuleSpec,
  type Store,
  type TaskRow,
  type TransactionBatcher,
  type WebhookContentType,
} from '@gitbridge/core';

/**
 * A polling loop that also wakes on `kick()`. `tick` returns true when it
 * should run again (a full batch was claimed); otherwise the loop sleeps
 * until the store's next due item, `pollMs` at most.
 *
 * Ticks never run inside the caller of `kick()` (a request handler): the
 * first one runs on the next turn of the event loop, and the loop yields to
 * I/O between ticks. `pace(tickMs)` may ask for a pause after a tick (ingest
 * priority, see {@link Workers}).
 */
class Loop {
  #timer: NodeJS.Timeout | null = null;
  #scheduled = false;
  /** performance.now() before which no tick starts (the pause asked for by `pace`). */
  #notBefore = 0;
  #running = false;
  #stopped = false;
  #again = false;
  /** Ticks that threw in a row (a store that cannot write, say): the next one waits 250 ms, doubling up to 30 s. */
  #failures = 0;
  #idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly tick: () => Promise<boolean>,
    private readonly nextDue: () => number | null,
    private readonly log: Logger,
    private readonly pollMs = 1000,
    private readonly pace: (tickMs: number) => number = () => 0,
  ) {}

  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const start = () => {
      this.#scheduled = false;
      if (this.#running || this.#stopped) return;
      this.#idle = this.#run();
    };
    const wait = this.#notBefore - performance.now();
    if (wait > 0) setTimeout(start, wait).unref();
    else setImmediate(start);
  }

  async #run(): Promise<void> {
    this.#running = true;
    let again = true;
    while (again && !this.#stopped) {
      this.#again = false;
      const started = performance.now();
      try {
        again = (await this.tick()) || this.#again;
        this.#failures = 0;
      } catch (err) {
        this.#failures++;
        const backoffMs = Math.min(30_000, 250 * 2 ** Math.min(this.#failures - 1, 7));
        this.log.error({ err, worker: this.name, failures: this.#failures, retryInMs: backoffMs }, 'worker tick failed');
        this.#notBefore = performance.now() + backoffMs;
        break;
      }
      const pause = this.pace(performance.now() - started);
      this.#notBefore = performance.now() + pause;
      if (again && !this.#stopped) {
        // Let the event loop serve requests between ticks; pause longer when asked to.
        await new Promise<void>((r) => (pause > 0 ? setTimeout(r, pause) : setImmediate(r)));
      }
    }
    this.#running = false;
    if (this.#stopped) return;
    if (this.#failures > 0) {
      // kick() honours #notBefore too, so new work does not bring back a tight loop.
      this.#timer = setTimeout(() => this.kick(), Math.max(0, this.#notBefore - performance.now()));
      this.#timer.unref();
      return;
    }
    let wait = this.pollMs;
    try {
      const due = this.nextDue();
      if (due !== null) wait = Math.max(0, Math.min(this.pollMs, due - Date.now()));
    } catch {
      // store closed during shutdown
    }
    this.#timer = setTimeout(() => this.kick(), wait);
    this.#timer.unref();
  }

  /** Stops scheduling and waits for the running tick. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#idle;
  }
}

/** What the workers need. */
export interface WorkerDeps {
  readonly config: Config;
  readonly store: Store;
  /**
   * Runs the workers' store writes (completions, submissions recorded,
   * retries, notification outcomes) in shared transactions.
   */
  readonly writes: TransactionBatcher;
  readonly rules: readonly RuleSpec[];
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * True while deliveries are arriving (ingest is busy). The delivery worker
   * then claims small batches and keeps to {@link BUSY_SHARE} of the event
   * loop: the 202s never wait for processing, the queue absorbs the burst.
   */
  readonly ingestBusy?: () => boolean;
}

/** Share of the event loop the delivery worker may use while ingest is busy. */
const BUSY_SHARE = 0.2;
/** Deliveries claimed per tick while ingest is busy (keeps each tick to a few ms). */
const BUSY_BATCH = 4;
const IDLE_BATCH = 16;
/** MAS submissions in flight while ingest is busy. */
const BUSY_SUBMISSIONS = 2;

/**
 * The asynchronous half of the flow (DESIGN §1 stages 5–8): a delivery
 * worker (routing rules → tasks, journal, notifications, in one
 * transaction), a MAS submitter (protocol 2.1 with retries, backoff and a
 * circuit that probes before resuming), and a notifier (chat outbox).
 */
export class Workers {
  readonly #deps: WorkerDeps;
  readonly #deliveries: Loop;
  readonly #tasks: Loop;
  readonly #notifications: Loop;
  readonly #inflight = new Set<Promise<void>>();
  #consecutiveMasFailures = 0;
  #circuitUntil = 0;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    const busy = deps.ingestBusy ?? (() => false);
    this.#deliveries = new Loop('deliveries', () => this.#processDeliveries(), () => deps.store.nextDue('deliveries'), deps.log, 1000,
      (tickMs) => (busy() ? Math.min(250, Math.max(1, (tickMs * (1 - BUSY_SHARE)) / BUSY_SHARE)) : 0));
    // While ingest is busy, submissions and notifications trickle (a few per tick, bounded ticks per second).
    this.#tasks = new Loop('tasks', () => this.#submitTasks(), () => this.#nextTaskDue(), deps.log, 1000, () => (busy() ? 20 : 0));
    this.#notifications = new Loop('notifications', () => this.#sendNotifications(), () => deps.store.nextDue('notifications'), deps.log, 1000, () => (busy() ? 100 : 0));
  }

  /** Starts the loops (picks up whatever the store holds from before a restart). */
  start(): void {
    this.#deliveries.kick();
    this.#tasks.kick();
    this.#notifications.kick();
  }

  /** Wakes the delivery worker (a delivery was just committed). */
  kick(): void {
    this.#deliveries.kick();
  }

  /**
   * Stops claiming new work and waits for in-flight MAS submissions up to
   * `graceMs`. A submission still running after that is left under its lease
   * and is retried (same Idempotency-Key) after restart.
   */
  async stop(graceMs: number): Promise<void> {
    await Promise.all([this.#deliveries.stop(), this.#notifications.stop()]);
    const tasksStopped = this.#tasks.stop();
    const deadline = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all([tasksStopped, ...this.#inflight]).then(() => undefined), deadline]);
  }

  /** True while the store's write gate is closed (a WAL restart); the loop is kicked again when it opens. */
  #paused(loop: Loop): boolean {
    const { gate } = this.#deps.store;
    if (gate.isOpen) return false;
    gate.whenOpen(() => loop.kick());
    return true;
  }

  async #processDeliveries(): Promise<boolean> {
    const { store, config } = this.#deps;
    if (this.#paused(this.#deliveries)) return false;
    const limit = this.#deps.ingestBusy?.() ? BUSY_BATCH : IDLE_BATCH;
    const batch = store.claimDeliveries(limit, config.leaseMs);
    // Every delivery of the batch is completed in the same transaction.
    const created = await Promise.all(batch.map((row) => this.#processOne(row)));
    if (created.some((n) => n > 0)) {
      this.#tasks.kick();
      this.#notifications.kick();
    }
    return batch.length === limit;
  }

  async #processOne(row: DeliveryRow): Promise<number> {
    const { store, writes, rules, config, metrics, log } = this.#deps;
    try {
      const d = identifyDelivery(
        { deliveryId: row.delivery_id, event: row.event, hookId: row.hook_id },
        decodePayload(row.body, row.content_type as WebhookContentType),
      );
      const drafts = mapDelivery(rules, d);
      const journal = journalEntry(d, row.received_at);
      const ids = await writes.run(() => store.completeDelivery(row.delivery_id, drafts, journal, d.repo ?? d.org));
      metrics.processing.inc({ outcome: drafts.length > 0 ? 'tasks' : 'ignored' });
      if (drafts.length === 0) {
        metrics.events.inc({ type: labelValue(row.event, 'unknown'), action: labelValue(row.action), status: 'ignored' });
        log.info({ deliveryId: row.delivery_id, event: row.event, action: row.action, repo: row.repo }, 'no rule matched: recorded as ignored');
      } else {
        log.info({ deliveryId: row.delivery_id, event: row.event, action: row.action, repo: row.repo, tasks: drafts.map((t) => t.taskType), hookId: row.hook_id }, 'delivery turned into tasks');
      }
      return ids.length;
    } catch (err) {
      const message = (err as Error).message;
      const dead = row.attempts >= config.processMaxAttempts;
      try {
        await writes.run(() => store.failDelivery(row.delivery_id, message, dead ? null : Date.now() + backoffDelay(row.attempts, { baseMs: 1000 })));
      } catch (e) {
        // The lease runs out and the delivery is claimed again.
        log.error({ deliveryId: row.delivery_id, err: { message: (e as Error).message } }, 'could not record the processing failure');
      }
      metrics.processing.inc({ outcome: dead ? 'dead' : 'error' });
      log.error({ deliveryId: row.delivery_id, err, attempts: row.attempts, dead }, dead ? 'processing failed: delivery is dead' : 'processing failed: will retry');
      return 0;
    }
  }

  #nextTaskDue(): number | null {
    const due = this.#deps.store.nextDue('tasks');
    if (due === null) return null;
    return Math.max(due, this.#circuitUntil);
  }

  async #submitTasks(): Promise<boolean> {
    const { store, config } = this.#deps;
    if (Date.now() < this.#circuitUntil || this.#paused(this.#tasks)) return false;
    // While the circuit is half-open, one probe at a time.
    const limit = this.#consecutiveMasFailures > 0 ? 1 : this.#deps.ingestBusy?.() ? BUSY_SUBMISSIONS : config.masConcurrency;
    const room = limit - this.#inflight.size;
    if (room <= 0) return false;
    const batch = store.claimTasks(room, config.leaseMs);
    for (const task of batch) {
      const p = this.#submitOne(task)
        .catch((err: unknown) => {
          // Only a store failure while recording the outcome gets here; the
          // task's lease runs out and it is submitted again (same Idempotency-Key).
          this.#deps.log.error({ deliveryId: task.delivery_id, task: task.id, err: { message: (err as Error).message } }, 'could not record a MAS submission outcome; will retry');
        })
        .finally(() => {
          this.#inflight.delete(p);
          this.#tasks.kick();
        });
      this.#inflight.add(p);
    }
    return false;
  }

  async #submitOne(task: TaskRow): Promise<void> {
    const { store, writes, config, metrics, log } = this.#deps;
    const tlog = log.child({ deliveryId: task.delivery_id, task: task.id, taskType: task.task_type });
    const started = performance.now();
    try {
      const { taskId } = await submitTask(
        { masUrl: config.masUrl, token: config.masToken, callbackUrl: `${config.publicUrl}/mas/callback`, timeoutMs: config.masTimeoutMs },
        { taskType: task.task_type, payload: JSON.parse(task.payload), idempotencyKey: task.idempotency_key, deliveryId: task.delivery_id },
      );
      await writes.run(() => store.markTaskSubmitted(task.id, taskId));
      if (this.#consecutiveMasFailures > 0) {
        // The circuit closes: the MAS is back, drain the backlog now.
        const released = await writes.run(() => store.releaseTaskBackoff());
        log.info({ released, afterFailures: this.#consecutiveMasFailures }, 'MAS reachable again: resuming submissions');
      }
      this.#consecutiveMasFailures = 0;
      this.#circuitUntil = 0;
      metrics.masSubmissions.inc({ outcome: 'accepted' });
      metrics.masSubmissionDuration.observe({ outcome: 'accepted' }, (performance.now() - started) / 1000);
      tlog.info({ taskId, attempts: task.attempts }, 'task accepted by the MAS');
    } catch (err) {
      const e = err instanceof MasError ? err : new MasError('GB_MAS_UNREACHABLE', (err as Error).message, { retryable: true, cause: err });
      const outcome = !e.retryable ? 'rejected' : e.code === 'GB_MAS_UNREACHABLE' ? 'unreachable' : 'retryable_error';
      metrics.masSubmissions.inc({ outcome });
      metrics.masSubmissionDuration.observe({ outcome }, (performance.now() - started) / 1000);
      if (!e.retryable) {
        await writes.run(() => store.endTask(task.id, 'failed', e.message, 'mas'));
        tlog.warn({ status: e.status, reason: e.message }, 'MAS rejected the task permanently: failed');
        return;
      }
      // A probe while the circuit is already open tells nothing about this
      // task, so it does not spend the task's attempts: a long MAS outage
      // never kills tasks, while a task that fails when others succeed does die.
      const probeWhileOpen = this.#consecutiveMasFailures > 0;
      this.#consecutiveMasFailures++;
      if (!probeWhileOpen && task.attempts >= config.masMaxAttempts) {
        await writes.run(() => store.endTask(task.id, 'dead', `retries exhausted: ${e.message}`, 'gitbridge'));
        tlog.error({ attempts: task.attempts, reason: e.message }, 'MAS submission retries exhausted: task is dead');
        return;
      }
      const delay = backoffDelay(task.attempts, { baseMs: 500, capMs: 60_000, retryAfterMs: e.retryAfterMs });
      const refundAttempt = probeWhileOpen && task.attempts > 1;
      await writes.run(() => store.retryTaskLater(task.id, e.message, Date.now() + delay, Date.now(), { refundAttempt }));
      // Open the circuit: no new claims until the delay passes, then one probe.
      // A Retry-After from the MAS holds for every task, not just this one.
      const circuitMs = Math.max(e.retryAfterMs ?? 0, Math.min(delay, backoffDelay(this.#consecutiveMasFailures, { baseMs: 250, capMs: 30_000 }) || 1));
      this.#circuitUntil = Math.max(this.#circuitUntil, Date.now() + circuitMs);
      const level = this.#consecutiveMasFailures <= 3 || this.#consecutiveMasFailures % 50 === 0 ? 'warn' : 'debug';
      tlog[level]({ attempts: task.attempts, retryInMs: delay, reason: e.message, consecutiveFailures: this.#consecutiveMasFailures }, 'MAS submission failed: will retry');
    }
  }

  async #sendNotifications(): Promise<boolean> {
    const { store, writes, config, metrics, log } = this.#deps;
    if (this.#paused(this.#notifications)) return false;
    const batch = store.claimNotifications(16, config.leaseMs);
    await Promise.all(
      batch.map(async (n) => {
        const nlog = log.child({ deliveryId: n.delivery_id, channel: n.channel });
        if (!config.notifyUrl) {
          await writes.run(() => store.settleNotification(n.id, 'skipped', 'no GITBRIDGE_NOTIFY_URL configured', null));
          metrics.notifications.inc({ outcome: 'skipped' });
          return;
        }
        try {
          await postChatMessage(config.notifyUrl, n, 5000);
          await writes.run(() => store.settleNotification(n.id, 'sent', null, null));
          metrics.notifications.inc({ outcome: 'sent' });
          nlog.info('chat notification sent');
        } catch (err) {
          const message = (err as Error).message;
          if (n.attempts >= 4) {
            await writes.run(() => store.settleNotification(n.id, 'failed', message, null));
            metrics.notifications.inc({ outcome: 'failed' });
            nlog.warn({ reason: message, attempts: n.attempts }, 'chat notification failed; giving up (the task is not affected)');
          } else {
            await writes.run(() => store.settleNotification(n.id, 'pending', message, Date.now() + backoffDelay(n.attempts, { baseMs: 1000, capMs: 30_000 })));
            metrics.notifications.inc({ outcome: 'retried' });
            nlog.warn({ reason: message, attempts: n.attempts }, 'chat notification failed; will retry');
          }
        }
      }),
    );
    return batch.length === 16;
  }
}
