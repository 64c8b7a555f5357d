import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, githubExample, postDelivery, startCallbackDaemon, tempDir, waitFor } from './helpers/index.js';

/** JSON with a number literal GitHub could send but JavaScript cannot hold exactly (1e999 parses as Infinity). */
const ODD_VALUES: readonly (readonly [string, string])[] = [
  ['1.5', '1.5'],
  ['-1', '-1'],
  ['1e999', '1e999'],
  ['string', '"7"'],
  ['null', 'null'],
];

/** Every numeric field GitBridge reads from a payload, per event. */
const FIELDS: Record<'issues' | 'pull_request', readonly string[]> = {
  issues: ['issue.number', 'issue.id', 'repository.id', 'organization.id', 'installation.id'],
  pull_request: ['pull_request.number', 'pull_request.id', 'number', 'repository.id', 'organization.id', 'installation.id'],
};

/** A payload with the JSON literal `literal` at `path` (the path's parents are created when missing). */
function withLiteral(payload: Record<string, unknown>, path: string, literal: string): string {
  const marker = `__odd_${Math.random().toString(36).slice(2)}__`;
  const parts = path.split('.');
  let cur = payload;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== 'object') cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts.at(-1)!] = marker;
  return JSON.stringify(payload).replace(`"${marker}"`, literal);
}

describe('a payload value GitBridge does not expect never stops a delivery', () => {
  let mas: ReferenceMas;
  let daemon: Daemon;
  const tmp = tempDir();
  beforeAll(async () => {
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 5, completeAfterMs: 5 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url }));
  });
  afterAll(async () => {
    await daemon.stop(500);
    await mas.close();
    tmp.cleanup();
  });

  it('every numeric field read, fed 1.5, -1, 1e999, a string and null: each delivery is processed and its task reaches the MAS', async () => {
    const sent: { deliveryId: string; what: string }[] = [];
    for (const [event, action] of [['issues', 'opened'], ['pull_request', 'opened']] as const) {
      for (const path of FIELDS[event]) {
        for (const [name, literal] of ODD_VALUES) {
          const body = withLiteral(githubExample(event, action), path, literal);
          const res = await postDelivery(daemon.url, event, body);
          expect(res.status, `${event} ${path}=${name}: ${res.text}`).toBe(202);
          sent.push({ deliveryId: res.deliveryId, what: `${event} ${path}=${name}` });
        }
      }
    }
    for (const s of sent) {
      const task = await waitFor(async () => (await daemon.store.tasksForDelivery(s.deliveryId))[0]?.taskId, 15_000, `a task accepted by the MAS for ${s.what}`);
      expect(mas.tasks.some((t) => t.task_id === task), s.what).toBe(true);
      const d = await daemon.store.getDelivery(s.deliveryId);
      expect(d?.state, s.what).toBe('processed');
    }
    // The journal holds one entry per delivery; a number that is not a non-negative integer is absent.
    const journal = await daemon.store.listJournal({ limit: 1000 });
    for (const s of sent) expect(journal.filter((j) => j.deliveryId === s.deliveryId), s.what).toHaveLength(1);
    for (const j of journal) expect(j.number === null || (Number.isSafeInteger(j.number) && j.number >= 0)).toBe(true);
  }, 60_000);

  it('a signed callback whose result or error is nested 10,000 levels deep: 400 GB_CALLBACK_INVALID, the task stays as it was', async () => {
    const res = await postDelivery(daemon.url, 'issues', JSON.stringify(githubExample('issues', 'opened')));
    const taskId = await waitFor(async () => {
      const t = (await daemon.store.tasksForDelivery(res.deliveryId))[0];
      return t?.status === 'completed' ? t.taskId : null;
    }, 10_000, 'a completed task');
    const before = await daemon.store.getTask(taskId);
    for (const field of ['result', 'error']) {
      const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const body = `{"task_id":${JSON.stringify(taskId)},"status":"failed","${field}":${deep},"updated_at":"2026-01-01T00:00:00Z"}`;
      const r = await request(`${daemon.url}/mas/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, body) },
        body,
      });
      const answer = (await r.body.json()) as { code: string; message: string };
      expect(r.statusCode).toBe(400);
      expect(answer.code).toBe('GB_CALLBACK_INVALID');
      expect(answer.message).toContain(field);
    }
    expect(await daemon.store.getTask(taskId)).toEqual(before);
    // 64 levels is still fine.
    const ok = `{"task_id":${JSON.stringify(taskId)},"status":"completed","result":${'['.repeat(64)}${']'.repeat(64)}}`;
    const r = await request(`${daemon.url}/mas/callback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, ok) }, body: ok });
    expect(r.statusCode).toBe(200);
    await r.body.dump();
  });
});
