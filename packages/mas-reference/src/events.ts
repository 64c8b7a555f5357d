/**
 * Reporting to {@link ReferenceMasOptions.onEvent}: the emitter and the
 * one-line error descriptions carried by `callback` and `error` events.
 */
import type { ReferenceMasEvent, ReferenceMasOptions } from './types.js';

/** Reports one event to the listener; never throws. */
export type Emit = (event: ReferenceMasEvent) => void;

/**
 * Wraps the optional `onEvent` listener: events go to it synchronously and
 * whatever it throws is swallowed (a faulty listener must not break the
 * server). Without a listener, events are dropped.
 */
export function createEmitter(onEvent: ((event: ReferenceMasEvent) => void) | undefined): Emit {
  return (event) => {
    if (!onEvent) return;
    try {
      onEvent(event);
    } catch {
      // A faulty listener must not break the server.
    }
  };
}

/**
 * Describes an error in one line, prefixed with its code or its cause's
 * code when there is one (`ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`).
 * Non-`Error` values are stringified.
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const cause = (err as { cause?: unknown }).cause;
    const causeCode = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
    const label = causeCode ?? code;
    return label ? `${label}: ${err.message}` : err.message;
  }
  return String(err);
}
