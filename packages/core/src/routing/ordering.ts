import { getPath } from './rules.js';
import { payloadInteger, type ParsedDelivery } from '../webhook/delivery.js';

/**
 * Per-entity ordering (MAS protocol 2.1, "Ordering"): every task names the
 * entity its event concerns and the event's own time, so that tasks of one
 * entity are submitted in the order their deliveries arrived and the MAS can
 * tell a stale one. GitHub gives no ordering guarantee for webhooks ("Best
 * practices for using webhooks"), so both are read from the payload.
 */
export interface EventOrder {
  /** `pull_request.opened`, or the event name when it has no action. */
  readonly event: string;
  /**
   * A stable key built from ids, never names (a rename must not split it):
   * `repo:1296269/pull/1`, `repo:1296269/issue/7`, `repo:1296269/workflow_job/42`, …;
   * `delivery:<id>` when the payload names no entity (no ordering then).
   */
  readonly entity: string;
  /** The entity's own time from the payload (ISO-8601 with ms), else the time of receipt. */
  readonly eventAt: string;
}

/** Events whose entity is a pull request, found at `pull_request.number`. */
const PULL_EVENTS = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment', 'pull_request_review_thread', 'pull_request_target']);

/** Events whose entity is the object under this key, identified by its `id`. */
const BY_ID: Readonly<Record<string, string>> = {
  check_run: 'check_run',
  check_suite: 'check_suite',
  workflow_run: 'workflow_run',
  workflow_job: 'workflow_job',
  deployment: 'deployment',
  deployment_status: 'deployment',
  release: 'release',
  label: 'label',
  milestone: 'milestone',
  package: 'package',
  registry_package: 'registry_package',
  code_scanning_alert: 'alert',
  dependabot_alert: 'alert',
  secret_scanning_alert: 'alert',
  project_card: 'project_card',
  projects_v2_item: 'projects_v2_item',
  merge_group: 'merge_group',
};

/** Where each event keeps the object whose time is the event's time, and which times to try, first found wins. */
const TIME_FIELDS: Readonly<Record<string, readonly string[]>> = {
  pull_request: ['pull_request.updated_at', 'pull_request.created_at'],
  issues: ['issue.updated_at', 'issue.created_at'],
  issue_comment: ['comment.updated_at', 'comment.created_at'],
  pull_request_review: ['review.submitted_at', 'pull_request.updated_at'],
  pull_request_review_comment: ['comment.updated_at', 'comment.created_at'],
  discussion: ['discussion.updated_at', 'discussion.created_at'],
  discussion_comment: ['comment.updated_at', 'comment.created_at'],
  check_run: ['check_run.completed_at', 'check_run.started_at'],
  check_suite: ['check_suite.updated_at', 'check_suite.created_at'],
  workflow_run: ['workflow_run.updated_at', 'workflow_run.run_started_at', 'workflow_run.created_at'],
  workflow_job: ['workflow_job.completed_at', 'workflow_job.started_at', 'workflow_job.created_at'],
  release: ['release.published_at', 'release.created_at'],
  push: ['head_commit.timestamp'],
  deployment: ['deployment.updated_at', 'deployment.created_at'],
  deployment_status: ['deployment_status.updated_at', 'deployment_status.created_at'],
};

/** A time from a payload as ISO-8601 with milliseconds (comparable as text), or null when it is not a time. */
function isoTime(v: unknown): string | null {
  if (typeof v !== 'string' || v === '' || v.length > 64) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** The entity key of a delivery (see {@link EventOrder.entity}). Never throws on any payload. */
export function entityKey(d: Pick<ParsedDelivery, 'deliveryId' | 'event' | 'payload' | 'repoId' | 'orgId' | 'installationId'>): string {
  const p = d.payload;
  const scope = d.repoId !== null ? `repo:${d.repoId}` : d.orgId !== null ? `org:${d.orgId}` : d.installationId !== null ? `installation:${d.installationId}` : null;
  const none = `delivery:${d.deliveryId}`;
  if (scope === null) return none;
  const at = (path: string) => payloadInteger(getPath(p, path));
  const keyed = (kind: string, n: number | null) => (n === null ? none : `${scope}/${kind}/${n}`);
  if (PULL_EVENTS.has(d.event)) return keyed('pull', at('pull_request.number'));
  if (d.event === 'issues' || d.event === 'issue_comment') {
    // A comment on a pull request arrives as issue_comment; issue and pull request numbers share one sequence per repository.
    const isPull = getPath(p, 'issue.pull_request') !== undefined && getPath(p, 'issue.pull_request') !== null;
    return keyed(isPull ? 'pull' : 'issue', at('issue.number'));
  }
  if (d.event === 'discussion' || d.event === 'discussion_comment') return keyed('discussion', at('discussion.number'));
  const object = BY_ID[d.event];
  if (object) return keyed(object, at(`${object}.id`));
  if (d.event === 'push' || d.event === 'create' || d.event === 'delete') {
    const ref = getPath(p, 'ref');
    return typeof ref === 'string' && ref !== '' && ref.length <= 255 ? `${scope}/ref/${ref}` : none;
  }
  // Events about the repository (or organization) itself: ordered among events of the same name.
  return `${scope}/${d.event}`;
}

/**
 * The event's own time: the entity's time for this event (e.g.
 * `pull_request.updated_at`, `workflow_job.completed_at`, then `started_at`),
 * else its `updated_at` / `created_at`, else `receivedAt`. Never throws.
 *
 * @param receivedAt ISO-8601 time GitBridge received the delivery
 */
export function eventTime(d: Pick<ParsedDelivery, 'event' | 'payload'>, receivedAt: string): string {
  const p = d.payload;
  for (const path of TIME_FIELDS[d.event] ?? []) {
    const t = isoTime(getPath(p, path));
    if (t) return t;
  }
  const subject = p[d.event];
  if (subject !== null && typeof subject === 'object') {
    const t = isoTime((subject as Record<string, unknown>).updated_at) ?? isoTime((subject as Record<string, unknown>).created_at);
    if (t) return t;
  }
  return isoTime(receivedAt) ?? receivedAt;
}

/** The ordering fields of a delivery. */
export function eventOrder(d: Pick<ParsedDelivery, 'deliveryId' | 'event' | 'action' | 'payload' | 'repoId' | 'orgId' | 'installationId'>, receivedAt: string): EventOrder {
  return { event: d.action ? `${d.event}.${d.action}` : d.event, entity: entityKey(d), eventAt: eventTime(d, receivedAt) };
}
