import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { Command } from 'commander';
import { GitBridgeError, isGitBridgeError } from '@gitbridge/core/errors';
import { isObject } from '@gitbridge/core/util';
import { cliConfig } from '../config.js';
import { checkHttpUrl, defaultDaemonUrl, resolveSecret } from '../env.js';
import { postOrFail } from '../http.js';
import { EXIT, usageError } from '../exit.js';
import { formatBytes, parseJsonOrText, printJson, sanitize } from '../format.js';
import { collect, parsePositiveInt } from '../options.js';
import { parseAssignment, setPath, setRepository, setSender } from '../payload-edit.js';
import { findExample, listExampleEvents, unknownEvent, type JsonObject } from '../webhook-examples.js';

/** Options of `gitbridge send-test`, as commander parses them. */
export interface SendTestOptions {
  readonly event?: string;
  readonly action?: string;
  readonly payload?: string;
  readonly url?: string;
  readonly secret?: string;
  readonly deliveryId?: string;
  readonly repo?: string;
  readonly sender?: string;
  readonly set: string[];
  readonly form?: boolean;
  readonly json?: boolean;
  readonly list?: boolean;
  readonly timeout: number;
}

/** What `send-test --json` prints. */
export interface SendTestResult {
  /** HTTP status of the daemon's answer. */
  readonly status: number;
  /** The `X-GitHub-Delivery` sent. */
  readonly delivery_id: string;
  readonly event: string;
  /** `payload.action` of the payload sent, or null. */
  readonly action: string | null;
  /** The answer's body: parsed JSON when it is JSON, else text (null when empty). */
  readonly body: unknown;
}

/** A request ready to send: exact body bytes and GitHub's headers. */
export interface BuiltDelivery {
  readonly deliveryId: string;
  readonly event: string;
  readonly action: string | null;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}


const EXAMPLES = `
The payload is GitHub's own example for the event (package @octokit/webhooks-examples),
signed with the webhook secret exactly as GitHub signs it.

Examples:
  $ gitbridge send-test --list
  $ gitbridge send-test --event ping --secret gitbridge-dev-secret     # against \`pnpm start\`
  $ export GITBRIDGE_WEBHOOK_SECRET=gitbridge-dev-secret                # or once for the shell
  $ gitbridge send-test --event pull_request --action opened --repo octocat/Hello-World
  $ gitbridge send-test --event issues --action opened --set issue.title="Crash on start" --set issue.number=42
  $ gitbridge send-test --event push --form            # as a hook with content type "form"
  $ gitbridge send-test --event pull_request --payload ./captured.json --delivery-id 72d3162e-cc78-11e3-81ab-4c9367dc0958
  $ gitbridge send-test --event pull_request --action closed --json | jq .status

Secret: --secret, else the first of GITBRIDGE_WEBHOOK_SECRET (comma-separated),
else GITBRIDGE_WEBHOOK_SECRET_FILE. URL: --url, else http://127.0.0.1:$GITBRIDGE_PORT/webhook
(port 3000). Reuse a --delivery-id to see how gitbridged treats a redelivery.

Exit status: 0 the daemon answered 2xx; 1 it answered otherwise; 2 usage error;
3 the daemon could not be reached or did not answer within --timeout.`;

/** The `send-test` command. */
export function sendTestCommand(): Command {
  return new Command('send-test')
    .description('Send a signed test webhook delivery to gitbridged, with the headers GitHub sends')
    .option('--event <event>', 'X-GitHub-Event to send, e.g. pull_request (see --list)')
    .option('--action <action>', 'use the example whose payload.action is this')
    .option('--payload <file>', "send this file's exact bytes instead of an example")
    .option('--url <url>', 'webhook URL (default http://127.0.0.1:${GITBRIDGE_PORT:-3000}/webhook)')
    .option('--secret <secret>', 'webhook secret (default: first of GITBRIDGE_WEBHOOK_SECRET)')
    .option('--delivery-id <id>', 'X-GitHub-Delivery (default: a fresh UUID)')
    .option('--repo <owner/name>', 'set repository.full_name, .name and .owner.login')
    .option('--sender <login>', 'set sender.login')
    .option('--set <path=value>', 'set a payload field by dot path; value parsed as JSON when it parses, else a string (repeatable)', collect, [])
    .option('--form', 'send application/x-www-form-urlencoded (payload=<json>), like a hook with content type "form"')
    .option('--timeout <ms>', 'how long to wait for the answer (GitHub waits 10 s)', parsePositiveInt, 10_000)
    .option('--json', 'print one JSON object {status, delivery_id, event, action, body}')
    .option('--list', 'list the events and actions that have example payloads')
    .addHelpText('after', EXAMPLES)
    .action(async (opts: SendTestOptions) => {
      process.exitCode = await runSendTest(opts);
    });
}

/** Prints the events and actions that have examples (`--list`), optionally only `event`'s. */
function printList(opts: SendTestOptions): void {
  let events = listExampleEvents();
  if (opts.event !== undefined) {
    events = events.filter((e) => e.event === opts.event);
    if (events.length === 0) throw unknownEvent(opts.event);
  }
  if (opts.json) {
    printJson(events.map((e) => ({ event: e.event, actions: e.actions })));
    return;
  }
  const width = Math.max(...events.map((e) => e.event.length));
  for (const e of events) {
    process.stdout.write(`${e.event.padEnd(width)}  ${e.actions.length > 0 ? e.actions.join(', ') : '(no action)'}\n`);
  }
}

/** Reads the payload: the file's exact bytes, or the example with the edits applied. */
function buildPayload(opts: SendTestOptions, event: string, maxBytes: number): { json: Buffer; payload: JsonObject | null } {
  if (opts.payload !== undefined) {
    const edits = [opts.repo !== undefined && '--repo', opts.sender !== undefined && '--sender', opts.set.length > 0 && '--set'].filter(Boolean);
    if (edits.length > 0) throw usageError(`${edits.join(', ')} cannot be combined with --payload: the file's bytes are sent as they are`);
    let bytes: Buffer;
    try {
      // A regular file of at most GitHub's 25 MB cap (never /dev/zero or a FIFO read forever).
      const st = statSync(opts.payload);
      if (!st.isFile()) throw usageError(`--payload ${opts.payload} is not a regular file`);
      if (st.size > maxBytes) throw usageError(`--payload ${opts.payload} is ${st.size} bytes; the limit is ${maxBytes} (GITBRIDGE_MAX_PAYLOAD_BYTES; GitHub caps payloads at 25 MB)`);
      bytes = readFileSync(opts.payload);
    } catch (err) {
      if (isGitBridgeError(err)) throw err;
      throw new GitBridgeError('GB_CLI_INPUT_UNREADABLE', { message: `cannot read --payload ${opts.payload}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, cause: err });
    }
    const parsed = parseJsonOrText(bytes.toString('utf8'));
    const payload = isObject(parsed) ? (parsed as JsonObject) : null;
    if (payload === null) process.stderr.write(`gitbridge: warning: ${opts.payload} is not a JSON object; sending it as it is\n`);
    if (opts.action !== undefined && payload?.action !== opts.action) {
      throw usageError(`--action ${opts.action} does not match the file's action (${typeof payload?.action === 'string' ? payload.action : 'none'})`);
    }
    return { json: bytes, payload };
  }
  const payload = findExample(event, opts.action);
  if (opts.repo !== undefined) setRepository(payload, opts.repo);
  if (opts.sender !== undefined) setSender(payload, opts.sender);
  for (const arg of opts.set) {
    const { path, value } = parseAssignment(arg);
    setPath(payload, path, value);
  }
  return { json: Buffer.from(JSON.stringify(payload), 'utf8'), payload };
}

/**
 * Builds a delivery as GitHub sends it: the body (JSON, or the form
 * `payload=<urlencoded json>` with `form`) and the headers `X-GitHub-Event`,
 * `X-GitHub-Delivery`, `X-Hub-Signature-256` (HMAC-SHA256 of the exact body
 * bytes), `X-GitHub-Hook-ID`, `X-GitHub-Hook-Installation-Target-Type` and
 * `-ID`, `User-Agent: GitHub-Hookshot/<hex>` and `Content-Type`.
 */
export function buildDelivery(
  args: { event: string; deliveryId: string; json: Buffer; payload: JsonObject | null; form: boolean },
  sign: (secret: string, body: Uint8Array) => string,
  secret: string,
): BuiltDelivery {
  const body = args.form ? Buffer.from(new URLSearchParams({ payload: args.json.toString('utf8') }).toString(), 'utf8') : args.json;
  const p = args.payload;
  const repository = isObject(p?.repository) ? (p.repository as JsonObject) : null;
  const organization = isObject(p?.organization) ? (p.organization as JsonObject) : null;
  // ping carries the hook's own id; otherwise a realistic 9-digit hook id.
  const hookId = typeof p?.hook_id === 'number' ? String(p.hook_id) : String(randomInt(100_000_000, 999_999_999));
  const headers: Record<string, string> = {
    'user-agent': `GitHub-Hookshot/${randomBytes(4).toString('hex').slice(0, 7)}`,
    'content-type': args.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-github-event': args.event,
    'x-github-delivery': args.deliveryId,
    'x-github-hook-id': hookId,
    'x-hub-signature-256': sign(secret, body),
  };
  if (typeof repository?.id === 'number') {
    headers['x-github-hook-installation-target-type'] = 'repository';
    headers['x-github-hook-installation-target-id'] = String(repository.id);
  } else if (typeof organization?.id === 'number') {
    headers['x-github-hook-installation-target-type'] = 'organization';
    headers['x-github-hook-installation-target-id'] = String(organization.id);
  } else {
    headers['x-github-hook-installation-target-type'] = 'repository';
  }
  return { deliveryId: args.deliveryId, event: args.event, action: typeof p?.action === 'string' ? p.action : null, headers, body };
}

/**
 * Runs `send-test`. @returns the exit code: 0 on a 2xx answer, 1 otherwise
 * @throws GitBridgeError `GB_CLI_USAGE` (exit 2) for usage errors, `GB_DAEMON_UNREACHABLE` (exit 3) when the daemon cannot be reached
 */
export async function runSendTest(opts: SendTestOptions): Promise<number> {
  if (opts.list) {
    printList(opts);
    return EXIT.ok;
  }
  const event = opts.event?.trim();
  if (!event) throw usageError('--event is required', 'run `gitbridge send-test --list` for the events that have example payloads');
  const config = await cliConfig();
  const url = opts.url ?? `${defaultDaemonUrl(config)}/webhook`;
  checkHttpUrl(url, '--url');
  const secret = resolveSecret(opts.secret, config);
  if (opts.deliveryId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(opts.deliveryId)) {
    throw usageError('--delivery-id must be 1-128 letters, digits, ".", "_", ":" or "-" (GitHub sends a GUID)');
  }
  const { json, payload } = buildPayload(opts, event, config.maxPayloadBytes);

  const { sign } = await import('@gitbridge/core/signature');
  const delivery = buildDelivery({ event, deliveryId: opts.deliveryId ?? randomUUID(), json, payload, form: opts.form ?? false }, sign, secret);

  const { status, text } = await postOrFail(url, delivery.headers, delivery.body, opts.timeout);

  const body = text === '' ? null : parseJsonOrText(text);
  if (opts.json) {
    const result: SendTestResult = { status, delivery_id: delivery.deliveryId, event, action: delivery.action, body };
    printJson(result);
  } else {
    const what = delivery.action ? `${event}.${delivery.action}` : event;
    process.stdout.write(
      `${status} ${STATUS_CODES[status] ?? ''}  POST ${url}\n` +
        `delivery  ${delivery.deliveryId}\n` +
        `event     ${what}  (${opts.form ? 'form' : 'json'}, ${formatBytes(delivery.body.length)})\n` +
        (body === null ? '' : `${typeof body === 'string' ? sanitize(body) : JSON.stringify(body, null, 2)}\n`),
    );
  }
  return status >= 200 && status < 300 ? EXIT.ok : EXIT.failed;
}
