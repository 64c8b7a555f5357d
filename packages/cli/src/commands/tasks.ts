import { Command, Option } from 'commander';
import type { DeliveryMeta, TaskHistoryRow, TaskRow, TaskStatus } from '@gitbridge/core';
import { resolveDataDir } from '../env.js';
import { CliError, EXIT } from '../exit.js';
import { formatFields, formatTable, parseJsonOrText, printJson, shortTime } from '../format.js';
import { parsePositiveInt, parseSince, TASK_STATUS_CHOICES, dataDirOption } from '../options.js';
import { withStore } from '../store-access.js';

/** A task as `tasks ls --json` prints it. */
export interface TaskJson {
  /** The MAS's task id; null until the MAS accepted the task. */
  readonly task_id: string | null;
  /** GitBridge's own id (`gbt_…`). */
  readonly id: string;
  readonly status: TaskStatus;
  readonly task_type: string;
  readonly priority: string;
  /** The delivery id (`X-GitHub-Delivery`) the task came from. */
  readonly github_event_id: string;
  readonly repo: string | null;
  /** The routing rule that made the task. */
  readonly rule: string;
  readonly created_at: string;
  readonly updated_at: string;
  /** Submission attempts so far. */
  readonly attempts: number;
  readonly last_error: string | null;
}

/** Maps a stored task row to its JSON form. */
export function taskJson(t: TaskRow): TaskJson {
  return {
    task_id: t.task_id,
    id: t.id,
    status: t.status,
    task_type: t.task_type,
    priority: t.priority,
    github_event_id: t.delivery_id,
    repo: t.repo,
    rule: t.rule,
    created_at: t.created_at,
    updated_at: t.updated_at,
    attempts: t.attempts,
    last_error: t.last_error,
  };
}

/** Renders tasks as the aligned table of `tasks ls` (and `deliveries show`). */
export function taskTable(tasks: readonly TaskRow[]): string {
  return formatTable(tasks, [
    { header: 'ID', value: (t) => t.id },
    { header: 'STATUS', value: (t) => t.status },
    { header: 'TYPE', value: (t) => t.task_type },
    { header: 'PRIORITY', value: (t) => t.priority },
    { header: 'REPO', value: (t) => t.repo },
    { header: 'ATTEMPTS', value: (t) => t.attempts, right: true },
    { header: 'CREATED', value: (t) => shortTime(t.created_at) },
    { header: 'MAS TASK', value: (t) => t.task_id, max: 36 },
    { header: 'LAST ERROR', value: (t) => t.last_error, max: 50 },
  ]);
}


interface LsOptions {
  readonly json?: boolean;
  readonly status?: TaskStatus;
  readonly repo?: string;
  readonly type?: string;
  readonly since?: string;
  readonly limit: number;
  readonly dataDir?: string;
}

interface ShowOptions {
  readonly json?: boolean;
  readonly dataDir?: string;
}

/** The `tasks` command: `ls`, `show`, `retry`. */
export function tasksCommand(): Command {
  const tasks = new Command('tasks')
    .description('List, inspect and retry the MAS tasks GitBridge created')
    .addHelpText('after', `
Examples:
  $ gitbridge tasks ls --status dead
  $ gitbridge tasks show gbt_0b6c…
  $ gitbridge tasks retry gbt_0b6c…`);

  tasks
    .command('ls')
    .description('List tasks, newest first')
    .option('--json', 'print a JSON array')
    .addOption(new Option('--status <status>', 'only tasks in this state').choices(TASK_STATUS_CHOICES))
    .option('--repo <owner/name>', 'only tasks of this repository')
    .option('--type <task type>', 'only tasks of this type, e.g. review_pull_request')
    .option('--since <time>', 'only tasks created at or after this ISO-8601 time, or within this age (30m, 2h, 7d)', (v: string) => parseSince(v))
    .option('--limit <n>', 'at most this many tasks', parsePositiveInt, 100)
    .addOption(dataDirOption())
    .addHelpText('after', `
Examples:
  $ gitbridge tasks ls
  $ gitbridge tasks ls --status failed --since 24h
  $ gitbridge tasks ls --repo octocat/Hello-World --type review_pull_request --json
  $ gitbridge tasks ls --data-dir /var/lib/gitbridge --limit 20`)
    .action(async (opts: LsOptions) => {
      const filter = {
        limit: opts.limit,
        ...(opts.status !== undefined && { status: opts.status }),
        ...(opts.repo !== undefined && { repo: opts.repo }),
        ...(opts.type !== undefined && { type: opts.type }),
        ...(opts.since !== undefined && { since: opts.since }),
      };
      const rows = await withStore(resolveDataDir(opts.dataDir), {}, (store) => store.listTasks(filter));
      if (opts.json) printJson(rows.map(taskJson));
      else process.stdout.write(rows.length === 0 ? 'No tasks.\n' : taskTable(rows));
    });

  tasks
    .command('show')
    .description('Show one task with its delivery and its full history')
    .argument('<id>', "GitBridge's task id (gbt_…) or the MAS's task id")
    .option('--json', 'print a JSON object {task, delivery, history}')
    .addOption(dataDirOption())
    .addHelpText('after', `
Examples:
  $ gitbridge tasks show gbt_5d1c2a8e-3f0b-4a55-9d59-0e3c1a0b7f21
  $ gitbridge tasks show mas_task_8842 --json`)
    .action(async (ref: string, opts: ShowOptions) => {
      const found = await withStore(resolveDataDir(opts.dataDir), {}, (store) => {
        const task = store.getTask(ref);
        if (!task) return undefined;
        return { task, delivery: store.getDeliveryMeta(task.delivery_id), history: store.taskHistory(task.id) };
      });
      if (!found) throw new CliError(`no task ${ref}`, EXIT.failed, 'give the GitBridge id (gbt_…) or the MAS task id; see `gitbridge tasks ls`');
      printTask(found.task, found.delivery, found.history, opts.json ?? false);
    });

  tasks
    .command('retry')
    .description('Put a failed or dead task back in the queue for a fresh round of attempts')
    .argument('<id>', "GitBridge's task id (gbt_…) or the MAS's task id")
    .option('--json', 'print a JSON object {id, status}')
    .addOption(dataDirOption())
    .addHelpText('after', `
The task goes back to "queued" with its attempts reset; a running gitbridged
submits it again to the MAS within a second. This writes to the store.

Examples:
  $ gitbridge tasks retry gbt_5d1c2a8e-3f0b-4a55-9d59-0e3c1a0b7f21
  $ gitbridge tasks ls --status dead --json | jq -r '.[].id' | xargs -n1 gitbridge tasks retry`)
    .action(async (ref: string, opts: ShowOptions) => {
      const outcome = await withStore(resolveDataDir(opts.dataDir), { writable: true }, (store) => {
        const task = store.getTask(ref);
        if (!task) return { kind: 'unknown' as const };
        if (!store.retryTask(task.id)) return { kind: 'refused' as const, task: store.getTask(task.id) ?? task };
        return { kind: 'retried' as const, task: store.getTask(task.id) ?? task };
      });
      if (outcome.kind === 'unknown') throw new CliError(`no task ${ref}`, EXIT.failed, 'see `gitbridge tasks ls`');
      if (outcome.kind === 'refused') {
        throw new CliError(`task ${outcome.task.id} is ${outcome.task.status}: only failed or dead tasks can be retried`, EXIT.failed);
      }
      if (opts.json) printJson({ id: outcome.task.id, status: outcome.task.status });
      else process.stdout.write(`task ${outcome.task.id} queued again (attempts reset)\n`);
    });

  return tasks;
}

/** Prints `tasks show`: the task, a summary of its delivery, and its history. */
function printTask(task: TaskRow, delivery: DeliveryMeta | undefined, history: readonly TaskHistoryRow[], json: boolean): void {
  const deliverySummary = delivery
    ? {
        delivery_id: delivery.delivery_id,
        event: delivery.event,
        action: delivery.action,
        repo: delivery.repo,
        received_at: delivery.received_at,
        state: delivery.state,
        outcome: delivery.outcome,
      }
    : null;
  if (json) {
    printJson({
      task: {
        ...taskJson(task),
        next_attempt_at: task.status === 'queued' ? new Date(task.next_attempt_at).toISOString() : null,
        payload: parseJsonOrText(task.payload),
        result: parseJsonOrText(task.result),
      },
      delivery: deliverySummary,
      history: history.map((h) => ({ at: h.at, from: h.from_status, to: h.to_status, source: h.source, detail: h.detail })),
    });
    return;
  }
  const out: string[] = [];
  out.push(
    formatFields([
      ['id', task.id],
      ['task_id', task.task_id],
      ['status', task.status],
      ['type', task.task_type],
      ['priority', task.priority],
      ['rule', task.rule],
      ['repo', task.repo],
      ['attempts', task.attempts],
      ['next attempt', task.status === 'queued' ? new Date(task.next_attempt_at).toISOString() : null],
      ['created', task.created_at],
      ['updated', task.updated_at],
      ['last error', task.last_error],
    ]),
  );
  out.push('\nDelivery\n');
  out.push(
    deliverySummary
      ? formatFields([
          ['delivery', deliverySummary.delivery_id],
          ['event', deliverySummary.action ? `${deliverySummary.event}.${deliverySummary.action}` : deliverySummary.event],
          ['repo', deliverySummary.repo],
          ['received', deliverySummary.received_at],
          ['state', deliverySummary.outcome ? `${deliverySummary.state} (${deliverySummary.outcome})` : deliverySummary.state],
        ])
      : `  ${task.delivery_id} (no longer stored)\n`,
  );
  out.push('\nPayload sent to the MAS\n');
  out.push(`${JSON.stringify(parseJsonOrText(task.payload), null, 2)}\n`);
  if (task.result !== null) out.push(`\nResult\n${JSON.stringify(parseJsonOrText(task.result), null, 2)}\n`);
  out.push('\nHistory\n');
  out.push(
    history.length === 0
      ? '  (none)\n'
      : formatTable(history, [
          { header: 'AT', value: (h) => h.at },
          { header: 'FROM', value: (h) => h.from_status },
          { header: 'TO', value: (h) => h.to_status },
          { header: 'BY', value: (h) => h.source },
          { header: 'DETAIL', value: (h) => h.detail },
        ]),
  );
  process.stdout.write(out.join(''));
}
