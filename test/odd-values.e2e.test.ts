import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, githubExample, postDelivery, startCallbackDaemon, tempDir, waitFor } from './helpers/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

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

/**
 * U+0000 in the strings GitBridge reads (a title, the repository's name, the
 * action) and in a MAS callback's error: JSON may carry it in any string,
 * PostgreSQL's text cannot hold it. Each delivery is answered 202 and ends
 * processed (a task for the MAS) or ignored (an action no rule knows), never
 * dead; the callback is applied.
 */
async function nulInStrings(daemon: Daemon, mas: ReferenceMas): Promise<void> {
  const cases: { event: 'issues' | 'pull_request'; path: string; value: string; task: boolean }[] = [
    { event: 'pull_request', path: 'pull_request.title', value: 'PR \u0000 nul', task: true },
    { event: 'issues', path: 'issue.title', value: 'an issue \u0000', task: true },
    { event: 'issues', path: 'repository.full_name', value: 'Codertocat/Hello\u0000World', task: true },
    { event: 'issues', path: 'action', value: 'opened\u0000', task: false },
  ];
  const sent: { deliveryId: string; what: string; task: boolean }[] = [];
  for (const c of cases) {
    const body = withLiteral(githubExample(c.event, 'opened'), c.path, JSON.stringify(c.value));
    expect(body).toContain('\\u0000');
    const res = await postDelivery(daemon.url, c.event, body);
    expect(res.status, `${c.path}: ${res.text}`).toBe(202);
    sent.push({ deliveryId: res.deliveryId, what: c.path, task: c.task });
  }
  for (const s of sent) {
    const d = await waitFor(async () => {
      const got = await daemon.store.getDelivery(s.deliveryId);
      return got && got.state !== 'queued' ? got : null;
    }, 15_000, `${s.what} settled`);
    expect(d.state, `${s.what}: ${d.lastError ?? ''}`).toBe(s.task ? 'processed' : 'ignored');
    if (s.task) {
      const taskId = await waitFor(async () => (await daemon.store.tasksForDelivery(s.deliveryId))[0]?.taskId, 15_000, `a task accepted by the MAS for ${s.what}`);
      expect(mas.tasks.some((t) => t.task_id === taskId), s.what).toBe(true);
    }
  }
  // A callback whose error carries U+0000 is applied, not a 500 (the MAS of this test never completes a task by itself).
  const first = (await daemon.store.tasksForDelivery(sent[0]!.deliveryId))[0]!;
  expect(['pending', 'running']).toContain(first.status);
  const body = JSON.stringify({ task_id: first.taskId, status: 'failed', error: 'boom\u0000x', updated_at: new Date().toISOString() });
  const r = await request(`${daemon.url}/mas/callback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mas-signature-256': sign(CALLBACK_SECRET, body) }, body });
  expect(r.statusCode, await r.body.text()).toBe(200);
  const failed = await daemon.store.getTask(first.id);
  expect(failed?.status).toBe('failed');
  expect(failed?.lastError).toMatch(/^"?boom.x"?$/);
}

/** A reference MAS that accepts tasks and says `running`, but never completes one by itself. */
const neverCompletes = () => startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 5, completeAfterMs: 600_000 });

/** The U+0000 cases against one daemon on SQLite, or on a fresh PostgreSQL database (whose text cannot hold it). */
function describeNul(store: 'SQLite' | 'PostgreSQL'): void {
  describe(`U+0000 in the strings of a payload or a callback (${store})`, () => {
    let mas: ReferenceMas;
    let daemon: Daemon;
    let db: TestDatabase | undefined;
    const tmp = tempDir();
    beforeAll(async () => {
      if (store === 'PostgreSQL') db = await createTestDatabase('gitbridge_nul');
      mas = await neverCompletes();
      const onDatabase: Record<string, string> = db ? { GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_DATABASE_POOL_MAX: '3' } : {};
      ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url, ...onDatabase }));
    });
    afterAll(async () => {
      await daemon?.stop(500);
      await mas?.close();
      await db?.drop();
      tmp.cleanup();
    });
    it('every delivery is processed (or ignored), its task reaches the MAS; the callback is applied', () => nulInStrings(daemon, mas), 30_000);
  });
}
describeNul('SQLite');
describeNul('PostgreSQL');

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

  it('megabytes in a string GitBridge logs (a ping\'s zen, an action): the log line keeps 200 characters of it and says how much it left out', async () => {
    const zen = 'z'.repeat(1_000_000);
    const ping = await postDelivery(daemon.url, 'ping', JSON.stringify({ ...githubExample('ping'), zen }));
    expect(ping.status).toBe(200);
    const issue = await postDelivery(daemon.url, 'issues', JSON.stringify({ ...githubExample('issues', 'opened'), action: 'a'.repeat(100_000) }));
    expect(issue.status).toBe(202);
    const lines = await waitFor(() => {
      const found = readFileSync(`${tmp.dir}/logs/webhook.log`, 'utf8').split('\n').filter((l) => l.includes(ping.deliveryId) || (l.includes(issue.deliveryId) && l.includes('delivery accepted')));
      return found.length >= 2 ? found : null;
    }, 5_000, 'both log lines');
    for (const l of lines) expect(l.length).toBeLessThan(2_000);
    expect(lines.join('\n')).toContain(`…(+${1_000_000 - 200} chars)`);
    expect(lines.join('\n')).toContain(`…(+${100_000 - 200} chars)`);
  });

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
