import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SqliteStore, sign, type TaskDraft } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { CALLBACK_SECRET, startTestDaemon, tempDir } from './helpers/index.js';

describe('POST /mas/callback', () => {
  const tmp = tempDir();
  let daemon: Daemon;
  let taskRef: string;
  const masTaskId = `mas-${randomUUID()}`;

  beforeAll(async () => {
    // A task the MAS has accepted, put straight into the store (before the
    // daemon starts, so that its workers do not claim the delivery first).
    const store = SqliteStore.open(join(tmp.dir, 'data'));
    try {
      const deliveryId = randomUUID();
      await store.ingest({ deliveryId, event: 'issues', action: 'opened', hookId: null, repo: 'o/r', repoId: 1, installationId: null, receivedAt: new Date().toISOString(), contentType: 'json', headers: {}, body: Buffer.from('{}'), signatureSlot: 0, sourceIp: null, state: 'queued', outcome: null });
      const draft: TaskDraft = { rule: 'r', taskType: 'triage_issue', priority: 'normal', payload: { type: 'triage_issue', priority: 'normal', metadata: {}, protocol_version: '2.1' }, notify: null };
      const [delivery] = await store.claimDeliveries(1, 60_000);
      [taskRef] = (await store.completeDelivery(delivery!, { drafts: [draft], journal: { type: 'issues', action: 'opened', repo: 'o/r', number: 1, timestamp: 't' }, repo: 'o/r' })) as [string];
      const [task] = await store.claimTasks(1, 60_000);
      expect(task!.item.id).toBe(taskRef);
      await store.markTaskSubmitted(task!, masTaskId);
    } finally {
      await store.close();
    }
    ({ daemon } = await startTestDaemon(tmp.dir, { GITBRIDGE_MAS_URL: 'http://127.0.0.1:9' }));
  });
  afterAll(async () => {
    await daemon.stop();
    tmp.cleanup();
  });

  async function callback(body: unknown, secret: string | null = CALLBACK_SECRET, contentType: string | null = 'application/json') {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
    if (secret) headers['x-mas-signature-256'] = sign(secret, raw);
    const res = await request(`${daemon.url}/mas/callback`, { method: 'POST', headers, body: raw });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  it('401 without or with a wrong signature, and nothing changes', async () => {
    expect((await callback({ task_id: masTaskId, status: 'completed' }, null)).body).toMatchObject({ statusCode: 401, code: 'GB_CALLBACK_SIGNATURE_MISMATCH' });
    expect((await callback({ task_id: masTaskId, status: 'completed' }, 'wrong')).status).toBe(401);
    expect((await daemon.store.getTask(taskRef))?.status).toBe('pending');
  });

  it('400 for an invalid body, 404 for an unknown task', async () => {
    expect((await callback('{nope')).body).toMatchObject({ statusCode: 400, code: 'GB_CALLBACK_INVALID' });
    expect((await callback({ status: 'completed' })).status).toBe(400);
    expect((await callback({ task_id: masTaskId, status: 'exploded' })).status).toBe(400);
    expect((await callback({ task_id: 'nope', status: 'running' })).body).toMatchObject({ statusCode: 404, code: 'GB_CALLBACK_UNKNOWN_TASK' });
  });

  it('400 GB_BAD_REQUEST for a body not said to be JSON (no Content-Type, text/plain, a form); charset and case do not matter', async () => {
    for (const type of [null, 'text/plain', 'application/x-www-form-urlencoded']) {
      expect((await callback({ task_id: masTaskId, status: 'running' }, CALLBACK_SECRET, type)).body, String(type)).toMatchObject({ statusCode: 400, code: 'GB_BAD_REQUEST' });
    }
    expect((await daemon.store.getTask(taskRef))?.status).toBe('pending');
    expect((await callback({ task_id: 'nope', status: 'running' }, CALLBACK_SECRET, 'Application/JSON; charset=utf-8')).status).toBe(404);
  });

  it('moves states only forward; terminal states are final; duplicates change nothing', async () => {
    expect((await callback({ task_id: masTaskId, status: 'running', updated_at: new Date().toISOString() })).body).toMatchObject({ status: 'running', applied: true });
    expect((await callback({ task_id: masTaskId, status: 'running' })).body).toMatchObject({ status: 'running', applied: false });
    expect((await callback({ task_id: masTaskId, status: 'completed', result: { summary: 'ok' } })).body).toMatchObject({ status: 'completed', applied: true });
    expect((await callback({ task_id: masTaskId, status: 'failed', error: 'late' })).body).toMatchObject({ status: 'completed', applied: false });
    expect((await callback({ task_id: masTaskId, status: 'running' })).body).toMatchObject({ status: 'completed', applied: false });
    const task = (await daemon.store.getTask(masTaskId))!;
    expect(task.status).toBe('completed');
    expect(task.result).toEqual({ summary: 'ok' });
    expect((await daemon.store.taskHistory(taskRef)).map((h) => `${h.from}->${h.to}@${h.source}`)).toEqual([
      'null->queued@gitbridge',
      'queued->pending@mas',
      'pending->running@mas-callback',
      'running->completed@mas-callback',
    ]);
  });
});
