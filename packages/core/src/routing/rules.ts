import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { payloadInteger, type ParsedDelivery, type Payload } from '../webhook/delivery.js';
import { GitBridgeError } from '../errors/errors.js';

/** Task priorities, most urgent first. */
export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
/** A task priority. */
export type Priority = (typeof PRIORITIES)[number];

/** The MAS protocol version GitBridge speaks (DESIGN §5). */
export const PROTOCOL_VERSION = '2.1';

/** A condition on the payload: the value at `path` (dot-separated) must be one of `in`, equal `equals`, or exist. */
export interface ConditionSpec {
  readonly path: string;
  readonly in?: readonly unknown[];
  readonly equals?: unknown;
  readonly exists?: boolean;
}

/**
 * A routing rule, as written in the config file's `rules` array (data, not
 * code). See `docs/routing-rules.md`.
 */
export interface RuleSpec {
  /** Unique name, used in logs and the store. */
  readonly name: string;
  /** `X-GitHub-Event` to match. */
  readonly event: string;
  /** Actions to match; omitted = any action (including none). */
  readonly actions?: readonly string[];
  /** All must hold. */
  readonly when?: readonly ConditionSpec[];
  /** MAS task type, e.g. `review_pull_request`. */
  readonly task_type: string;
  readonly priority: Priority;
  /** Metadata key → dot path into the payload; a missing value becomes null. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Chat notification: channel and `{{path}}` templates for text and url. */
  readonly notify?: { readonly channel: string; readonly text: string; readonly url?: string };
  /**
   * What to do with a task whose event is older than one already submitted
   * for the same entity: `submit` it marked `stale: true` and let the MAS
   * decide (default), or `hold` it back (the task ends `dead`, reason `stale`).
   */
  readonly on_stale?: 'submit' | 'hold';
}

/** The task object sent to the MAS as `payload` (DESIGN §4). */
export interface TaskPayload {
  readonly type: string;
  readonly priority: Priority;
  readonly metadata: Record<string, unknown>;
  readonly protocol_version: string;
}

/** A chat notification rendered from a rule. */
export interface NotificationDraft {
  readonly channel: string;
  readonly text: string;
  readonly url: string | null;
}

/** What one rule produced for one delivery. */
export interface TaskDraft {
  readonly rule: string;
  readonly taskType: string;
  readonly priority: Priority;
  readonly payload: TaskPayload;
  readonly notify: NotificationDraft | null;
  /** The rule's `on_stale`; absent means `submit`. */
  readonly onStale?: 'submit' | 'hold';
}

/** Path of the shipped default rules. */
export const DEFAULT_RULES_FILE = fileURLToPath(new URL('../../assets/default-rules.json', import.meta.url));

/** The shipped default rules (DESIGN §4). */
export function defaultRules(): RuleSpec[] {
  return (JSON.parse(readFileSync(DEFAULT_RULES_FILE, 'utf8')) as { rules: RuleSpec[] }).rules;
}

/**
 * Reads the value at a dot path (`pull_request.user.login`). Never throws:
 * any missing or non-object step yields undefined.
 */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * A payload value that is safe to serialize: a value whose JSON cannot be
 * produced (nesting too deep) and a number JSON cannot hold (1e400 parses as
 * Infinity) become null.
 */
function serializable(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (v === null || typeof v !== 'object') return v;
  try {
    JSON.stringify(v);
    return v;
  } catch {
    return null;
  }
}

const TEMPLATE = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

/** Replaces `{{path}}` with the payload's value at that path (empty when missing). */
export function renderTemplate(template: string, payload: Payload): string {
  return template.replace(TEMPLATE, (_, path: string) => {
    const v = getPath(payload, path);
    const safe = serializable(v);
    return safe === undefined || safe === null ? '' : typeof safe === 'object' ? JSON.stringify(safe) : String(safe);
  });
}

/** Every problem of a set of rules, one sentence each (empty when they are valid); {@link compileRules} throws them. */
export function ruleProblems(specs: readonly RuleSpec[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  specs.forEach((r, i) => {
    const at = `rules[${i}]${typeof r?.name === 'string' ? ` (${r.name})` : ''}`;
    if (r === null || typeof r !== 'object') return void problems.push(`${at}: must be an object`);
    if (typeof r.name !== 'string' || r.name === '') problems.push(`${at}: "name" must be a non-empty string`);
    else if (names.has(r.name)) problems.push(`${at}: duplicate name`);
    else names.add(r.name);
    if (typeof r.event !== 'string' || r.event === '') problems.push(`${at}: "event" must be a non-empty string`);
    if (r.actions !== undefined && (!Array.isArray(r.actions) || !r.actions.every((a) => typeof a === 'string'))) problems.push(`${at}: "actions" must be an array of strings`);
    if (typeof r.task_type !== 'string' || !/^[a-z0-9_.-]{1,64}$/.test(r.task_type)) problems.push(`${at}: "task_type" must match [a-z0-9_.-]{1,64}`);
    if (!PRIORITIES.includes(r.priority)) problems.push(`${at}: "priority" must be one of ${PRIORITIES.join(', ')}`);
    if (r.metadata === null || typeof r.metadata !== 'object' || !Object.values(r.metadata).every((p) => typeof p === 'string')) problems.push(`${at}: "metadata" must map keys to payload paths`);
    if (r.when !== undefined && (!Array.isArray(r.when) || !r.when.every((c) => c && typeof c.path === 'string'))) problems.push(`${at}: "when" must be an array of {path, in|equals|exists}`);
    if (r.notify !== undefined && (typeof r.notify?.channel !== 'string' || typeof r.notify?.text !== 'string')) problems.push(`${at}: "notify" needs "channel" and "text"`);
    if (r.on_stale !== undefined && r.on_stale !== 'submit' && r.on_stale !== 'hold') problems.push(`${at}: "on_stale" must be "submit" or "hold"`);
  });
  return problems;
}

/**
 * Validates rules and returns them frozen.
 *
 * @throws GitBridgeError `GB_RULES_INVALID` listing every problem
 */
export function compileRules(specs: readonly RuleSpec[]): readonly RuleSpec[] {
  const problems = ruleProblems(specs);
  if (problems.length > 0) {
    throw new GitBridgeError('GB_RULES_INVALID', { message: `Invalid routing rules:\n  - ${problems.join('\n  - ')}` });
  }
  return Object.freeze(specs.map((r) => Object.freeze({ ...r })));
}

/** The part of a condition that did not hold, and the value it was held against. */
interface FailedCondition {
  readonly condition: ConditionSpec;
  readonly op: 'exists' | 'in' | 'equals';
  readonly value: unknown;
}

/** The first test of `c` that fails for `payload` (exists, then in, then equals), or null when all hold. */
function failedTest(c: ConditionSpec, payload: Payload): FailedCondition | null {
  const v = getPath(payload, c.path);
  if (c.exists !== undefined && (v !== undefined && v !== null) !== c.exists) return { condition: c, op: 'exists', value: v };
  if (c.in !== undefined && !c.in.includes(v)) return { condition: c, op: 'in', value: v };
  if ('equals' in c && v !== c.equals) return { condition: c, op: 'equals', value: v };
  return null;
}

/** Why `rule` does not match a delivery (its event, its actions, or the first failing condition), or null when it matches. */
function mismatch(rule: RuleSpec, d: Pick<ParsedDelivery, 'event' | 'action' | 'payload'>): 'event' | 'action' | FailedCondition | null {
  if (rule.event !== d.event) return 'event';
  if (rule.actions !== undefined && (d.action === null || !rule.actions.includes(d.action))) return 'action';
  for (const c of rule.when ?? []) {
    const failed = failedTest(c, d.payload);
    if (failed) return failed;
  }
  return null;
}

/**
 * Turns a delivery into zero or more task drafts. At most one task per task
 * type (the first matching rule wins), because the MAS idempotency key is
 * `<delivery id>:<task type>`. Missing payload fields become null; never throws
 * on any payload shape.
 */
export function mapDelivery(rules: readonly RuleSpec[], d: Pick<ParsedDelivery, 'event' | 'action' | 'payload'>): TaskDraft[] {
  const drafts: TaskDraft[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    if (mismatch(rule, d) !== null) continue;
    if (seen.has(rule.task_type)) continue;
    seen.add(rule.task_type);
    const metadata: Record<string, unknown> = {};
    for (const [key, path] of Object.entries(rule.metadata)) {
      const v = getPath(d.payload, path);
      metadata[key] = v === undefined ? null : serializable(v);
    }
    const notify = rule.notify
      ? { channel: rule.notify.channel, text: renderTemplate(rule.notify.text, d.payload), url: rule.notify.url ? renderTemplate(rule.notify.url, d.payload) || null : null }
      : null;
    drafts.push({
      rule: rule.name,
      taskType: rule.task_type,
      priority: rule.priority,
      payload: { type: rule.task_type, priority: rule.priority, metadata, protocol_version: PROTOCOL_VERSION },
      notify,
      onStale: rule.on_stale ?? 'submit',
    });
  }
  return drafts;
}

/** A value for a one-line explanation: compact JSON, at most 60 characters; `nothing` for a missing one. */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** `check_run.conclusion in ["failure","timed_out"]`, `merged equals true`, `label exists` / `label exists: false`. */
function describeTest(f: FailedCondition): string {
  const c = f.condition;
  if (f.op === 'exists') return `${c.path} exists${c.exists ? '' : ': false'}`;
  return `${c.path} ${f.op} ${shown(f.op === 'in' ? c.in : c.equals)}`;
}

/**
 * Why no rule made a task of a delivery, in one line, for the store and
 * `gitbridge deliveries show`: `no rule for push` / `no rule for
 * pull_request.labeled` when no rule has its event and action, else, per
 * rule that has them, the condition that failed and the value it met:
 * `rule check-run-failed: condition check_run.conclusion in
 * ["failure","timed_out","startup_failure"] failed (got "success")`.
 * Pure; meant for a delivery {@link mapDelivery} made no draft of.
 */
export function explainIgnored(rules: readonly RuleSpec[], d: Pick<ParsedDelivery, 'event' | 'action' | 'payload'>): string {
  const failed = rules.flatMap((rule) => {
    const m = mismatch(rule, d);
    return m !== null && typeof m === 'object' ? [`rule ${rule.name}: condition ${describeTest(m)} failed (got ${shown(m.value)})`] : [];
  });
  return failed.length > 0 ? failed.join('; ') : `no rule for ${d.action ? `${d.event}.${d.action}` : d.event}`;
}

/** A journal entry (DESIGN §7): `{type, repo, number, timestamp}` plus the action. */
export interface JournalEntry {
  /** The event name. */
  readonly type: string;
  readonly action: string | null;
  /** `owner/name`, or the organization login, or null. */
  readonly repo: string | null;
  /** PR, issue or discussion number, or null. */
  readonly number: number | null;
  /** The event's own time from the payload (ISO-8601), else the time received. */
  readonly timestamp: string;
}

const SUBJECTS = ['pull_request', 'issue', 'discussion', 'comment', 'review', 'check_run', 'check_suite', 'workflow_run', 'workflow_job', 'release', 'deployment', 'deployment_status', 'alert', 'milestone', 'project', 'label'];

/**
 * Builds the journal entry of a delivery. `timestamp` is the event's own time:
 * for `opened`/`created` actions the subject's `created_at`, otherwise its
 * `updated_at` (falling back to `created_at`); for `push`, the head commit's
 * timestamp; when the payload has none, `receivedAt`.
 */
export function journalEntry(d: Pick<ParsedDelivery, 'event' | 'action' | 'payload' | 'repo' | 'org'>, receivedAt: string): JournalEntry {
  const p = d.payload;
  const subjectKey = d.event in p ? d.event : SUBJECTS.find((k) => p[k] !== null && typeof p[k] === 'object');
  const subject = subjectKey ? (p[subjectKey] as Record<string, unknown> | null) : null;
  // A time GitHub sent is an ISO-8601 string; anything that does not parse is treated as absent.
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' && v.length <= 64 && !Number.isNaN(Date.parse(v)) ? v : null);
  let timestamp: string | null = null;
  if (subject && typeof subject === 'object') {
    timestamp = d.action === 'opened' || d.action === 'created'
      ? str(subject.created_at) ?? str(subject.updated_at)
      : str(subject.updated_at) ?? str(subject.created_at);
  }
  if (!timestamp && d.event === 'push') timestamp = str(getPath(p, 'head_commit.timestamp'));
  const numberCandidates = [getPath(p, 'pull_request.number'), getPath(p, 'issue.number'), getPath(p, 'discussion.number'), p.number];
  const number = numberCandidates.map(payloadInteger).find((n) => n !== null) ?? null;
  return { type: d.event, action: d.action, repo: d.repo ?? d.org, number, timestamp: timestamp ?? receivedAt };
}
