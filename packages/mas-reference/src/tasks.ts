/**
 * The task registry: tasks by id and by idempotency key, and their state
 * machine (`pending` → `running` → `completed`, on timers).
 */
import { randomUUID } from 'node:crypto';
import { nowIso } from './timers.js';
import type { RunState, Timers } from './timers.js';
import type { CallbackStatus, ReferenceMasTask, SubmissionOrdering, TaskStatus } from './types.js';

/** A task as held by the registry (mutable: status, `updated_at` and `result` change). */
export interface TaskRecord {
  task_id: string;
  task_type: string;
  payload: Record<string, unknown>;
  callback_url: string;
  idempotency_key: string;
  delivery_id: string | null;
  ordering: SubmissionOrdering | null;
  created_at: string;
  updated_at: string;
  status: TaskStatus;
  result?: Record<string, unknown>;
}

/** What a new task is made of: the validated fields of its `POST /tasks`. */
export type NewTask = Pick<TaskRecord, 'task_type' | 'payload' | 'callback_url' | 'idempotency_key' | 'delivery_id' | 'ordering'>;

/** One status change of a task, exactly as its callback body carries it. */
export interface StatusChange {
  readonly task_id: string;
  readonly status: CallbackStatus;
  /** ISO-8601, the task's new `updated_at`. */
  readonly updated_at: string;
  /** Present on `completed` only. */
  readonly result?: Record<string, unknown>;
}

/** How tasks move on: delays in ms, and who hears of each change. */
export interface TaskLifecycle {
  /** From creation to `running`, in ms. */
  readonly callbackDelayMs: number;
  /** From `running` to `completed`, in ms. */
  readonly completeAfterMs: number;
  /** Schedules the changes; cancelling them stops every lifecycle. */
  readonly timers: Timers;
  /** No change is made once the server is closed. */
  readonly run: RunState;
  /** Called synchronously after each change is applied to the task. */
  readonly onChange: (task: TaskRecord, change: StatusChange) => void;
}

/** A frozen copy of a task, as the public API and `GET /tasks` show it. */
export function snapshotTask(t: TaskRecord): ReferenceMasTask {
  const snap: ReferenceMasTask = {
    task_id: t.task_id,
    task_type: t.task_type,
    payload: t.payload,
    callback_url: t.callback_url,
    idempotency_key: t.idempotency_key,
    delivery_id: t.delivery_id,
    ordering: t.ordering,
    created_at: t.created_at,
    updated_at: t.updated_at,
    status: t.status,
    ...(t.result !== undefined ? { result: t.result } : {}),
  };
  return Object.freeze(snap);
}

/**
 * Every task of one server, in creation order, findable by id and by
 * idempotency key. Each created task goes `running` `callbackDelayMs` after
 * creation and `completed` (result `{summary: "reference MAS handled <task_type>"}`)
 * `completeAfterMs` later, whatever happens to its callbacks.
 */
export class TaskRegistry {
  readonly #byId = new Map<string, TaskRecord>();
  readonly #byKey = new Map<string, TaskRecord>();
  readonly #lifecycle: TaskLifecycle;

  constructor(lifecycle: TaskLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /** The task with this id, if any. */
  get(taskId: string): TaskRecord | undefined {
    return this.#byId.get(taskId);
  }

  /** The task an earlier `POST /tasks` created under this `Idempotency-Key`, if any. */
  findByIdempotencyKey(key: string): TaskRecord | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Records a new `pending` task (fresh UUID v4, `created_at` = now) under
   * its idempotency key and starts its lifecycle. The caller checks first
   * that the key is new.
   */
  create(fields: NewTask): TaskRecord {
    const at = nowIso();
    const task: TaskRecord = {
      task_id: randomUUID(),
      task_type: fields.task_type,
      payload: fields.payload,
      callback_url: fields.callback_url,
      idempotency_key: fields.idempotency_key,
      delivery_id: fields.delivery_id,
      ordering: fields.ordering,
      created_at: at,
      updated_at: at,
      status: 'pending',
    };
    this.#byId.set(task.task_id, task);
    this.#byKey.set(task.idempotency_key, task);
    this.#schedule(task);
    return task;
  }

  /** Snapshots of all tasks, in creation order. */
  snapshots(): ReferenceMasTask[] {
    return [...this.#byId.values()].map(snapshotTask);
  }

  #schedule(task: TaskRecord): void {
    const { timers, callbackDelayMs, completeAfterMs } = this.#lifecycle;
    void (async () => {
      if (!(await timers.sleep(callbackDelayMs))) return;
      this.#transition(task, 'running');
      if (!(await timers.sleep(completeAfterMs))) return;
      this.#transition(task, 'completed', { summary: `reference MAS handled ${task.task_type}` });
    })();
  }

  #transition(task: TaskRecord, status: CallbackStatus, result?: Record<string, unknown>): void {
    if (this.#lifecycle.run.closed) return;
    task.status = status;
    task.updated_at = nowIso();
    if (result !== undefined) task.result = result;
    const change: StatusChange = { task_id: task.task_id, status, updated_at: task.updated_at, ...(result !== undefined ? { result } : {}) };
    this.#lifecycle.onChange(task, change);
  }
}
