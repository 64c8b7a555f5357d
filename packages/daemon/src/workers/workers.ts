import type { Logger } from 'pino';
import { systemClock, type Clock, type Config, type Metrics, type RuleSpec, type Store } from '@gitbridge/core';
import { settledWithin } from '@gitbridge/core/util';
import { policyFrom, type WorkerContext, type WorkerPolicy } from './context.js';
import { DeliveryProcessor } from './delivery-processor.js';
import { Loop } from './loop.js';
import { NotificationSender } from './notification-sender.js';
import { TaskSubmitter } from './task-submitter.js';

/** What the workers need. */
export interface WorkerDeps {
  readonly config: Config;
  readonly store: Store;
  readonly rules: readonly RuleSpec[];
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Jitter source of every backoff (default Math.random). */
  readonly random?: () => number;
  /** Overrides of the policy numbers (tests). */
  readonly policy?: Partial<WorkerPolicy>;
  /**
   * True while deliveries are arriving and the event loop is nearly
   * saturated. The delivery processor then claims small batches and keeps to
   * {@link BUSY_SHARE} of the event loop: the 202s never wait for processing,
   * the queue absorbs the burst.
   */
  readonly ingestBusy?: () => boolean;
  /** The callback URL given to the MAS (`<public URL>/mas/callback`); read per submission. */
  readonly callbackUrl: () => string;
}

/** Share of the event loop the delivery processor may use while ingest is busy. */
const BUSY_SHARE = 0.05;

/**
 * The asynchronous half of the flow (DESIGN §1 stages 5–8), three loops over
 * the store's leased queues: the delivery processor (routing rules → tasks,
 * journal, notifications), the task submitter (MAS protocol 2.1 behind a
 * circuit breaker) and the notification sender (chat outbox). Each loop
 * wakes on the store's wake-up signal and polls as a backstop.
 */
export class Workers {
  readonly #deliveries: Loop;
  readonly #tasks: Loop;
  readonly #notifications: Loop;
  readonly #submitter: TaskSubmitter;
  readonly #unsubscribe: (() => void)[];

  constructor(deps: WorkerDeps) {
    const clock = deps.clock ?? systemClock;
    const busy = deps.ingestBusy ?? (() => false);
    const ctx: WorkerContext = {
      config: deps.config,
      policy: policyFrom(deps.config, deps.policy),
      store: deps.store,
      rules: deps.rules,
      metrics: deps.metrics,
      log: deps.log,
      clock,
      random: deps.random ?? Math.random,
      ingestBusy: busy,
      callbackUrl: deps.callbackUrl,
    };
    const { store, log } = deps;
    const pollMs = ctx.policy.pollMs;
    const processor = new DeliveryProcessor(ctx);
    this.#submitter = new TaskSubmitter(ctx, () => this.#tasks.kick());
    const sender = new NotificationSender(ctx);
    this.#deliveries = new Loop({
      name: 'deliveries', tick: () => processor.tick(), msUntilDue: () => store.msUntilDue('deliveries'), log, clock, pollMs,
      pace: (tickMs) => (busy() ? Math.min(250, Math.max(1, (tickMs * (1 - BUSY_SHARE)) / BUSY_SHARE)) : 0),
    });
    // While ingest is busy, submissions and notifications trickle (a few per tick, bounded ticks per second).
    this.#tasks = new Loop({ name: 'tasks', tick: () => this.#submitter.tick(), msUntilDue: () => this.#submitter.msUntilDue(), log, clock, pollMs, pace: () => (busy() ? 20 : 0) });
    this.#notifications = new Loop({ name: 'notifications', tick: () => sender.tick(), msUntilDue: () => store.msUntilDue('notifications'), log, clock, pollMs, pace: () => (busy() ? 100 : 0) });
    this.#unsubscribe = [
      store.onWake('deliveries', () => this.#deliveries.kick()),
      store.onWake('tasks', () => this.#tasks.kick()),
      store.onWake('notifications', () => this.#notifications.kick()),
    ];
  }

  /** Starts the loops (picks up whatever the store holds from before a restart). */
  start(): void {
    this.#deliveries.kick();
    this.#tasks.kick();
    this.#notifications.kick();
  }

  /**
   * Stops claiming new work and waits for the workers' ticks and in-flight
   * MAS submissions up to `graceMs` (real time: shutdown is bounded in
   * wall-clock terms). A
   * submission still running after that is left under its lease and is
   * retried (same Idempotency-Key) after restart.
   * @returns how many submissions were still running when it returned (0 when all ended)
   */
  async stop(graceMs: number): Promise<number> {
    for (const u of this.#unsubscribe) u();
    // The three loops stop together, inside the same bound: a tick stuck in a
    // query to a database that went silent ends only at its answer timeout.
    await settledWithin(Promise.all([this.#deliveries.stop(), this.#notifications.stop(), this.#tasks.stop(), ...this.#submitter.inflight]), graceMs);
    return this.#submitter.inflight.size;
  }
}
