import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The thread's code. Inline (eval) rather than a file next to this one, so
 * that it runs the same from `dist/` and from the TypeScript sources (tests).
 * It opens its own connection and checkpoints every `intervalMs`: PASSIVE
 * (never takes the writer's lock), and RESTART once the WAL holds
 * `restartFrames` frames (default 65536: 256 MB of 4 KB pages). Under
 * sustained writes a PASSIVE checkpoint never quite catches up, so the WAL
 * never starts over; RESTART does, but it holds the writer's lock while it
 * finishes, which stalls the daemon's commits for tens of ms, so it is kept
 * for the case where the WAL would otherwise grow without bound.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (r && r.log >= workerData.restartFrames) db.pragma('wal_checkpoint(RESTART)');
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message), code: err && err.code });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
  db.close();
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
  options: { intervalMs?: number; restartFrames?: number; onError?: (err: { message: string; code?: string }) => void; onFailure?: (err: Error) => void } = {},
): BackgroundCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { path, driver, intervalMs: options.intervalMs ?? 100, restartFrames: options.restartFrames ?? 65536 },
  });
  worker.unref();
  let stopped = false;
  worker.on('message', (m: { type?: string; message: string; code?: string }) => {
    if (m?.type === 'error') options.onError?.(m);
  });
  const failed = (err: Error) => {
    if (stopped) return;
    stopped = true;
    options.onFailure?.(err);
  };
  worker.on('error', failed);
  worker.on('exit', (code) => failed(new Error(`checkpointer thread exited with code ${code}`)));
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      worker.postMessage('stop');
    },
  };
}
