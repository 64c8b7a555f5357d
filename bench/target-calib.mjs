// Calibration target (not in the default set; `--targets calib,floor`): a
// minimal durable ingest written from scratch, independently of
// target-floor.mjs, to check that the floor measures what it claims.
// node:http, raw body, HMAC-SHA256 verify, JSON.parse, one INSERT of the
// body per delivery into a one-table SQLite WAL file (synchronous=NORMAL,
// SQLite's default automatic checkpoint), every request that completed in
// one event-loop turn committed together, 202 after COMMIT.
//
// CALIB_DIR puts the database in another directory (default: OS temp dir);
// CALIB_AUTOCKPT=N sets wal_autocheckpoint (0: no checkpoint at all, an upper bound).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveTarget } from './ipc.mjs';

const Database = createRequire(new URL('../packages/core/package.json', import.meta.url))('better-sqlite3');
const key = process.env.BENCH_SECRET;
const dir = mkdtempSync(join(process.env.CALIB_DIR ?? tmpdir(), 'gitbridge-calib-'));
const db = new Database(join(dir, 'c.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (process.env.CALIB_AUTOCKPT) db.pragma(`wal_autocheckpoint = ${Number(process.env.CALIB_AUTOCKPT)}`);
db.exec('CREATE TABLE d (id TEXT PRIMARY KEY, body BLOB NOT NULL)');
const ins = db.prepare('INSERT OR IGNORE INTO d VALUES (?, ?)');
const begin = db.prepare('BEGIN');
const commit = db.prepare('COMMIT');

let queue = [];
let rows = 0;
let commits = 0;
function flush() {
  const q = queue;
  queue = [];
  let status = 202;
  try {
    begin.run();
    for (const x of q) ins.run(x.id, x.body);
    commit.run();
    rows += q.length;
    commits++;
  } catch {
    if (db.inTransaction) db.exec('ROLLBACK');
    status = 503;
  }
  for (const x of q) x.res.writeHead(status).end();
}

const server = createServer((req, res) => {
  const parts = [];
  req.on('data', (p) => parts.push(p));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    const got = Buffer.from(String(req.headers['x-hub-signature-256'] ?? '').replace(/^sha256=/, ''), 'hex');
    const want = createHmac('sha256', key).update(body).digest();
    if (got.length !== want.length || !timingSafeEqual(got, want)) return void res.writeHead(401).end();
    try {
      JSON.parse(body.toString());
    } catch {
      return void res.writeHead(400).end();
    }
    if (queue.push({ id: String(req.headers['x-github-delivery']), body, res }) === 1) setImmediate(flush);
  });
});
server.listen(0, '127.0.0.1', () =>
  serveTarget({
    port: server.address().port,
    report: async () => ({ rows, commits }),
    stop: () =>
      new Promise((done) => {
        server.close(() => {
          db.close();
          rmSync(dir, { recursive: true, force: true });
          done({ rows, commits });
        });
        server.closeAllConnections();
      }),
  }),
);
