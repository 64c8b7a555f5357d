import { STATUS_CODES } from 'node:http';
import { Command } from 'commander';
import { GitBridgeError } from '@gitbridge/core/errors';
import { KEPT_HEADERS } from '@gitbridge/core/stored-delivery';
import type { Config } from '@gitbridge/core/config';
import { storeConfig } from '../config.js';
import { checkHttpUrl, defaultDaemonUrl, resolveSecret } from '../env.js';
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
  readonly json?: boolean;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** ms */
  readonly timeout: number;
}

/** Header that marks a delivery re-sent by `gitbridge replay --to`; its value is the original delivery id. */
export const REPLAY_HEADER = 'x-gitbridge-replay-of';

/** The daemon's base URL: `--url`, else {@link defaultDaemonUrl}. */
function daemonUrl(flag: string | undefined, config: Config): string {
  if (flag === undefined) return defaultDaemonUrl(config);
  const url = flag.replace(/\/+$/, '');
  checkHttpUrl(url, '--url');
  return url;
}

function print(opts: ReplayOptions, result: Record<string, unknown>, lines: string[]): void {
  if (opts.json) printJson(result);
  else process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Replays through the running daemon: `POST <url>/admin/replay/<id>` with the
 * admin token. The daemon stores a new delivery `<id>:replay:<n>` with the
 * original bytes, processes it past de-duplication, and writes the replay to
 * the security log.
 */
async function replayThroughDaemon(id: string, opts: ReplayOptions, config: Config): Promise<number> {
  const base = daemonUrl(opts.url, config);
  const token = opts.adminToken ?? config.adminToken;
  if (!token) throw usageError('an admin token is required: --admin-token or GITBRIDGE_ADMIN_TOKEN', 'the daemon must run with the same GITBRIDGE_ADMIN_TOKEN');
  const target = `${base}/admin/replay/${encodeURIComponent(id)}`;
  if (opts.dryRun) {
    print(opts, { dry_run: true, method: 'POST', url: target }, [`dry run: would POST ${target} (Authorization: Bearer [redacted])`]);
    return EXIT.ok;
  }
  const { status, text } = await postOrFail(target, { authorization: `Bearer ${token}` }, undefined, opts.timeout);
  const body = text === '' ? null : parseJsonOrText(text);
  print(opts, { status, body }, [`${status} ${STATUS_CODES[status] ?? ''}  POST ${target}`, typeof body === 'string' ? body : JSON.stringify(body, null, 2)]);
  if (status === 401) process.stderr.write('gitbridge: the daemon refused the admin token (is GITBRIDGE_ADMIN_TOKEN the same on both sides?)\n');
  return status >= 200 && status < 300 ? EXIT.ok : EXIT.failed;
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
    const delivery = await store.getDelivery(id);
    return delivery && { ...delivery, body: (await store.getDeliveryBody(id)) ?? Buffer.alloc(0) };
  });
  if (!found) throw new GitBridgeError('GB_DELIVERY_NOT_FOUND', { message: `no stored delivery ${id}`, hint: 'list them with `gitbridge deliveries ls`' });
  const row = { delivery_id: found.deliveryId, body: found.body };
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) if (found.headers[h] !== undefined) headers[h] = found.headers[h];
  headers['content-type'] = found.contentType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  headers['x-github-delivery'] = found.deliveryId;
  headers[REPLAY_HEADER] = found.deliveryId;
  const { sign } = await import('@gitbridge/core/signature');
  headers['x-hub-signature-256'] = sign(secret, row.body);
  if (opts.dryRun) {
    const shown = { ...headers, 'x-hub-signature-256': '[redacted]' };
    print(opts, { dry_run: true, method: 'POST', url: opts.to, headers: shown, size: row.body.length }, [
      `dry run: would POST ${opts.to}`,
      ...Object.entries(shown).map(([k, v]) => `  ${k}: ${v}`),
      `  body: ${formatBytes(row.body.length)}, byte-identical to delivery ${row.delivery_id}`,
    ]);
    return EXIT.ok;
  }
  const { status, text } = await postOrFail(opts.to, headers, row.body, opts.timeout, 'the target');
  const body = text === '' ? null : parseJsonOrText(text);
  print(opts, { status, delivery_id: row.delivery_id, body }, [`${status} ${STATUS_CODES[status] ?? ''}  POST ${opts.to}`, `delivery  ${row.delivery_id} (replay)`, typeof body === 'string' ? body : JSON.stringify(body, null, 2)]);
  return status >= 200 && status < 300 ? EXIT.ok : EXIT.failed;
}

/** The `replay` command. */
export function replayCommand(): Command {
  return new Command('replay')
    .description('Re-run a stored delivery through the pipeline, or re-send it to another GitBridge')
    .argument('<delivery-id>', 'the X-GitHub-Delivery of a stored delivery')
    .option('--url <url>', 'base URL of the running gitbridged (default http://127.0.0.1:$GITBRIDGE_PORT or :3000)')
    .option('--admin-token <token>', "the daemon's admin token (default $GITBRIDGE_ADMIN_TOKEN)")
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
creates its tasks again, and writes the replay to the security log. The daemon
must run with GITBRIDGE_ADMIN_TOKEN set; the same token authenticates the call.

With --to, the stored body is sent byte-identical with the original event
headers and delivery id, signed for the target, and marked with the header
X-GitBridge-Replay-Of.

Examples:
  $ GITBRIDGE_ADMIN_TOKEN=... gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958
  $ gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958 --dry-run
  $ gitbridge replay 72d3162e-cc78-11e3-81ab-4c9367dc0958 --to http://127.0.0.1:3001/webhook --secret dev`)
    .action(async (id: string, opts: ReplayOptions) => {
      const config = await storeConfig(opts);
      process.exitCode = opts.to ? await replayTo(id, { ...opts, to: opts.to }, config) : await replayThroughDaemon(id, opts, config);
    });
}
