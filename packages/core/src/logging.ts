import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { GitBridgeError, isGitBridgeError } from './errors/errors.js';

/** Paths redacted in every log line: secrets and signatures never reach a log. */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'signature',
  '*.signature',
  'headers["x-hub-signature-256"]',
  'headers["x-hub-signature"]',
  'headers["x-mas-signature-256"]',
  'headers.authorization',
  '*.headers["x-hub-signature-256"]',
  '*.headers["x-hub-signature"]',
  '*.headers.authorization',
  'token',
  '*.token',
];

/** The daemon's two logs. */
export interface Loggers {
  /** `logs/webhook.log` (and stdout when enabled): one JSON line per event, `deliveryId` on every line about a delivery. */
  readonly log: Logger;
  /** `logs/security.log`: signature failures, denied addresses, rate limits, replays, secret slot used. */
  readonly security: Logger;
  /** Resolves once both files are open (so that an early exit can flush them). */
  ready(): Promise<void>;
  /** Reopens the files (after logrotate; the daemon calls it on SIGHUP). */
  reopen(): void;
  /** Flushes and closes the files. */
  close(): void;
}

/**
 * An error as a log line shows it (the `err` key). A GitBridgeError with a
 * 4xx status or 503 (unavailable: a database outage) is a failure GitBridge
 * expected and classified: its code, message, hint and the cause's message and code,
 * without a stack (an outage would otherwise print one per retry of every
 * worker). Anything else may be a bug (`GB_INTERNAL`, `GB_STORE_ERROR`, a
 * plain Error): pino's standard form, stack and cause included. What is not
 * an Error (a `{ message, code }` a caller built) is logged as it is.
 */
export function logError(err: unknown): unknown {
  // Already a plain description (`{ message, code }`): as it is.
  if (!(err instanceof Error)) return err;
  if (!isGitBridgeError(err) || err.statusCode >= 500 && err.statusCode !== 503) return pino.stdSerializers.err(err as Error);
  const cause = err.cause as { message?: unknown; code?: unknown } | undefined;
  return {
    type: 'GitBridgeError',
    code: err.code,
    message: err.message,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(cause && typeof cause === 'object' ? { cause: { message: String(cause.message), ...(cause.code !== undefined ? { code: String(cause.code) } : {}) } } : {}),
  };
}

/**
 * Creates pino JSON loggers writing to `<logDir>/webhook.log` and
 * `<logDir>/security.log` (directories are created).
 *
 * @param options.stdout also copy the webhook log to standard output
 * In a terminal (development), stdout is pino-pretty; otherwise JSON lines.
 */
export function createLoggers(options: { logDir: string; level?: string; stdout?: boolean; sync?: boolean }): Loggers {
  // Open both files synchronously: a log directory that cannot be created or
  // written fails start-up here with a clear error, not later from a stream.
  const open = (name: string) => {
    const path = join(options.logDir, name);
    try {
      mkdirSync(options.logDir, { recursive: true });
      closeSync(openSync(path, 'a'));
      const dest = pino.destination({ dest: path, sync: options.sync ?? false });
      return { dest, path };
    } catch (err) {
      throw new GitBridgeError('GB_LOG_UNAVAILABLE', { message: `Cannot open log file ${path}: ${(err as Error).message}`, cause: err });
    }
  };
  const webhook = open('webhook.log');
  const securityFile = open('security.log');
  const webhookDest = webhook.dest;
  const securityDest = securityFile.dest;
  const level = options.level ?? 'info';
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime, serializers: { err: logError } };
  const streams: pino.StreamEntry[] = [{ stream: webhookDest, level: level as pino.Level }];
  if (options.stdout) {
    // In a terminal (development), stdout is pino-pretty; otherwise JSON lines
    // for the log collector. The files are always JSON.
    const pretty_ = Boolean(process.stdout.isTTY);
    streams.push({ stream: pretty_ ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: 1, sync: true }) : process.stdout, level: level as pino.Level });
  }
  const log = pino({ ...base, name: 'gitbridged' }, pino.multistream(streams));
  const security = pino({ ...base, name: 'gitbridged.security' }, securityDest);
  const opened = (d: typeof webhookDest) => new Promise<void>((resolve, reject) => {
    if ((d as unknown as { fd: number }).fd >= 0) return resolve();
    d.once('ready', () => resolve());
    d.once('error', reject);
  });
  return {
    log,
    security,
    ready: () => Promise.all([opened(webhookDest), opened(securityDest)]).then(() => undefined),
    reopen() {
      webhookDest.reopen(webhook.path);
      securityDest.reopen(securityFile.path);
    },
    close() {
      for (const d of [webhookDest, securityDest]) {
        try {
          d.flushSync();
        } catch {
          // not yet open: nothing to flush
        }
        d.end();
      }
    },
  };
}
