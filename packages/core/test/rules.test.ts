import { describe, expect, it } from 'vitest';
import { compileRules, defaultRules, explainIgnored, identifyDelivery, journalEntry, mapDelivery, renderTemplate } from '../src/index.js';
import seed from '../../../docs/examples/webhook_post_example.json' with { type: 'json' };

const rules = compileRules(defaultRules());
const ids = (event: string) => ({ deliveryId: 'd-1', event, hookId: null });

describe('default rules', () => {
  it("turn the seed's example into exactly the task of DESIGN §4", () => {
    const drafts = mapDelivery(rules, identifyDelivery(ids('pull_request'), seed as Record<string, unknown>));
    expect(drafts).toHaveLength(1);
    expect(drafts[0]!.payload).toStrictEqual({
      type: 'review_pull_request',
      priority: 'high',
      metadata: { repo: 'octocat/Hello-World', pr_number: 1, title: 'Amazing new feature', author: 'octocat' },
      protocol_version: '2.1',
    });
    expect(drafts[0]!.notify).toEqual({ channel: '#gitbridge-reviews', text: 'New PR: Amazing new feature', url: 'https://github.com/octocat/Hello-World/pull/1' });
  });

  it("journal the seed's example with the event's own time", () => {
    const d = identifyDelivery(ids('pull_request'), seed as Record<string, unknown>);
    expect(journalEntry(d, '2026-01-01T00:00:00.000Z')).toEqual({ type: 'pull_request', action: 'opened', repo: 'octocat/Hello-World', number: 1, timestamp: '2011-01-26T19:01:12Z' });
  });

  it.each([
    ['pull_request', 'reopened', 'review_pull_request', 'normal'],
    ['pull_request', 'synchronize', 'review_pull_request', 'normal'],
    ['pull_request', 'ready_for_review', 'review_pull_request', 'normal'],
    ['issues', 'opened', 'triage_issue', 'normal'],
    ['issue_comment', 'created', 'respond_to_comment', 'normal'],
  ])('%s.%s -> %s (%s)', (event, action, type, priority) => {
    const [draft] = mapDelivery(rules, { event, action, payload: { action } });
    expect(draft).toMatchObject({ taskType: type, priority });
  });

  it('map CI failures only for failing conclusions', () => {
    const run = (conclusion: string | null) => mapDelivery(rules, { event: 'check_run', action: 'completed', payload: { action: 'completed', check_run: { conclusion, name: 'ci' } } });
    expect(run('failure')[0]).toMatchObject({ taskType: 'investigate_ci_failure', priority: 'high' });
    expect(run('timed_out')).toHaveLength(1);
    expect(run('success')).toHaveLength(0);
    expect(run(null)).toHaveLength(0);
    const wf = mapDelivery(rules, { event: 'workflow_run', action: 'completed', payload: { workflow_run: { conclusion: 'failure' } } });
    expect(wf[0]).toMatchObject({ taskType: 'investigate_ci_failure' });
  });

  it('never throw on missing or null fields (deleted user, fork without head.repo)', () => {
    const [draft] = mapDelivery(rules, { event: 'pull_request', action: 'opened', payload: { pull_request: { user: null, head: { repo: null }, title: null } } });
    expect(draft!.payload.metadata).toEqual({ repo: null, pr_number: null, title: null, author: null });
    expect(draft!.notify!.text).toBe('New PR: ');
  });

  it('match nothing for unknown events and new actions', () => {
    expect(mapDelivery(rules, { event: 'brand_new_event', action: 'created', payload: {} })).toEqual([]);
    expect(mapDelivery(rules, { event: 'pull_request', action: 'a_new_action', payload: {} })).toEqual([]);
  });
});

describe('compileRules', () => {
  it('reports every problem at once', () => {
    expect(() => compileRules([{ name: 'x', event: '', task_type: 'BAD TYPE', priority: 'urgent', metadata: {} } as never, { name: 'x' } as never])).toThrow(
      /"event"[\s\S]*"task_type"[\s\S]*"priority"[\s\S]*duplicate name/,
    );
  });
});

describe('renderTemplate', () => {
  it('renders paths and leaves missing ones empty', () => {
    expect(renderTemplate('{{a.b}}-{{ c }}-{{missing.x}}', { a: { b: 1 }, c: 'z' })).toBe('1-z-');
  });
});

describe('explainIgnored', () => {
  const d = (event: string, action: string | null, payload: Record<string, unknown> = {}) => ({ event, action, payload: action ? { action, ...payload } : payload });
  it('no rule for the event, or for its action', () => {
    expect(explainIgnored(rules, d('push', null))).toBe('no rule for push');
    expect(explainIgnored(rules, d('pull_request', 'labeled'))).toBe('no rule for pull_request.labeled');
  });
  it("names the rule whose condition failed, the condition, and the value it met", () => {
    const passed = d('check_run', 'completed', { check_run: { conclusion: 'success' } });
    expect(mapDelivery(rules, passed)).toEqual([]);
    expect(explainIgnored(rules, passed)).toBe('rule check-run-failed: condition check_run.conclusion in ["failure","timed_out","startup_failure"] failed (got "success")');
    expect(explainIgnored(rules, d('workflow_run', 'completed'))).toBe('rule workflow-run-failed: condition workflow_run.conclusion in ["failure","timed_out","startup_failure"] failed (got nothing)');
  });
  it('every rule that had the event and action, with equals and exists conditions', () => {
    const custom = compileRules([
      { name: 'merged', event: 'pull_request', actions: ['closed'], when: [{ path: 'pull_request.merged', equals: true }], task_type: 'a', priority: 'low', metadata: {} },
      { name: 'labelled', event: 'pull_request', when: [{ path: 'label.name', exists: true }], task_type: 'b', priority: 'low', metadata: {} },
    ]);
    expect(explainIgnored(custom, d('pull_request', 'closed', { pull_request: { merged: false, title: 'x'.repeat(100) } }))).toBe(
      'rule merged: condition pull_request.merged equals true failed (got false); rule labelled: condition label.name exists failed (got nothing)',
    );
  });
});
