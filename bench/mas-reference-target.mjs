// The reference MAS (packages/mas-reference, startReferenceMas) in its own
// process, for the end-to-end and backlog-drain figures of bench/run.mjs.
//
// It records, for every task it creates (the first successful submission of
// an Idempotency-Key, `created: true` in its `submission` event), a
// high-resolution acceptance time: performance.timeOrigin +
// performance.now(), taken synchronously in the MAS's onEvent listener, i.e.
// right after the task was created and before the 201 is written. The parent
// reads those times over IPC; a ping-pong of `clock` messages lets it
// estimate the offset between this process's clock and its own.
//
// Environment:
//   BENCH_MAS_CALLBACK_SECRET  secret that signs callbacks (the daemon's GITBRIDGE_MAS_CALLBACK_SECRET)
//   BENCH_MAS_START_DOWN=1     refuse connections from the start (failureModes.refuseConnections)
//                              until the parent sends {type:'up'}
//   BENCH_MAS_CALLBACKS=off    send no callbacks during the run (the lifecycle timers are pushed
//                              past any bench's end; close() cancels them)
//
// IPC (besides mark / report / stop from ipc.mjs):
//   → {type:'clock'}                ← {type:'clock', t}
//   → {type:'up'}                   ← {type:'up', at}   listening again (after BENCH_MAS_START_DOWN)
//   → {type:'stats'}                ← {type:'stats', created, submissions, statuses, firstAt, lastAt, callbacks, callbackFailures}
//   → {type:'times'}                ← {type:'times', entries: [[deliveryId, idempotencyKey, at], …]}
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { serveTarget } from './ipc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { startReferenceMas } = await import(pathToFileURL(join(ROOT, 'packages/mas-reference/dist/index.js')).href);

const now = () => performance.timeOrigin + performance.now();

const created = []; // [deliveryId, idempotencyKey, at]
let submissions = 0;
const statuses = {};
let callbacks = 0;
let callbackFailures = 0;

const callbacksOff = process.env.BENCH_MAS_CALLBACKS === 'off';
const mas = await startReferenceMas({
  host: '127.0.0.1',
  port: 0,
  callbackSecret: process.env.BENCH_MAS_CALLBACK_SECRET || 'bench-callback-secret',
  ...(callbacksOff ? { callbackDelayMs: 3_600_000 } : {}),
  onEvent(e) {
    if (e.event === 'submission') {
      submissions++;
      statuses[e.status_code] = (statuses[e.status_code] ?? 0) + 1;
      if (e.created) created.push([e.delivery_id, e.idempotency_key, now()]);
    } else if (e.event === 'callback') {
      callbacks++;
      if (!(e.status_code >= 200 && e.status_code < 300)) callbackFailures++;
    }
  },
});

let down = null;
if (process.env.BENCH_MAS_START_DOWN === '1') {
  // Resolves once listening again (after reset()).
  down = mas.failureModes.refuseConnections(2_000_000_000);
}

process.on('message', async (msg) => {
  try {
    switch (msg?.type) {
      case 'clock':
        process.send({ type: 'clock', t: now() });
        break;
      case 'up': {
        if (down) {
          mas.failureModes.reset();
          await down;
          down = null;
        }
        process.send({ type: 'up', at: now() });
        break;
      }
      case 'stats':
        process.send({
          type: 'stats',
          created: created.length,
          submissions,
          statuses,
          firstAt: created[0]?.[2] ?? null,
          lastAt: created.at(-1)?.[2] ?? null,
          callbacks,
          callbackFailures,
        });
        break;
      case 'times':
        process.send({ type: 'times', entries: created });
        break;
      default:
        break;
    }
  } catch (err) {
    process.send({ type: 'error', message: String(err?.stack ?? err) });
  }
});

serveTarget({
  port: mas.port,
  stop: async () => {
    await mas.close();
    return { created: created.length, submissions };
  },
});
