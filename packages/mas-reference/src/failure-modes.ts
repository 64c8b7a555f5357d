/**
 * Failure injection: the state of the modes, the public {@link FailureModes}
 * API, and what the routes and hooks read from it.
 */
import type { Server } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describeError } from './events.js';
import type { Emit } from './events.js';
import type { ErrorReply } from './http.js';
import { assertInt, assertMs } from './options.js';
import { nowIso } from './timers.js';
import type { RunState, Timers } from './timers.js';
import type { ControlAction, FailureModes, FailureModeState } from './types.js';

/** What the failure modes act on. */
export interface FailureModeDeps {
  /** The server's HTTP server: closed and listened on again by `refuseConnections`. */
  readonly server: Server;
  /** Interface to listen on again. */
  readonly host: string;
  /** Port to listen on again: the one bound at start (read only while refusing). */
  readonly port: () => number;
  /** Delays responses under `slow`. */
  readonly timers: Timers;
  /** Once closed, nothing listens again and withheld responses are dropped. */
  readonly run: RunState;
  /** Receives `control` and `error` events. */
  readonly emit: Emit;
}

/** The failure modes of one server: the public API plus what the server reads from it. */
export interface FailureModeControl {
  /** The public API (`ReferenceMas.failureModes`; also served under `/_control`). */
  readonly api: FailureModes;
  /** Delay before handling each `POST /tasks`, in ms (0 = off). */
  readonly hangMs: number;
  /** Whether `POST /tasks` answers are withheld (see {@link FailureModeControl.hold}). */
  readonly acceptThenHang: boolean;
  /**
   * Uses up one injected `POST /tasks` failure: returns the error to answer
   * (`INJECTED_FAILURE`, with `Retry-After` in seconds when set), or `null`
   * when none is pending.
   */
  takeInjectedFailure(): ErrorReply | null;
  /**
   * Withholds a response: resolves `true` when `reset()` releases it (send
   * it), `false` on close (drop the connection). Never rejects.
   */
  hold(): Promise<boolean>;
  /**
   * fastify `onSend` hook: `Connection: close` while refusing connections,
   * and the `slow` delay (ms) on every response except `/_control...`.
   */
  onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown>;
  /** On server close: stops listening again, resolves `refuseConnections` promises, drops withheld responses. */
  close(): void;
}

/** Creates the failure modes of one server, all off. */
export function createFailureModes(deps: FailureModeDeps): FailureModeControl {
  const { server, host, timers, run, emit } = deps;
  let failNext: { remaining: number; status: number; retryAfterS: number | null } | null = null;
  let hangMs = 0;
  let acceptThenHang = false;
  let slowMs = 0;
  let refusing = false;
  let relistenTimer: NodeJS.Timeout | undefined;
  let relistenWaiters: Array<() => void> = [];
  /** Responses withheld by acceptThenHang: resolve(true) sends, resolve(false) drops. */
  const held = new Set<(release: boolean) => void>();

  const controlEvent = (action: ControlAction, params: Record<string, number> = {}): void => {
    emit({ event: 'control', action, params, at: nowIso() });
  };

  function finishRefusing(): void {
    refusing = false;
    const waiters = relistenWaiters;
    relistenWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function relisten(): void {
    relistenTimer = undefined;
    if (run.closed || !refusing) return;
    const port = deps.port();
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      emit({ event: 'error', message: `listening again on ${host}:${port} failed: ${describeError(err)}; retrying in 100 ms`, at: nowIso() });
      if (!run.closed && refusing) relistenTimer = setTimeout(relisten, 100);
    };
    const onListening = (): void => {
      server.off('error', onError);
      if (run.closed) {
        server.close();
        return;
      }
      finishRefusing();
      controlEvent('listening_again', { port });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host });
  }

  const api: FailureModes = {
    failNext(count, status, opts) {
      assertInt('count', count, 0, 1_000_000);
      assertInt('status', status, 400, 599);
      const retryAfterS = opts?.retryAfterS === undefined ? null : assertInt('retryAfterS', opts.retryAfterS, 0, 86_400 * 365);
      failNext = count > 0 ? { remaining: count, status, retryAfterS } : null;
      controlEvent('fail_next', { count, status, ...(retryAfterS !== null ? { retry_after_s: retryAfterS } : {}) });
    },
    hang(ms) {
      hangMs = assertMs('ms', ms);
      controlEvent('hang', { ms });
    },
    acceptThenHang() {
      acceptThenHang = true;
      controlEvent('accept_then_hang');
    },
    refuseConnections(ms) {
      assertMs('ms', ms);
      if (run.closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => relistenWaiters.push(resolve));
      if (!refusing) {
        refusing = true;
        // Stops accepting at once; Node also closes idle keep-alive sockets.
        // Active requests finish, answered with `Connection: close` (onSend hook).
        server.close();
        server.closeIdleConnections();
      }
      if (relistenTimer) clearTimeout(relistenTimer);
      relistenTimer = setTimeout(relisten, ms);
      controlEvent('refuse_connections', { ms });
      return done;
    },
    slow(ms) {
      slowMs = assertMs('ms', ms);
      controlEvent('slow', { ms });
    },
    reset() {
      failNext = null;
      hangMs = 0;
      acceptThenHang = false;
      slowMs = 0;
      for (const release of held) release(true);
      held.clear();
      if (refusing && relistenTimer) {
        clearTimeout(relistenTimer);
        relisten();
      }
      controlEvent('reset');
    },
    get state(): FailureModeState {
      return {
        failNext: failNext ? { ...failNext } : null,
        hangMs,
        acceptThenHang,
        refusingConnections: refusing,
        slowMs,
      };
    },
  };

  return {
    api,
    get hangMs() {
      return hangMs;
    },
    get acceptThenHang() {
      return acceptThenHang;
    },
    takeInjectedFailure() {
      if (!failNext || failNext.remaining <= 0) return null;
      const { status, retryAfterS } = failNext;
      failNext.remaining -= 1;
      if (failNext.remaining === 0) failNext = null;
      return {
        status,
        code: 'INJECTED_FAILURE',
        message: 'failure injected by the reference MAS (failNext)',
        ...(retryAfterS !== null ? { headers: { 'retry-after': String(retryAfterS) } } : {}),
      };
    },
    hold() {
      return new Promise<boolean>((resolve) => {
        if (run.closed) resolve(false);
        else held.add(resolve);
      });
    },
    async onSend(request, reply, payload) {
      if (refusing) reply.header('connection', 'close');
      if (slowMs > 0 && !request.url.startsWith('/_control')) await timers.sleep(slowMs);
      return payload;
    },
    close() {
      if (relistenTimer) clearTimeout(relistenTimer);
      relistenTimer = undefined;
      finishRefusing();
      for (const release of held) release(false);
      held.clear();
    },
  };
}
