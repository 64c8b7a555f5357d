import { STATUS_CODES } from 'node:http';
import { Command } from 'commander';
import { EXIT_CODES, ERROR_CATALOGUE, type ErrorCode } from '@gitbridge/core/errors';
import { KEPT_HEADERS } from '@gitbridge/core/stored-delivery';
import type { Config } from '@gitbridge/core/config';
import { storeConfig } from '../config.js';
import { checkHttpUrl, defaultAdminUrl, resolveSecret } from '../env.js';
import { EXIT, usageError } from '../exit.js';
import { formatBytes, parseJsonOrText, printJson } from '../format.js';
import { postOrFail } from '../http.js';
import { parsePositiveInt, dataDirOption, databaseUrlOption } from '../options.js';
import { withStore } from '../store-access.js';

/** Options of `gitbridge replay`. */
export interface ReplayOptions {
  readonly url?: string;
  readonly adminToken?: string;
  readonly to?: string;
  readonly secret?: string;
  readonly dryRun?: boolean;
  readonly notify?: boolean;
  readonly json?: boolean;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** ms */
  readonly timeout: number;
}

/** Header that marks a delivery re-sent by `gitbridge replay --to`; its value is the original delivery id. */
export const REPLAY_HEADER = 'x-gitbridge-replay-of';

/** The daemon's admin base URL: `--url`, else {@link defaultAdminUrl} (its management listener when configured). */
function daemonUrl(flag: string | undefined, config: Config): string {
  if (flag === undefined) return defaultAdminUrl(config);
  const url = flag.replace(/\/+$/, '');
  checkHttpUrl(url, '--url');
  return url;
}

function print(opts: ReplayOptions, result: Record<string, unknown>, lines: string[]): void {
  if (opts.json) printJson(result);
  else process.stdout.write(`${lines.join('\n')}\n`);
}

/** The stable code of a GitBridge error body, or undefined for any other answer. */
function errorCodeOfBody(body: unknown): ErrorCode | undefined {
  const code = (body as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code) ? (code as ErrorCode) : undefined;
}

/**
 * What to tell the operator about a refused admin call, by the error's code
 * (never by its status: the admin API being off and a wrong token need
 * different fixes).
 */
function adminRefusal(code: ErrorCode | undefined, body: unknown, base: string): string {
  switch (code) {
    case 'GB_ADMIN_UNAUTHORIZED':
      return 'the daemon refused the admin token (is GITBRIDGE_ADMIN_TOKEN the same on both sides?)';
    case 'GB_ADMIN_DISABLED':
      return "the daemon's admin API is off: it runs without GITBRIDGE_ADMIN_TOKEN (start it with the same token as here)";
    case 'GB_NOT_FOUND':
      return `${base} does not serve the admin API: with GITBRIDGE_ADMIN_PORT it is on the management listener (pass --url http://127.0.0.1:<admin port>, or set GITBRIDGE_ADMIN_PORT here too)`;
    default: {
      const message = (body as { message?: unknown } | null)?.message;
      return typeof message === 'string' ? message : 'the daemon refused the replay';
    }
  }
}

/**
 * Replays through the running daemon: `POST <url>/admin/replay/<id>` with the
 * admin token (and `?notify=true` with `--notify`). The daemon resolves an id
 * prefix, stores a new delivery `<id>:replay:<n>` with the original bytes,
 * processes it past de-duplication, and writes the replay to the security
 * log. A refusal is explained by its code on stderr, and ends with the
 * code's exit status.
 */
async function replayThroughDaemon(id: string, opts: ReplayOptions, config: Config): Promise<number> {
  const base = daemonUrl(opts.url, config);
  const token = opts.adminToken ?? config.adminToken;
  if (!token) throw usageError('an admin token is required: --admin-token or GITBRIDGE_ADMIN_TOKEN', 'the daemon must run with the same GITBRIDGE_ADMIN_TOKEN');
  const target = `${base}/admin/replay/${encodeURIComponent(id)}${opts.notify ? '?notify=true' : ''}`;
  if (opts.dryRun) {
    print(opts, { dry_run: true, method: 'POST', url: target }, [`dry run: would POST ${target} (Authorization: Bearer [redacted])`]);
    return EXIT.ok;
  }
  const { status, text } = await postOrFail(target, { authorization: `Bearer ${token}` }, undefined, opts.timeout);
  const body = text === '' ? null : parseJsonOrText(text);
  print(opts, { status, body }, [`${status} ${STATUS_CODES[status] ?? ''}  POST ${target}`, typeof body === 'string' ? body : JSON.stringify(body, null, 2)]);
  if (status >= 200 && status < 300) return EXIT.ok;
  const code = errorCodeOfBody(body);
  process.stderr.write(`gitbridge: ${adminRefusal(code, body, base)}\n`);
  return code ? EXIT_CODES[code] : EXIT.failed;
}

/**
 * Re-sends a stored delivery to another GitBridge (`--to`): the body
 * byte-identical to what GitHub sent, the original event headers and
 * delivery id, signed with `secret` for the target, and marked with
 * `X-GitBridge-Replay-Of`.
 */
async function replayTo(id: string, opts: ReplayOptions & { to: string }, config: Config): Promise<number> {
  checkHttpUrl(opts.to, '--to');
  const secret = resolveSecret(opts.secret, config);
  const found = await withStore(config, {}, async (store) => {
    const { resolveDeliveryId } = await import('@gitbridge/core/store');
    const full = await resolveDeliveryId(store, id);
    return { ...(await store.getDelivery(full))!, body: (await store.getDeliveryBody(full)) ?? Buffer.alloc(0) };
  });
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) if (found.headers[h] !== undefined) headers[h] = found.headers[h];
  headers['content-type'] = found.contentType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  headers['x-github-delivery'] = found.deliveryId;
  headers[REPLAY_HEADER] = found.deliveryId;
  const { sign } = await import('@gitbridge/core/signature');
  headers['x-hub-signature-256'] = sign(secret, found.body);
  if (opts.dryRun) {
    const shown = { ...headers, 'x-hub-signature-256': '[redacted]' };
    print(opts, { dry_run: true, method: 'POST', url: opts.to, headers: shown, size: found.body.length }, [
      `dry run: would POST ${opts.to}`,
      ...Object.entries(shown).map(([k, v]) => `  ${k}: ${v}`),
      `  body: ${formatBytes(found.body.length)}, byte-identical to delivery ${found.deliveryId}`,
    ]);
    return EXIT.ok;
  }
  const { status, text } = await postOrFail(opts.to, headers, found.body, opts.timeout, 'the target');
  const body = text === '' ? null : parseJsonOrText(text);
  print(opts, { status, delivery_id: found.deliveryId, body }, [`${status} ${STATUS_CODES[status] ?? ''}  POST ${opts.to}`, `delivery  ${found.deliveryId} (replay)`, typeof body === 'string' ? body : JSON.stringify(body, null, 2)]);
  return status >= 200 && status < 300 ? EXIT.ok : EXIT.failed;
}

/** The `replay` command. */
export function replayCommand(): Command {
  return new Command('replay')
    .description('Re-run a stored delivery through the pipeline, or re-send it to another GitBridge')
    .argument('<delivery-id>', 'the X-GitHub-Delivery of a stored delivery, or a unique prefix of it (at least 4 characters)')
    .option('--url <url>', 'base URL of the running gitbridged\'s admin API (default its management listener, http://127.0.0.1:$GITBRIDGE_ADMIN_PORT, when set; else http://127.0.0.1:$GITBRIDGE_PORT or :3000)')
    .option('--admin-token <token>', "the daemon's admin token (default $GITBRIDGE_ADMIN_TOKEN)")
    .option('--notify', 'also send the chat notifications again, marked "[replay]" (default: tasks only)')
    .option('--to <url>', 'instead, re-send the stored delivery to this webhook URL (another GitBridge)')
    .option('--secret <secret>', "with --to: the target's webhook secret (default the first of $GITBRIDGE_WEBHOOK_SECRET, else $GITBRIDGE_WEBHOOK_SECRET_FILE)")
    .addOption(dataDirOption('with --to: '))
    .addOption(databaseUrlOption('with --to: '))
    .option('--dry-run', 'print what would be sent, send nothing')
    .option('--json', 'print the result as JSON')
    .option('--timeout <ms>', 'give up after this many milliseconds', parsePositiveInt, 10_000)
    .addHelpText('after', `
Without --to, the running daemon replays the delivery: it stores a new delivery
"<id>:replay:<n>" with the original bytes, passes de-duplication on purpose,
creates its tasks again, and writes the replay to the security log. It sends
no chat notification unless --notify is given (then marked "[replay]"); its
journal entry names the delivery it replays (replay_of). The daemon must run
with GITBRIDGE_ADMIN_TOKEN set; the same token authenticates the call. The
delivery id may be a unique prefix (at least 4 characters).

With --to, the stored body is sent byte-identical with the original event
headers and delivery id, signed for the target, and marked with the header
X-GitBridge-Replay-Of.

Examples:
  $ GITBRIDGE_ADMIN_TOKEN=... gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958
  $ GITBRIDGE_ADMIN_TOKEN=... gitbridge replay 72d3162e --notify
  $ gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958 --dry-run
  $ gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958 --to http://127.0.0.1:3001/webhook --secret dev`)
    .action(async (id: string, opts: ReplayOptions) => {
      if (opts.to && opts.notify) throw usageError('--notify applies to replays through the daemon', 'with --to the target GitBridge takes the delivery as a new one and notifies as it would for any');
      const config = await storeConfig(opts);
      process.exitCode = opts.to ? await replayTo(id, { ...opts, to: opts.to }, config) : await replayThroughDaemon(id, opts, config);
    });
}
