import { Command, Option } from 'commander';
import { GitBridgeError } from '@gitbridge/core/errors';
import type { Delivery, Task, TaskStatus, TaskTransition } from '@gitbridge/core/store';
import { storeConfig } from '../config.js';
import { formatFields, formatTable, printJson, shortTime, type TableOptions } from '../format.js';
import { databaseUrlOption, filterOf, lsCommand, TASK_STATUS_CHOICES, dataDirOption, wideOption, type ListFilterOptions } from '../options.js';
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

/** Maps a task to its JSON form. */
export function taskJson(t: Task): TaskJson {
  return {
    task_id: t.taskId,
    id: t.id,
    status: t.status,
    task_type: t.taskType,
    priority: t.priority,
    github_event_id: t.deliveryId,
    repo: t.repo,
    rule: t.rule,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    attempts: t.attempts,
    last_error: t.lastError,
  };
}

/** Renders tasks as the aligned table of `tasks ls` (and `deliveries show`); `--wide` adds priority and attempts. */
export function taskTable(tasks: readonly Task[], options: TableOptions = {}): string {
  return formatTable(tasks, [
    { header: 'ID', value: (t) => t.id, id: true },
    { header: 'STATUS', value: (t) => t.status },
    { header: 'TYPE', value: (t) => t.taskType, flex: true },
    { header: 'PRIORITY', value: (t) => t.priority, wideOnly: true },
    { header: 'REPO', value: (t) => t.repo, flex: true },
    { header: 'ATTEMPTS', value: (t) => t.attempts, right: true, wideOnly: true },
    { header: 'CREATED', value: (t) => shortTime(t.createdAt) },
    { header: 'MAS TASK', value: (t) => t.taskId, max: 36, flex: 'last' },
    { header: 'LAST ERROR', value: (t) => t.lastError, max: 50, flex: true },
  ], options);
}


interface LsOptions extends ListFilterOptions {
  readonly json?: boolean;
  readonly wide?: boolean;
  readonly status?: TaskStatus;
  readonly type?: string;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
}

interface ShowOptions {
  readonly json?: boolean;
  readonly wide?: boolean;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
}

/** The `tasks` command: `ls`, `show`, `retry`. */
export function tasksCommand(): Command {
  const tasks = new Command('tasks')
    .description('List, inspect and retry the MAS tasks GitBridge created')
    .addHelpText('after', `
Examples:
  $ gitbridge tasks ls --status dead
  $ gitbridge tasks show gbt_0b6c4a10
  $ gitbridge tasks retry gbt_0b6c4a10

Task ids: GitBridge's (gbt_…) or the MAS's, in full or as a unique prefix of
at least 4 characters (tables show gbt_ and 8 more); an ambiguous prefix
names the ids it matches.`);

  lsCommand(tasks, { noun: 'tasks', when: 'created', description: 'List tasks, newest first' }, (ls) => ls
    .addOption(new Option('--status <status>', 'only tasks in this state').choices(TASK_STATUS_CHOICES))
    .option('--type <task type>', 'only tasks of this type, e.g. review_pull_request'))
    .addHelpText('after', `
Examples:
  $ gitbridge tasks ls
  $ gitbridge tasks ls --wide
  $ gitbridge tasks ls --status failed --since 24h
  $ gitbridge tasks ls --repo octocat/Hello-World --type review_pull_request --json
  $ gitbridge tasks ls --data-dir /var/lib/gitbridge --limit 20`)
    .action(async (opts: LsOptions) => {
      const filter = filterOf(opts, ['status', 'repo', 'type', 'since']);
      const rows = await withStore(await storeConfig(opts), {}, (store) => store.listTasks(filter));
      if (opts.json) printJson(rows.map(taskJson));
      else process.stdout.write(rows.length === 0 ? 'No tasks.\n' : taskTable(rows, opts));
    });

  tasks
    .command('show')
    .description('Show one task with its delivery and its full history')
    .argument('<id>', "GitBridge's task id (gbt_…) or the MAS's task id, or a unique prefix of either")
    .option('--json', 'print a JSON object {task, delivery, history}')
    .addOption(wideOption())
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
Examples:
  $ gitbridge tasks show gbt_5d1c2a8e-3f0b-4a55-9d59-0e3c1a0b7f21
  $ gitbridge tasks show gbt_5d1c2a8e
  $ gitbridge tasks show mas_task_8842 --json`)
    .action(async (ref: string, opts: ShowOptions) => {
      const found = await withStore(await storeConfig(opts), {}, async (store) => {
        const { resolveTaskId } = await import('@gitbridge/core/store');
        const task = (await store.getTask(await resolveTaskId(store, ref)))!;
        return { task, delivery: await store.getDelivery(task.deliveryId), history: await store.taskHistory(task.id) };
      });
      printTask(found.task, found.delivery, found.history, opts);
    });

  tasks
    .command('retry')
    .description('Put a failed or dead task back in the queue for a fresh round of attempts')
    .argument('<id>', "GitBridge's task id (gbt_…) or the MAS's task id, or a unique prefix of either")
    .option('--json', 'print a JSON object {id, status}')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
The task goes back to "queued" with its attempts reset; a running gitbridged
submits it again to the MAS within a second. This writes to the store.

Examples:
  $ gitbridge tasks retry gbt_5d1c2a8e-3f0b-4a55-9d59-0e3c1a0b7f21
  $ gitbridge tasks retry gbt_5d1c2a8e
  $ gitbridge tasks ls --status dead --json | jq -r '.[].id' | xargs -n1 gitbridge tasks retry`)
    .action(async (ref: string, opts: ShowOptions) => {
      const outcome = await withStore(await storeConfig(opts), { writable: true }, async (store) => {
        const { resolveTaskId } = await import('@gitbridge/core/store');
        return store.retryTask(await resolveTaskId(store, ref));
      });
      // A task that vanished between the lookup and the retry (retention).
      if (outcome.outcome === 'unknown') throw new GitBridgeError('GB_TASK_NOT_FOUND', { message: `no task ${ref}`, hint: 'see `gitbridge tasks ls`' });
      if (outcome.outcome === 'refused') {
        throw new GitBridgeError('GB_TASK_NOT_RETRIABLE', { message: `task ${outcome.task.id} is ${outcome.task.status}: only failed or dead tasks can be retried` });
      }
      if (opts.json) printJson({ id: outcome.task.id, status: outcome.task.status });
      else process.stdout.write(`task ${outcome.task.id} queued again (attempts reset)\n`);
    });

  return tasks;
}

/** Prints `tasks show`: the task, a summary of its delivery, and its history. */
function printTask(task: Task, delivery: Delivery | undefined, history: readonly TaskTransition[], opts: ShowOptions): void {
  const deliverySummary = delivery
    ? {
        delivery_id: delivery.deliveryId,
        event: delivery.event,
        action: delivery.action,
        repo: delivery.repo,
        received_at: delivery.receivedAt,
        state: delivery.state,
        outcome: delivery.outcome,
      }
    : null;
  if (opts.json) {
    printJson({
      task: {
        ...taskJson(task),
        next_attempt_at: task.nextAttemptAt,
        payload: task.payload,
        result: task.result,
      },
      delivery: deliverySummary,
      history: history.map((h) => ({ at: h.at, from: h.from, to: h.to, source: h.source, detail: h.detail })),
    });
    return;
  }
  const out: string[] = [];
  out.push(
    formatFields([
      ['id', task.id],
      ['task_id', task.taskId],
      ['status', task.status],
      ['type', task.taskType],
      ['priority', task.priority],
      ['rule', task.rule],
      ['repo', task.repo],
      ['attempts', task.attempts],
      ['next attempt', task.nextAttemptAt],
      ['created', task.createdAt],
      ['updated', task.updatedAt],
      ['last error', task.lastError],
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
      : `  ${task.deliveryId} (no longer stored)\n`,
  );
  out.push('\nPayload sent to the MAS\n');
  out.push(`${JSON.stringify(task.payload, null, 2)}\n`);
  if (task.result !== null) out.push(`\nResult\n${JSON.stringify(task.result, null, 2)}\n`);
  out.push('\nHistory\n');
  out.push(
    history.length === 0
      ? '  (none)\n'
      : formatTable(history, [
          { header: 'AT', value: (h) => h.at },
          { header: 'FROM', value: (h) => h.from },
          { header: 'TO', value: (h) => h.to },
          { header: 'BY', value: (h) => h.source },
          { header: 'DETAIL', value: (h) => h.detail, flex: true },
        ], opts),
  );
  process.stdout.write(out.join(''));
}
