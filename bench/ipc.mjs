// Child side of the bench protocol (see run.mjs). A target calls
// serveTarget() once its server listens; the parent then drives it over IPC:
//   → {type:'mark'}    start of the measured window: reset CPU / event-loop counters
//   ← {type:'marked'}
//   → {type:'report'}  end of the measured window
//   ← {type:'report', cpuMs, wallMs, elu, loopDelay: {p50Ms, p99Ms, maxMs}, window: {startUs, endUs}, extra}
//   → {type:'stop'}    close gracefully
//   ← {type:'stopped', extra}   then the child exits
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/**
 * @param {object} t
 * @param {number} t.port the port the target listens on (127.0.0.1)
 * @param {() => Promise<object|undefined>} [t.report] extra data for the report message
 * @param {() => Promise<object|undefined>} t.stop closes the server; may return extra data
 */
export function serveTarget(t) {
  if (!process.send) throw new Error('bench targets run under bench/run.mjs (child_process.fork)');
  // Never outlive the parent.
  process.on('disconnect', () => process.exit(1));
  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  let wall = performance.now();
  // The measured window on CLOCK_MONOTONIC in µs, the clock of V8's CPU profiles (to cut a --cpu-prof profile to it).
  const monoUs = () => Number(process.hrtime.bigint() / 1000n);
  let windowStartUs = monoUs();
  // BENCH_NO_LOOP_DELAY=1 (experiments only): no event-loop delay histogram, to measure what it costs.
  const delay = process.env.BENCH_NO_LOOP_DELAY
    ? { reset() {}, enable() {}, disable() {}, percentile: () => NaN, max: NaN }
    : monitorEventLoopDelay({ resolution: 5 });
  process.on('message', async (msg) => {
    try {
      if (msg?.type === 'mark') {
        cpu = process.cpuUsage();
        elu = performance.eventLoopUtilization();
        wall = performance.now();
        windowStartUs = monoUs();
        delay.reset();
        delay.enable();
        process.send({ type: 'marked' });
      } else if (msg?.type === 'report') {
        const c = process.cpuUsage(cpu);
        const e = performance.eventLoopUtilization(elu);
        delay.disable();
        const loopDelay = { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 };
        const extra = t.report ? await t.report() : undefined;
        const window = { startUs: windowStartUs, endUs: monoUs() };
        process.send({ type: 'report', cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - wall, elu: e.utilization, loopDelay, window, extra });
      } else if (msg?.type === 'stop') {
        const extra = await t.stop();
        process.send({ type: 'stopped', extra }, () => process.exit(0));
      }
    } catch (err) {
      process.send({ type: 'error', message: String(err?.stack ?? err) }, () => process.exit(1));
    }
  });
  process.send({ type: 'ready', port: t.port, pid: process.pid });
}
