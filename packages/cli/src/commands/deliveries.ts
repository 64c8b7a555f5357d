import { Command, Option } from 'commander';
import { GitBridgeError } from '@gitbridge/core/errors';
import type { Delivery, RedeliveryRequest } from '@gitbridge/core/store';
import { storeConfig } from '../config.js';
import { formatBytes, formatFields, formatTable, printJson, sanitize, shortTime } from '../format.js';
import { databaseUrlOption, dataDirOption, DELIVERY_STATE_CHOICES, filterOf, lsCommand, wideOption, type ListFilterOptions } from '../options.js';
import { withStore } from '../store-access.js';
import { taskJson, taskTable } from './tasks.js';

/** A delivery as `deliveries ls --json` prints it (no headers, no body). */
export interface DeliveryJson {
  readonly delivery_id: string;
  readonly event: string;
  readonly action: string | null;
  readonly repo: string | null;
  readonly hook_id: string | null;
  readonly received_at: string;
  readonly content_type: string;
  /** Body size in bytes. */
  readonly size: number;
  /** Queue state: queued, processed, ignored, dead. */
  readonly state: Delivery['state'];
  /** `tasks`, `ignored`, `ping`, `dead`… */
  readonly outcome: string | null;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly processed_at: string | null;
  /** The delivery this one replays, if any. */
  readonly replay_of: string | null;
  /** Whether processing it sends chat notifications (false for a replay without --notify). */
  readonly notify: boolean;
  /** Why no rule made a task, when it was ignored (`no rule for push`, `rule X: condition … failed (got …)`). */
  readonly ignored_reason: string | null;
}

/** Maps a stored delivery to its JSON form. */
export function deliveryJson(d: Delivery): DeliveryJson {
  return {
    delivery_id: d.deliveryId,
    event: d.event,
    action: d.action,
    repo: d.repo,
    hook_id: d.hookId,
    received_at: d.receivedAt,
    content_type: d.contentType,
    size: d.size,
    state: d.state,
    outcome: d.outcome,
    attempts: d.attempts,
    last_error: d.lastError,
    processed_at: d.processedAt,
    replay_of: d.replayOf,
    notify: d.notify,
    ignored_reason: d.ignoredReason,
  };
}

/** The recovery record of a recovered delivery, as `deliveries show --json` prints it. */
export function recoveryJson(r: RedeliveryRequest): Record<string, unknown> {
  return {
    hook: r.hook,
    reason: r.reason,
    requests: r.requests,
    first_requested_at: r.firstRequestedAt,
    last_requested_at: r.lastRequestedAt,
    github_delivery_id: r.githubDeliveryId,
    outcome: r.outcome,
  };
}

/** How a recovered delivery arrived, for people. */
function recoveredText(r: RedeliveryRequest): string {
  const why = r.reason === 'answered_elsewhere' ? 'something else had answered for the hook' : 'GitHub could not deliver it';
  return `recovered: ${why}; redelivery requested through ${r.hook} ${r.requests} time(s), first at ${r.firstRequestedAt}`;
}

// Never print signatures (nor credentials, should a proxy have added them).
const SECRET_HEADER = /signature|authorization|cookie|token/i;

/** The stored request headers of a delivery, without any signature or credential header. */
export function safeHeaders(stored: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(stored).filter(([k]) => !SECRET_HEADER.test(k)).map(([k, v]) => [k, String(v)]));
}


/** The `deliveries` command: `ls`, `show`. */
export function deliveriesCommand(): Command {
  const deliveries = new Command('deliveries')
    .description('Inspect the webhook deliveries gitbridged stored')
    .addHelpText('after', `
Examples:
  $ gitbridge deliveries ls --limit 20
  $ gitbridge deliveries show 72d3162e-cc78-11e3-81ab-4c9367dc0958
  $ gitbridge deliveries show 72d3162e

Delivery ids: in full, or a unique prefix of at least 4 characters (the 8
that tables and the log view show); a replay as <id or prefix>:replay:<n>.
An ambiguous prefix names the ids it matches.`);

  lsCommand(deliveries, { noun: 'deliveries', when: 'received', description: 'List deliveries, newest first' }, (ls) => ls
    .addOption(new Option('--state <state>', 'only deliveries in this state').choices(DELIVERY_STATE_CHOICES))
    .option('--event <event>', 'only deliveries of this X-GitHub-Event, e.g. pull_request'))
    .addHelpText('after', `
Examples:
  $ gitbridge deliveries ls
  $ gitbridge deliveries ls --wide
  $ gitbridge deliveries ls --state ignored --since 24h
  $ gitbridge deliveries ls --repo octocat/Hello-World --event pull_request --limit 20
  $ gitbridge deliveries ls --json --limit 500 | jq '.[] | select(.state == "dead")'`)
    .action(async (opts: ListFilterOptions & { json?: boolean; wide?: boolean; state?: Delivery['state']; event?: string; dataDir?: string }) => {
      const rows = await withStore(await storeConfig(opts), {}, (store) => store.listDeliveries(filterOf(opts, ['state', 'event', 'repo', 'since'])));
      if (opts.json) {
        printJson(rows.map(deliveryJson));
        return;
      }
      process.stdout.write(
        rows.length === 0
          ? 'No deliveries.\n'
          : formatTable(rows, [
              { header: 'DELIVERY', value: (d) => d.deliveryId, id: true },
              { header: 'EVENT', value: (d) => (d.action ? `${d.event}.${d.action}` : d.event), flex: true },
              { header: 'REPO', value: (d) => d.repo, flex: true },
              { header: 'RECEIVED', value: (d) => shortTime(d.receivedAt) },
              { header: 'STATE', value: (d) => d.state },
              { header: 'OUTCOME', value: (d) => d.outcome, wideOnly: true },
              { header: 'SIZE', value: (d) => formatBytes(d.size), right: true },
              { header: 'LAST ERROR', value: (d) => d.lastError, max: 50, flex: true },
            ], opts),
      );
    });

  deliveries
    .command('show')
    .description('Show one delivery: event, state, stored headers (never signatures) and the tasks it produced')
    .argument('<delivery id>', 'the X-GitHub-Delivery GUID, or a unique prefix of it')
    .option('--json', 'print a JSON object')
    .addOption(wideOption())
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
Examples:
  $ gitbridge deliveries show 72d3162e-cc78-11e3-81ab-4c9367dc0958
  $ gitbridge deliveries show 72d3162e
  $ gitbridge deliveries show 72d3162e --json | jq .tasks`)
    .action(async (ref: string, opts: { json?: boolean; wide?: boolean; dataDir?: string }) => {
      const { delivery: d, tasks, notifications, recovery } = await withStore(await storeConfig(opts), {}, async (store) => {
        const { resolveDeliveryId } = await import('@gitbridge/core/store');
        const id = await resolveDeliveryId(store, ref);
        const [request] = await store.redeliveryRequests([id]);
        return { delivery: (await store.getDelivery(id))!, tasks: await store.tasksForDelivery(id), notifications: await store.notificationsForDelivery(id), recovery: request };
      });
      const headers = safeHeaders(d.headers);
      if (opts.json) {
        printJson({
          ...deliveryJson(d),
          repo_id: d.repoId,
          installation_id: d.installationId,
          source_ip: d.sourceIp,
          headers,
          recovered: recovery !== undefined,
          recovery: recovery ? recoveryJson(recovery) : null,
          tasks: tasks.map(taskJson),
          notifications: notifications.map((n) => ({ channel: n.channel, text: n.text, url: n.url, status: n.status, attempts: n.attempts })),
        });
        return;
      }
      const out: string[] = [
        formatFields([
          ['delivery', d.deliveryId],
          ['event', d.event],
          ['action', d.action],
          ['repo', d.repo],
          ['hook id', d.hookId],
          ['received', d.receivedAt],
          ['source', d.sourceIp],
          ['content type', d.contentType],
          ['size', `${formatBytes(d.size)} (${d.size} bytes)`],
          ['state', d.state],
          ['outcome', d.outcome],
          ...(d.ignoredReason !== null ? [['ignored because', d.ignoredReason] as const] : []),
          ['attempts', d.attempts],
          ['processed', d.processedAt],
          ['last error', d.lastError],
          ['replay of', d.replayOf],
          ['arrived', recovery ? recoveredText(recovery) : 'first time (no redelivery requested)'],
          ['notify', d.notify ? 'yes' : 'no (a replay without --notify: tasks only)'],
        ]),
        '\nHeaders (signatures are never shown)\n',
        Object.keys(headers).length === 0 ? '  (none stored)\n' : Object.entries(headers).map(([k, v]) => `  ${sanitize(k)}: ${sanitize(v)}\n`).join(''),
        `\nTasks (${tasks.length})\n`,
        tasks.length === 0 ? '  (none)\n' : taskTable(tasks, opts),
      ];
      if (notifications.length > 0) {
        out.push(`\nNotifications (${notifications.length})\n`);
        out.push(formatTable(notifications, [
          { header: 'CHANNEL', value: (n) => n.channel },
          { header: 'STATUS', value: (n) => n.status },
          { header: 'ATTEMPTS', value: (n) => n.attempts, right: true },
          { header: 'TEXT', value: (n) => n.text, max: 60, flex: true },
        ], opts));
      }
      process.stdout.write(out.join(''));
    });

  deliveries
    .command('retry')
    .description('Put a dead delivery (processing failed too often) back in the queue')
    .argument('<delivery id>', 'the X-GitHub-Delivery GUID, or a unique prefix of it')
    .option('--json', 'print a JSON object {delivery_id, state}')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
A delivery is dead when turning it into tasks failed GITBRIDGE_PROCESS_MAX_ATTEMPTS
times (see its last_error in "deliveries show"). This puts it back to "queued"
with its attempts reset; a running gitbridged processes it again. To re-run a
delivery that was processed normally, use "gitbridge replay". This writes to the store.

Examples:
  $ gitbridge deliveries retry 72d3162e-cc78-11e3-81ab-4c9367dc0958`)
    .action(async (ref: string, opts: { json?: boolean; dataDir?: string }) => {
      const outcome = await withStore(await storeConfig(opts), { writable: true }, async (store) => {
        const { resolveDeliveryId } = await import('@gitbridge/core/store');
        const id = await resolveDeliveryId(store, ref);
        const row = (await store.getDelivery(id))!;
        if (!(await store.requeueDelivery(id))) return { kind: 'refused' as const, id, state: row.state };
        return { kind: 'retried' as const, id };
      });
      const { id } = outcome;
      if (outcome.kind === 'refused') {
        throw new GitBridgeError('GB_DELIVERY_NOT_RETRIABLE', { message: `delivery ${id} is ${outcome.state}: only dead deliveries can be retried`, hint: 'to run it again anyway, use `gitbridge replay`' });
      }
      if (opts.json) printJson({ delivery_id: id, state: 'queued' });
      else process.stdout.write(`delivery ${id} queued again (attempts reset)\n`);
    });

  return deliveries;
}
