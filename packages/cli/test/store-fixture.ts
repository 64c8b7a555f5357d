/**
 * The store the CLI's store commands are tested on, the same content for
 * both engines (store-commands.test.ts on SQLite, store-commands.postgres.test.ts).
 */
import { expect } from 'vitest';
import type { Claim, ClaimedDelivery, JournalEntry, NewDelivery, Store, TaskDraft } from '@gitbridge/core';

export const T0 = Date.parse('2025-03-01T10:00:00.000Z');
export const HOUR = 3_600_000;
export const D1 = '0b6c4a10-0000-4000-8000-000000000001';
export const D2 = '0b6c4a10-0000-4000-8000-000000000002';
export const D3 = '0b6c4a10-0000-4000-8000-000000000003';

export function delivery(id: string, event: string, action: string | null, repo: string | null, atMs: number, body: string): NewDelivery {
  return {
    deliveryId: id,
    event,
    action,
    hookId: '123456789',
    repo,
    repoId: repo ? 1296269 : null,
    installationId: null,
    receivedAt: new Date(atMs).toISOString(),
    contentType: 'json',
    // A signature header slipped into the stored headers must still never be shown.
    headers: { 'x-github-event': event, 'x-github-delivery': id, 'user-agent': 'GitHub-Hookshot/abc1234', 'x-hub-signature-256': 'sha256=deadbeef' },
    body: Buffer.from(body, 'utf8'),
    signatureSlot: 0,
    sourceIp: '140.82.115.1',
    state: event === 'ping' ? 'processed' : 'queued',
    outcome: event === 'ping' ? 'ping' : null,
  };
}

export function draft(taskType: string, priority: TaskDraft['priority'], rule: string): TaskDraft {
  return { rule, taskType, priority, payload: { type: taskType, priority, metadata: { number: 1 }, protocol_version: '2.1' }, notify: null };
}

export function journal(type: string, action: string | null, repo: string | null, number: number | null): JournalEntry {
  return { type, action, repo, number, timestamp: '2011-01-26T19:01:12Z' };
}

/**
 * Fills a store, through its public methods, with two deliveries with tasks
 * (one task accepted by the MAS, one dead after retries, one still queued
 * under a lease) and a ping. `advance` lets the store's clock move on (a
 * ManualClock on SQLite; nothing on PostgreSQL, whose clock is its own).
 */
export async function populateStore(store: Store, advance: (ms: number) => Promise<void>): Promise<{ reviewId: string; triageId: string; deployId: string }> {
  for (const d of [
    delivery(D1, 'pull_request', 'opened', 'octocat/Hello-World', T0, '{"action":"opened","number":1}'),
    delivery(D2, 'issues', 'opened', 'acme/widgets', T0 + HOUR, '{"action":"opened","issue":{"number":7}}'),
    delivery(D3, 'ping', null, null, T0 + 2 * HOUR, '{"zen":"Design for failure."}'),
  ]) {
    expect(await store.ingest(d)).toBe('stored');
  }
  const claims = await store.claimDeliveries(10, 24 * HOUR);
  const claimOf = (id: string): Claim<ClaimedDelivery> => claims.find((c) => c.item.deliveryId === id)!;
  expect(claims.map((c) => c.item.deliveryId).sort()).toEqual([D1, D2]);
  const [reviewId] = await store.completeDelivery(claimOf(D1), {
    drafts: [draft('review_pull_request', 'high', 'pr-opened')],
    journal: journal('pull_request', 'opened', 'octocat/Hello-World', 1),
    repo: 'octocat/Hello-World',
  });
  await advance(1000);
  const [reviewClaim] = await store.claimTasks(10, 24 * HOUR);
  expect(reviewClaim!.item.id).toBe(reviewId);
  await store.markTaskSubmitted(reviewClaim!, 'mas_task_8842');
  await advance(HOUR - 1000);
  const [triageId, deployId] = await store.completeDelivery(claimOf(D2), {
    drafts: [draft('triage_issue', 'normal', 'issue-opened'), draft('notify_team', 'low', 'issue-notify')],
    journal: journal('issues', 'opened', 'acme/widgets', 7),
    repo: 'acme/widgets',
  });
  await advance(5000);
  // This claims notify_team too: it stays queued, under a lease, as while a submission is in flight.
  const taskClaims = await store.claimTasks(10, 24 * HOUR);
  const triageClaim = taskClaims.find((c) => c.item.id === triageId)!;
  await store.endTask(triageClaim, 'dead', 'MAS unreachable after 12 attempts', 'gitbridge');
  return { reviewId: reviewId!, triageId: triageId!, deployId: deployId! };
}

