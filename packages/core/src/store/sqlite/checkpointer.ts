import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { settledWithin } from '../../util.js';

/**
 * The thread's code. Inline (eval) rather than a file next to this one, so
 * that it runs the same from `dist/` and from the TypeScript sources (tests).
 * It opens its own connection and checkpoints every `intervalMs` with
 * PASSIVE, which never takes the writer's lock. Under steady writes a
 * PASSIVE checkpoint never quite catches up (frames are appended while it
 * copies), so the WAL never starts over and would grow without bound. So:
 *
 * 1. Once the WAL holds `restartFrames` frames AND the last PASSIVE left at
 *    most `maxBacklogFrames` uncopied (no reader pins old frames, the copy
 *    keeps up), the thread fdatasyncs the database file (a PASSIVE that did
 *    not copy everything does not, and RESTART would otherwise flush all
 *    those pages under the lock) and asks the main thread to pause its
 *    writers (`pause` → `go`).
 * 2. With writers paused it runs PASSIVE again: with no writer competing, it
 *    copies the few frames left. Only if that copied everything does it run
 *    RESTART, which then has nothing to copy and only waits (at most
 *    `restartWaitMs`) for readers to move off the WAL; then `resumed`.
 * 3. When a reader keeps frames pinned or RESTART from finishing, writers
 *    resume at once and the next attempt waits 1 s, doubling up to 30 s.
 *
 * A large backlog is therefore only ever copied by PASSIVE, without any lock,
 * and the main thread never sleeps in SQLite's busy handler for a checkpoint.
 * After a RESTART, PASSIVE keeps reporting the old WAL size until a write
 * starts the WAL over; that size is remembered so an idle store is not
 * paused again and again.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const dbFd = fs.openSync(workerData.path, 'r');
let waiting = false;
let restartBackoffMs = 0;
let nextRestartAt = 0;
let restartedLog = -1;
const report = (err) => parentPort.postMessage({ type: 'error', message: String(err && err.message), code: err && err.code });
const busy = (message) => Object.assign(new Error(message), { code: 'SQLITE_BUSY' });
const checkpoint = () => {
  if (waiting) return;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (!r || r.log < workerData.restartFrames || Date.now() < nextRestartAt) return;
    if (r.log === restartedLog) return; // restarted already, no write since
    if (r.log - r.checkpointed > workerData.maxBacklogFrames) return; // keep copying without a lock
    fs.fdatasyncSync(dbFd);
    waiting = true;
    parentPort.postMessage({ type: 'pause' });
  } catch (err) {
    report(err);
  }
};
const restart = () => {
  try {
    const p = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (p && p.checkpointed < p.log) throw busy('a reader needs frames that are not in the database file yet');
    db.pragma('busy_timeout = ' + workerData.restartWaitMs);
    const r = db.pragma('wal_checkpoint(RESTART)')[0];
    if (r && r.busy) throw busy('readers kept the WAL from restarting');
    restartedLog = r ? r.log : -1;
    restartBackoffMs = 0;
  } catch (err) {
    restartBackoffMs = Math.min(30000, restartBackoffMs ? restartBackoffMs * 2 : 1000);
    nextRestartAt = Date.now() + restartBackoffMs;
    if (!err || err.code !== 'SQLITE_BUSY') report(err);
  } finally {
    try { db.pragma('busy_timeout = 5000'); } catch {}
    waiting = false;
    parentPort.postMessage({ type: 'resumed' });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'go') return restart();
  if (m !== 'stop') return;
  clearInterval(timer);
  // The last checkpoint waits at most 1 s for readers (a backup holding a snapshot): the store's close must stay short.
  // A full disk or an I/O error is reported (the WAL then stays as it is, and the next start reads it); a reader that held on is not.
  try { db.pragma('busy_timeout = 1000'); db.pragma('wal_checkpoint(TRUNCATE)'); } catch (err) { if (!err || err.code !== 'SQLITE_BUSY') report(err); }
  db.close();
  fs.closeSync(dbFd);
  parentPort.close();
});
`;

/** A running background checkpointer. */
export interface BackgroundCheckpointer {
  /**
   * Asks the thread for a last checkpoint and to close its connection.
   * Resolves when the thread has exited: its connection is closed and it will
   * touch no file again (the WAL and shared-memory files included). Its last
   * checkpoint waits at most 1 s for readers; a thread that has not exited
   * after `timeoutMs` (default 2,000 ms) is terminated.
   * Never rejects.
   */
  stop(timeoutMs?: number): Promise<void>;
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
    /** How long a RESTART waits for readers of an old snapshot, ms (default 100); it is skipped after that. */
    restartWaitMs?: number;
    /** Pause writers only when the last PASSIVE left at most this many frames uncopied (default 1024, 4 MB). */
    maxBacklogFrames?: number;
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
    workerData: { path, driver, intervalMs: options.intervalMs ?? 100, restartFrames: options.restartFrames ?? 65536, restartWaitMs: options.restartWaitMs ?? 100, maxBacklogFrames: options.maxBacklogFrames ?? 1024 },
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
  const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', failed);
  worker.on('exit', (code) => failed(new Error(`checkpointer thread exited with code ${code}`)));
  let stopping: Promise<void> | undefined;
  return {
    stop(timeoutMs = 2000) {
      if (stopping) return stopping;
      stopped = true;
      options.onResume?.();
      // Referenced from here on: a process with nothing else left to do (a
      // daemon at the end of its shutdown) must not exit before the thread
      // has closed its connection and the caller has gone on. (A thread that
      // already exited ignores both calls, and `exit` has resolved.)
      worker.ref();
      worker.postMessage('stop');
      stopping = settledWithin(exit, timeoutMs).then(async (exited) => {
        if (!exited) await worker.terminate().catch(() => undefined);
      });
      return stopping;
    },
  };
}
