// Reference (c): the least a durable ingest can do, with none of gitbridged's
// features. node:http, the body read into one Buffer, HMAC-SHA256 over the
// raw bytes, JSON.parse, then one INSERT of (delivery id, body) per request
// into a one-table SQLite file (WAL, synchronous NORMAL, default automatic
// checkpoints), committed in groups of whatever arrived in the same
// event-loop turn, and 202 only after COMMIT. No allowlist, rate limit,
// metrics, logs, or processing. It shows what durability alone costs on this
// machine: gitbridged cannot be faster than this, and neither can anything
// else that commits a delivery before answering on one event loop.
//
// Two knobs for experiments (docs/ingest-performance.md quotes both):
// FLOOR_NOCKPT=1 turns checkpoints off (the WAL grows without bound: an upper
// bound that no long-running service can keep), FLOOR_PAGE=N sets the page size,
// FLOOR_THREAD=1 moves the INSERTs to a second thread.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { serveTarget } from './ipc.mjs';

const require = createRequire(new URL('../packages/core/package.json', import.meta.url));
const Database = require('better-sqlite3');

const secret = process.env.BENCH_SECRET;
if (!secret) throw new Error('BENCH_SECRET is required');
const dir = mkdtempSync(join(tmpdir(), 'gitbridge-floor-'));
const db = new Database(join(dir, 'floor.db'));
if (process.env.FLOOR_PAGE) db.pragma('page_size = ' + process.env.FLOOR_PAGE);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (process.env.FLOOR_NOCKPT) db.pragma('wal_autocheckpoint = 0');
db.exec('CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, body BLOB NOT NULL) STRICT');
const insert = db.prepare('INSERT INTO deliveries (delivery_id, body) VALUES (?, ?) ON CONFLICT DO NOTHING');
const insertAll = db.transaction((rows) => {
  for (const r of rows) insert.run(r.id, r.body);
});

let pending = [];
let commits = 0;
let rows = 0;
// FLOOR_THREAD=1: the INSERTs run on a second thread with its own connection;
// the event loop only hands each turn's rows over (bodies copied into one
// transferred buffer) and answers when the thread says the batch committed.
const thread = process.env.FLOOR_THREAD
  ? new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.path);
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      const insert = db.prepare('INSERT INTO deliveries (delivery_id, body) VALUES (?, ?) ON CONFLICT DO NOTHING');
      const insertAll = db.transaction((ids, buf, offsets) => {
        for (let i = 0; i < ids.length; i++) insert.run(ids[i], Buffer.from(buf, offsets[i], offsets[i + 1] - offsets[i]));
      });
      parentPort.on('message', ({ seq, ids, buf, offsets }) => {
        try { insertAll.immediate(ids, buf, offsets); parentPort.postMessage({ seq, ok: true }); }
        catch { parentPort.postMessage({ seq, ok: false }); }
      });`, { eval: true, workerData: { path: join(dir, 'floor.db'), driver: require.resolve('better-sqlite3') } })
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
  for (const r of batch) r.res.writeHead(ok ? 202 : 503).end();
});
const flush = () => {
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
    for (const r of batch) r.res.writeHead(202).end();
  } catch {
    for (const r of batch) r.res.writeHead(503).end();
  }
};

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const sig = String(req.headers['x-hub-signature-256'] ?? '');
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
    if (sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), expected)) return void res.writeHead(401).end();
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      return void res.writeHead(400).end();
    }
    pending.push({ id: String(req.headers['x-github-delivery']), body, res });
    if (pending.length === 1) setImmediate(flush);
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});

serveTarget({
  port: server.address().port,
  report: async () => ({ commits, rows }),
  stop: () =>
    new Promise((resolve) => {
      server.close(async () => {
        await thread?.terminate();
        db.close();
        rmSync(dir, { recursive: true, force: true });
        resolve({ commits, rows });
      });
      server.closeAllConnections();
    }),
});
