/**
 * The callback sender: POSTs each status change to the task's
 * `callback_url`, signed, one after the other per task, with retries.
 */
import { setMaxListeners } from 'node:events';
import { Agent, request as httpRequest } from 'undici';
import { sign } from '@gitbridge/core/signature';
import { describeError } from './events.js';
import type { Emit } from './events.js';
import { MAX_MS } from './options.js';
import type { StatusChange } from './tasks.js';
import { nowIso } from './timers.js';
import type { RunState, Timers } from './timers.js';
import type { CallbackAttempt } from './types.js';

/** Settings of a {@link CallbackSender}; durations in ms. */
export interface CallbackSenderOptions {
  /** Signs every body: `X-MAS-Signature-256: sha256=<hex HMAC-SHA256>`. */
  readonly secret: string;
  /** Attempts per callback, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the 2nd attempt, in ms; doubles after each failed attempt (capped at {@link MAX_MS}). */
  readonly retryBaseMs: number;
  /** Timeout of one attempt (connect, headers and body each), in ms. */
  readonly timeoutMs: number;
  /** Schedules the retries; cancelling them ends every retry loop. */
  readonly timers: Timers;
  /** Nothing is sent or recorded once the server is closed. */
  readonly run: RunState;
  /** Receives one `callback` event per attempt. */
  readonly emit: Emit;
}

/**
 * Sends callbacks and records every attempt. A 2xx answer counts as
 * delivered; any other answer or a connection error / timeout is retried
 * until `maxAttempts`. Callbacks of one task go out in order: the next one
 * starts once the previous one is delivered or given up.
 */
export class CallbackSender {
  readonly #options: CallbackSenderOptions;
  readonly #agent: Agent;
  readonly #abort = new AbortController();
  readonly #attempts: CallbackAttempt[] = [];
  /** Tail of each task's callback chain, by task id. */
  readonly #chains = new Map<string, Promise<void>>();

  constructor(options: CallbackSenderOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    // One signal cancels every callback in flight on close(); there may be many at once.
    setMaxListeners(0, this.#abort.signal);
  }

  /** Copy of every attempt so far, in order of completion. */
  attempts(): CallbackAttempt[] {
    return [...this.#attempts];
  }

  /**
   * Queues the callback of `change` (body: its JSON, as is) to `callbackUrl`
   * behind the earlier callbacks of the same task. Returns at once; never throws.
   */
  send(callbackUrl: string, change: StatusChange): void {
    const raw = Buffer.from(JSON.stringify(change), 'utf8');
    const tail = this.#chains.get(change.task_id) ?? Promise.resolve();
    this.#chains.set(
      change.task_id,
      tail.then(() => this.#deliver(callbackUrl, change, raw)).catch(() => undefined),
    );
  }

  /** Aborts the callbacks in flight (their attempts are not recorded). Call once `run.closed` is set. */
  abort(): void {
    this.#abort.abort();
  }

  /** Closes the HTTP connections of the sender. Resolves when done; never rejects. */
  destroy(): Promise<void> {
    return this.#agent.destroy().catch(() => undefined);
  }

  async #deliver(callbackUrl: string, change: StatusChange, raw: Buffer): Promise<void> {
    const { secret, maxAttempts, retryBaseMs, timers, run, emit } = this.#options;
    const signature = sign(secret, raw);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (run.closed) return;
      let outcome: { status_code: number } | { error: string };
      try {
        const res = await httpRequest(callbackUrl, {
          method: 'POST',
          dispatcher: this.#agent,
          signal: this.#abort.signal,
          headers: {
            'content-type': 'application/json',
            'x-mas-signature-256': signature,
            'user-agent': 'gitbridge-mas-reference',
          },
          body: raw,
        });
        try {
          await res.body.dump();
        } catch {
          // The status line is what matters; a broken body does not change it.
        }
        outcome = { status_code: res.statusCode };
      } catch (err) {
        if (run.closed) return;
        outcome = { error: describeError(err) };
      }
      if (run.closed) return;
      const delivered = 'status_code' in outcome && outcome.status_code >= 200 && outcome.status_code < 300;
      const record: CallbackAttempt = { task_id: change.task_id, status: change.status, attempt, at: nowIso(), ...outcome };
      this.#attempts.push(record);
      const willRetry = !delivered && attempt < maxAttempts;
      emit({ event: 'callback', callback_url: callbackUrl, will_retry: willRetry, ...record });
      if (!willRetry) return;
      const fired = await timers.sleep(Math.min(retryBaseMs * 2 ** (attempt - 1), MAX_MS));
      if (!fired) return;
    }
  }
}
