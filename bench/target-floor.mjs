// Reference (c): the least a durable ingest can do, with none of gitbridged's
// features. node:http, the body read into one Buffer, HMAC-SHA256 over the
// raw bytes, JSON.parse, then one INSERT of (delivery id, body) per request
// into a one-table SQLite file (WAL, synchronous NORMAL), committed in groups
// of whatever arrived in the same event-loop turn, and 202 only after COMMIT.
// No allowlist, rate limit, metrics, logs, or processing.
//
// EXPERIMENT KNOBS (defaults = the measured floor; bench/FINDINGS-floor.md):
//   FLOOR_CKPT=auto|none|thread   auto: SQLite's automatic checkpoint inside
//                 the COMMIT on the event loop (FLOOR_AUTOCKPT pages, default
//                 1000); none: no checkpoint (the WAL grows without bound: an
//                 upper bound no service can keep); thread: PASSIVE checkpoints
//                 on a second thread (FLOOR_CKPT_MS apart, default 5), and a
//                 WAL restart once it holds FLOOR_WAL_MB (default 64).
//   FLOOR_PAGE=N  page size;  FLOOR_CACHE=N  cache_size (pages, or -KiB)
//   FLOOR_KEY=text|rowid  delivery id as TEXT PRIMARY KEY (dedupe, as
//                 gitbridged) or no key at all (rowid only)
//   FLOOR_SCHEMA=gitbridged  gitbridged's two tables, four indexes and row
//                 (kept headers as JSON, ids from the payload) instead of one table
//   FLOOR_HTTP=fastify  served by fastify (buffer body parser, async handler,
//                 JSON reply body) instead of plain node:http
//   FLOOR_THREAD=1  the INSERTs run on a second thread
//   FLOOR_DIR=D   where the database goes (default: the OS temp dir)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { serveTarget } from './ipc.mjs';

const require = createRequire(new URL('../packages/core/package.json', import.meta.url));
const Database = require('better-sqlite3');
const env = process.env;

const secret = env.BENCH_SECRET;
if (!secret) throw new Error('BENCH_SECRET is required');
const CKPT = env.FLOOR_CKPT ?? 'thread';
if (!['auto', 'none', 'thread'].includes(CKPT)) throw new Error(`FLOOR_CKPT=${CKPT}?`);
const dir = mkdtempSync(join(env.FLOOR_DIR ?? tmpdir(), 'gitbridge-floor-'));
const path = join(dir, 'floor.db');
const db = new Database(path);
if (env.FLOOR_PAGE) db.pragma('page_size = ' + env.FLOOR_PAGE);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (env.FLOOR_CACHE) db.pragma('cache_size = ' + env.FLOOR_CACHE);
db.pragma(`wal_autocheckpoint = ${CKPT === 'auto' ? (env.FLOOR_AUTOCKPT ?? 1000) : 0}`);
const key = env.FLOOR_KEY ?? 'text';
const SCHEMA = env.FLOOR_SCHEMA ?? 'one';
if (SCHEMA === 'gitbridged' && env.FLOOR_THREAD) throw new Error('FLOOR_SCHEMA=gitbridged runs without FLOOR_THREAD');
if (SCHEMA === 'gitbridged') {
  // gitbridged's two tables and their indexes (migrations 1-4), its INSERTs (Store.insertDeliveries).
  db.exec(`CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT, hook_id TEXT, repo TEXT,
      repo_id INTEGER, installation_id INTEGER, received_at TEXT NOT NULL, content_type TEXT NOT NULL, headers TEXT NOT NULL,
      size INTEGER NOT NULL, signature_slot INTEGER, source_ip TEXT, state TEXT NOT NULL, outcome TEXT,
      attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, lease_until INTEGER, last_error TEXT,
      processed_at TEXT, replay_of TEXT) STRICT;
    CREATE INDEX deliveries_received ON deliveries (received_at);
    CREATE INDEX deliveries_state ON deliveries (state);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_until) WHERE state = 'queued';
    CREATE TABLE delivery_bodies (delivery_id TEXT PRIMARY KEY, body BLOB NOT NULL) STRICT;`);
} else {
  db.exec(key === 'rowid'
    ? 'CREATE TABLE deliveries (delivery_id TEXT NOT NULL, body BLOB NOT NULL) STRICT'
    : 'CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, body BLOB NOT NULL) STRICT');
}
const INSERT_SQL = 'INSERT INTO deliveries (delivery_id, body) VALUES (?, ?) ON CONFLICT DO NOTHING';
let insertAll;
if (SCHEMA === 'gitbridged') {
  const row = db.prepare(`INSERT INTO deliveries (delivery_id, event, action, hook_id, repo, repo_id, installation_id, received_at,
      content_type, headers, size, signature_slot, source_ip, state, outcome, next_attempt_at, processed_at, replay_of)
      VALUES (@deliveryId, @event, @action, @hookId, @repo, @repoId, @installationId, @receivedAt, @contentType, @headers,
      @size, @signatureSlot, @sourceIp, @state, @outcome, @nextAttemptAt, @processedAt, @replayOf)
      ON CONFLICT (delivery_id) DO NOTHING`);
  const body = db.prepare('INSERT INTO delivery_bodies (delivery_id, body) VALUES (?, ?)');
  insertAll = db.transaction((rows) => {
    const now = Date.now();
    for (const r of rows) {
      const m = r.meta;
      const res = row.run({ deliveryId: r.id, event: m.event, action: m.action, hookId: m.hookId, repo: m.repo, repoId: m.repoId,
        installationId: m.installationId, receivedAt: m.receivedAt, contentType: 'json', headers: JSON.stringify(m.headers),
        size: r.body.byteLength, signatureSlot: 0, sourceIp: '127.0.0.1', state: 'queued', outcome: null, nextAttemptAt: now,
        processedAt: null, replayOf: null });
      if (res.changes === 1) body.run(r.id, r.body);
    }
  });
} else {
  const insert = db.prepare(INSERT_SQL);
  insertAll = db.transaction((rows) => {
    for (const r of rows) insert.run(r.id, r.body);
  });
}
/** FLOOR_SCHEMA=gitbridged: the columns gitbridged stores besides the body. */
const KEPT = ['x-github-event', 'x-github-delivery', 'x-github-hook-id', 'x-github-hook-installation-target-type',
  'x-github-hook-installation-target-id', 'user-agent', 'content-type'];
const metaOf = (headers, payload) => {
  const kept = {};
  for (const h of KEPT) if (typeof headers[h] === 'string') kept[h] = headers[h];
  return { event: String(headers['x-github-event']), action: payload.action ?? null, hookId: headers['x-github-hook-id'] ?? null,
    repo: payload.repository?.full_name ?? null, repoId: payload.repository?.id ?? null, installationId: payload.installation?.id ?? null,
    receivedAt: new Date().toISOString(), headers: kept };
};

let pending = [];
let commits = 0;
let rows = 0;
let walMax = 0;
const walSize = () => {
  try {
    return statSync(path + '-wal').size;
  } catch {
    return 0;
  }
};
const walTimer = setInterval(() => (walMax = Math.max(walMax, walSize())), 250);

// FLOOR_CKPT=thread: a second connection on its own thread runs PASSIVE
// checkpoints (they never take the writer's lock), so the copy and the fsyncs
// never run on the event loop. The writer starts the WAL over by itself at the
// first commit after a checkpoint that copied everything; under steady load
// that rarely happens on its own (a commit lands while the pass copies), so
// once the WAL holds FLOOR_WAL_MB (default 256) the thread asks the event loop
// to hold its commits (requests keep being read and queued) for one more
// pass, which then copies the last frames; the next commit restarts the WAL.
let ckptStats = null;
let holding = false;
const holdStats = { holds: 0, holdMs: 0, maxHoldMs: 0 };
let holdStart = 0;
const ckpt = CKPT === 'thread'
  ? new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.path, { fileMustExist: true });
      db.pragma('synchronous = NORMAL');
      const stats = { passes: 0, ms: 0, maxLogFrames: 0 };
      let stop = false;
      let drainedLog = -1;
      const pass = () => {
        const t = performance.now();
        const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
        stats.ms += performance.now() - t;
        stats.passes++;
        stats.maxLogFrames = Math.max(stats.maxLogFrames, r.log);
        return r;
      };
      const loop = () => {
        if (stop) return;
        const r = pass();
        // r.log stays put after a drain until the next commit restarts the WAL: no second hold for it.
        if (r.log >= workerData.limitFrames && !(r.log === drainedLog && r.checkpointed === r.log)) {
          parentPort.postMessage({ type: 'hold' });
        } else setTimeout(loop, workerData.ms);
      };
      parentPort.on('message', (m) => {
        if (m === 'held') {
          drainedLog = pass().log;
          parentPort.postMessage({ type: 'drained' });
          setTimeout(loop, workerData.ms);
        } else if (m === 'stats') parentPort.postMessage({ type: 'stats', stats });
        else if (m === 'stop') {
          stop = true;
          db.close();
          parentPort.close();
        }
      });
      loop();`, { eval: true, workerData: { path, driver: require.resolve('better-sqlite3'), ms: Number(env.FLOOR_CKPT_MS ?? 5), limitFrames: Math.ceil((Number(env.FLOOR_WAL_MB ?? 256) * 2 ** 20) / db.pragma('page_size', { simple: true })) } })
  : null;
ckpt?.on('message', (m) => {
  if (m.type === 'stats') ckptStats = m.stats;
  else if (m.type === 'hold') {
    // The event loop is between commits here (flush is synchronous): start no new one until drained.
    holding = true;
    holdStart = performance.now();
    if (inFlight.size === 0) ckpt.postMessage('held'); // else when the writer thread's last batch is in
  } else if (m.type === 'drained') {
    holding = false;
    const ms = performance.now() - holdStart;
    holdStats.holds++;
    holdStats.holdMs += ms;
    holdStats.maxHoldMs = Math.max(holdStats.maxHoldMs, ms);
    if (pending.length) flush();
  }
});

// FLOOR_THREAD=1: the INSERTs run on a second thread with its own connection;
// the event loop only hands each turn's rows over (bodies copied into one
// transferred buffer) and answers when the thread says the batch committed.
const thread = env.FLOOR_THREAD
  ? new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.path);
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('wal_autocheckpoint = ' + workerData.autockpt);
      const insert = db.prepare(workerData.sql);
      const insertAll = db.transaction((ids, buf, offsets) => {
        for (let i = 0; i < ids.length; i++) insert.run(ids[i], Buffer.from(buf, offsets[i], offsets[i + 1] - offsets[i]));
      });
      parentPort.on('message', ({ seq, ids, buf, offsets }) => {
        try { insertAll.immediate(ids, buf, offsets); parentPort.postMessage({ seq, ok: true }); }
        catch { parentPort.postMessage({ seq, ok: false }); }
      });`, { eval: true, workerData: { path, sql: INSERT_SQL, autockpt: CKPT === 'auto' ? (env.FLOOR_AUTOCKPT ?? 1000) : 0, driver: require.resolve('better-sqlite3') } })
  : null;
const inFlight = new Map();
let seq = 0;
thread?.on('message', ({ seq: s, ok }) => {
  const batch = inFlight.get(s);
  inFlight.delete(s);
  if (ok) {
    commits++;
    rows += batch.length;
  }
  for (const r of batch) r.answer(ok ? 202 : 503);
  if (holding && inFlight.size === 0) ckpt?.postMessage('held');
});
const flush = () => {
  if (holding) return; // flushed when the checkpoint thread has drained the WAL
  const batch = pending;
  pending = [];
  if (thread) {
    const total = batch.reduce((n, r) => n + r.body.length, 0);
    const buf = new ArrayBuffer(total);
    const view = new Uint8Array(buf);
    const offsets = [0];
    for (const r of batch) {
      view.set(r.body, offsets[offsets.length - 1]);
      offsets.push(offsets[offsets.length - 1] + r.body.length);
    }
    inFlight.set(++seq, batch);
    thread.postMessage({ seq, ids: batch.map((r) => r.id), buf, offsets }, [buf]);
    return;
  }
  try {
    insertAll.immediate(batch);
    commits++;
    rows += batch.length;
    for (const r of batch) r.answer(202);
  } catch {
    for (const r of batch) r.answer(503);
  }
};

/** What the floor does with a request once its body is in: verify, parse, queue for the next group commit. */
const ingest = (headers, body, answer) => {
  const sig = String(headers['x-hub-signature-256'] ?? '');
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  if (sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), expected)) return void answer(401);
  let payload;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return void answer(400);
  }
  pending.push({ id: String(headers['x-github-delivery']), body, answer, meta: SCHEMA === 'gitbridged' ? metaOf(headers, payload) : null });
  if (pending.length === 1) setImmediate(flush);
};

let port;
let close;
if (env.FLOOR_HTTP === 'fastify') {
  // FLOOR_HTTP=fastify: the same ingest behind fastify (buffer body parser, async handler, JSON reply), as gitbridged serves it.
  const require2 = createRequire(new URL('../packages/daemon/package.json', import.meta.url));
  const app = require2('fastify')({ logger: false, bodyLimit: 25 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/webhook', (req, reply) => new Promise((resolve) => {
    const id = String(req.headers['x-github-delivery']);
    ingest(req.headers, req.body, (status) => resolve(reply.code(status).send(status === 202 ? { delivery_id: id, status: 'accepted' } : undefined)));
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = app.server.address().port;
  close = async () => {
    app.server.closeAllConnections();
    await app.close();
  };
} else {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ingest(req.headers, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), (status) => res.writeHead(status).end()));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  port = server.address().port;
  close = () => new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  });
}

const stats = async () => {
  if (ckpt) {
    const got = new Promise((r) => {
      const on = (m) => m.type === 'stats' && (ckpt.off('message', on), r());
      ckpt.on('message', on);
    });
    ckpt.postMessage('stats');
    await got;
  }
  return { commits, rows, walMaxBytes: Math.max(walMax, walSize()), ckpt: ckpt ? { ...ckptStats, ...holdStats } : null };
};

serveTarget({
  port,
  report: stats,
  stop: async () => {
    await close();
    const s = await stats();
    clearInterval(walTimer);
    await thread?.terminate();
    if (ckpt) {
      const exited = new Promise((r) => ckpt.once('exit', r));
      ckpt.postMessage('stop');
      await exited;
    }
    db.close();
    rmSync(dir, { recursive: true, force: true });
    return s;
  },
});
