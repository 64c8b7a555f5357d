import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

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
  /** Reopens the files (after logrotate; the daemon calls it on SIGHUP). */
  reopen(): void;
  /** Flushes and closes the files. */
  close(): void;
}

/**
 * Creates pino JSON loggers writing to `<logDir>/webhook.log` and
 * `<logDir>/security.log` (directories are created).
 *
 * @param options.stdout also copy the webhook log to standard output
 * @param options.pretty human-readable stdout (pino-pretty); default: when stdout is a terminal
 */
export function createLoggers(options: { logDir: string; level?: string; stdout?: boolean; sync?: boolean; pretty?: boolean }): Loggers {
  const webhookDest = pino.destination({ dest: join(options.logDir, 'webhook.log'), mkdir: true, sync: options.sync ?? false });
  const securityDest = pino.destination({ dest: join(options.logDir, 'security.log'), mkdir: true, sync: options.sync ?? false });
  const level = options.level ?? 'info';
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime };
  const streams: pino.StreamEntry[] = [{ stream: webhookDest, level: level as pino.Level }];
  if (options.stdout) {
    // In a terminal (development), stdout is pino-pretty; otherwise JSON lines
    // for the log collector. The files are always JSON.
    const pretty_ = options.pretty ?? Boolean(process.stdout.isTTY);
    streams.push({ stream: pretty_ ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: 1, sync: true }) : process.stdout, level: level as pino.Level });
  }
  const log = pino({ ...base, name: 'gitbridged' }, pino.multistream(streams));
  const security = pino({ ...base, name: 'gitbridged.security' }, securityDest);
  return {
    log,
    security,
    reopen() {
      webhookDest.reopen();
      securityDest.reopen();
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
