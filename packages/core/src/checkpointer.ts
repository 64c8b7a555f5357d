import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The thread's code. Inline (eval) rather than a file next to this one, so
 * that it runs the same from `dist/` and from the TypeScript sources (tests).
 * It opens its own connection and checkpoints every `intervalMs` with
 * PASSIVE, which never takes the writer's lock. Under steady writes a
 * PASSIVE checkpoint never quite catches up (frames are appended while it
 * copies), so the WAL never starts over and would grow without bound. Once
 * it holds `restartFrames` frames, the thread asks the main thread to pause
 * its writers (`pause` → `go`), runs RESTART, which now finds no writer to
 * wait for and only has the frames written since the last PASSIVE left to
 * copy, and says `resumed`. The main thread never sleeps in SQLite's busy
 * handler waiting for it. A RESTART waits at most `restartWaitMs` for
 * readers of an old snapshot; when they keep it from finishing (a long
 * `.backup`), the next attempt waits 1 s, doubling up to 30 s, so that a
 * long reader cannot keep the writers paused.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const dbFd = fs.openSync(workerData.path, 'r');
let waiting = false;
// After a RESTART that readers kept from finishing (a long backup, say), do
// not pause the writers again for a while: 1 s, doubling up to 30 s.
let restartBackoffMs = 0;
let nextRestartAt = 0;
const report = (err) => parentPort.postMessage({ type: 'error', message: String(err && err.message), code: err && err.code });
const checkpoint = () => {
  if (waiting) return;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (r && r.log >= workerData.restartFrames && Date.now() >= nextRestartAt) {
      // A PASSIVE checkpoint that did not copy every frame does not fsync the
      // database file, so the pages it wrote are still dirty; RESTART would
      // flush them all while writers wait. Flush them here, without any lock,
      // and copy what arrived meanwhile, so that RESTART has little left to do.
      fs.fdatasyncSync(dbFd);
      db.pragma('wal_checkpoint(PASSIVE)');
      waiting = true;
      parentPort.postMessage({ type: 'pause' });
    }
  } catch (err) {
    report(err);
  }
};
const restart = () => {
  try {
    // Readers (the CLI) may hold an old snapshot; do not keep writers paused for them.
    db.pragma('busy_timeout = ' + workerData.restartWaitMs);
    const r = db.pragma('wal_checkpoint(RESTART)')[0];
    if (r && r.busy) throw Object.assign(new Error('readers kept the WAL from restarting'), { code: 'SQLITE_BUSY' });
    restartBackoffMs = 0;
  } catch (err) {
    restartBackoffMs = Math.min(30000, restartBackoffMs ? restartBackoffMs * 2 : 1000);
    nextRestartAt = Date.now() + restartBackoffMs;
    if (!err || err.code !== 'SQLITE_BUSY') report(err);
  } finally {
    db.pragma('busy_timeout = 5000');
    waiting = false;
    parentPort.postMessage({ type: 'resumed' });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'go') return restart();
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
  db.close();
  fs.closeSync(dbFd);
  parentPort.close();
});
`;

/** A running background checkpointer. */
export interface BackgroundCheckpointer {
  /** Asks the thread for a last checkpoint and to close its connection. */
  stop(): void;
}

/**
 * Runs the WAL checkpoints of the store at `path` on a background thread with
 * its own connection, so that the page copies and fsyncs of a checkpoint never
 * run inside a commit on the event loop. The caller's connection must have
 * `wal_autocheckpoint = 0`. `onFailure` is called once if the thread dies
 * (the caller should then checkpoint by itself again).
 */
export function startBackgroundCheckpointer(
  path: string,
  options: {
    intervalMs?: number;
    restartFrames?: number;
    /** How long a RESTART waits for readers of an old snapshot, ms (default 250); it is skipped after that. */
    restartWaitMs?: number;
    /**
     * Called when the thread wants to restart the WAL. The caller stops
     * starting write transactions, then calls `go()`; `onResume` follows when
     * the checkpoint is done. Without it the thread restarts without asking.
     */
    onPause?: (go: () => void) => void;
    onResume?: () => void;
    onError?: (err: { message: string; code?: string }) => void;
    onFailure?: (err: Error) => void;
  } = {},
): BackgroundCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { path, driver, intervalMs: options.intervalMs ?? 100, restartFrames: options.restartFrames ?? 16384, restartWaitMs: options.restartWaitMs ?? 250 },
  });
  worker.unref();
  let stopped = false;
  const go = () => {
    if (!stopped) worker.postMessage('go');
  };
  worker.on('message', (m: { type?: string; message: string; code?: string }) => {
    if (m?.type === 'error') options.onError?.(m);
    else if (m?.type === 'pause') {
      if (options.onPause) options.onPause(go);
      else go();
    } else if (m?.type === 'resumed') options.onResume?.();
  });
  const failed = (err: Error) => {
    if (stopped) return;
    stopped = true;
    options.onResume?.();
    options.onFailure?.(err);
  };
  worker.on('error', failed);
  worker.on('exit', (code) => failed(new Error(`checkpointer thread exited with code ${code}`)));
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      options.onResume?.();
      worker.postMessage('stop');
    },
  };
}
