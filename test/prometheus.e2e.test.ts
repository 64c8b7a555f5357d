import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, freePort, githubExample, postDelivery, startCallbackDaemon, tempDir, waitFor } from './helpers/index.js';

// A real Prometheus (Debian's `prometheus` package; .ci/run installs it)
// scrapes a real gitbridged with the shipped scrape configuration, and every
// PromQL expression of the shipped Grafana dashboard is evaluated against it.

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS_YML = new URL('../examples/prometheus/prometheus.yml', import.meta.url);
const DASHBOARD = new URL('../examples/grafana/dashboards/gitbridge-webhook-flow.json', import.meta.url);
/** The scrape target as shipped (gitbridged on the Docker host, default port). */
const SHIPPED_TARGET = 'host.docker.internal:3000';
/** What Grafana's interval variables stand for here (1 s scrapes, the whole run is well under a minute). */
const GRAFANA_VARIABLES: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '1m' };

const haveProm = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
if (!haveProm && process.env.CI) throw new Error(`Prometheus is required in CI but ${PROMETHEUS} / ${PROMTOOL} are missing (apt-get install -y prometheus)`);
if (!haveProm) console.warn(`SKIPPING the Prometheus end-to-end test: ${PROMETHEUS} is missing (apt-get install -y prometheus)`);

interface Target { refId: string; expr: string }
interface Panel { title: string; type: string; targets?: Target[]; panels?: Panel[] }
interface Sample { metric: Record<string, string>; value: [number, string] }
interface PromResponse<T> { status: string; data: T; errorType?: string; error?: string; warnings?: string[] }

/** Every panel target of the dashboard, rows included. */
function dashboardQueries(): { panel: string; refId: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const out: { panel: string; refId: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ panel: p.title, refId: t.refId, expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(dash.panels);
  return out;
}

/** Replaces Grafana's `$__rate_interval` etc.; any other `$variable` is an error. */
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (m, name: string) => {
    const v = GRAFANA_VARIABLES[name];
    if (v === undefined) throw new Error(`dashboard expression uses ${m}, which this test does not know how to substitute: ${expr}`);
    return v;
  });
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const queries = haveProm ? dashboardQueries() : [];

describe.skipIf(!haveProm)('Prometheus with the shipped scrape configuration and the Grafana dashboard', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  let mas: ReferenceMas;
  let daemon: Daemon;
  let prom: ChildProcess | undefined;
  let promLog = '';
  let promUrl = '';
  let configPath = '';
  let promtool: { code: number; stdout: string; stderr: string };
  const killProm = () => prom?.kill('SIGKILL');

  async function api<T>(path: string, params: Record<string, string> = {}): Promise<PromResponse<T>> {
    const res = await fetch(`${promUrl}${path}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(5_000) });
    return (await res.json()) as PromResponse<T>;
  }

  async function instant(expr: string): Promise<PromResponse<{ resultType: string; result: Sample[] }>> {
    return api('/api/v1/query', { query: expr });
  }

  /** Successful scrapes of the gitbridged job so far. */
  async function scrapes(): Promise<number> {
    const r = await instant('sum(count_over_time(up{job="gitbridged"}[10m]))');
    return r.status === 'success' && r.data.result[0] ? Number(r.data.result[0].value[1]) : 0;
  }

  async function waitForScrapes(n: number, what: string) {
    const start = await scrapes();
    await waitFor(async () => (await scrapes()) >= start + n, 15_000, `${n} more scrapes ${what}`);
  }

  /**
   * One round of real signed deliveries: a PR opened and a failed check run
   * (both become MAS tasks, the first submission answered 503 and retried),
   * a ping and one with a bad signature. Waits until every task is accepted.
   */
  async function deliveries(round: number) {
    const submissionsBefore = mas.submissions.filter((s) => s.status_code === 503).length;
    mas.failureModes.failNext(1, 503);
    const pr = githubExample('pull_request', 'opened') as Record<string, any>;
    pr.number = 1000 + round;
    const checkRun = githubExample('check_run', 'completed') as Record<string, any>;
    checkRun.check_run = { ...checkRun.check_run, status: 'completed', conclusion: 'failure' };

    const accepted = [
      await postDelivery(daemon.url, 'pull_request', JSON.stringify(pr)),
      await postDelivery(daemon.url, 'check_run', JSON.stringify(checkRun)),
    ];
    expect(accepted.map((r) => r.status)).toEqual([202, 202]);
    const ping = await postDelivery(daemon.url, 'ping', JSON.stringify(githubExample('ping')));
    expect(ping.status).toBe(200);
    const forged = await postDelivery(daemon.url, 'pull_request', JSON.stringify(pr), { signature: `sha256=${'0'.repeat(64)}` });
    expect(forged.status).toBe(401);

    await waitFor(() => mas.submissions.filter((s) => s.status_code === 503).length > submissionsBefore, 10_000, 'the injected MAS failure');
    for (const r of accepted) {
      await waitFor(async () => {
        const tasks = await daemon.store.tasksForDelivery(r.deliveryId);
        return tasks.length > 0 && tasks.every((t) => t.taskId !== null);
      }, 15_000, `the tasks of ${r.deliveryId} accepted by the MAS`);
    }
  }

  beforeAll(async () => {
    tmp = tempDir('gitbridge-prometheus-');
    mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 10, completeAfterMs: 10 });
    ({ daemon } = await startCallbackDaemon(tmp.dir, { GITBRIDGE_MAS_URL: mas.url }));
    const daemonAddress = new URL(daemon.url).host;
    expect(daemonAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    // Counters exist (and have a first value) before Prometheus starts, so
    // that the second round below shows up as a rate.
    await deliveries(1);

    // The shipped configuration with only the target and the interval changed.
    const shipped = readFileSync(PROMETHEUS_YML, 'utf8');
    expect(shipped.split(SHIPPED_TARGET)).toHaveLength(2);
    const config = shipped.replace(SHIPPED_TARGET, daemonAddress).replace(/^(\s*scrape_interval:\s*)\S+/gm, '$11s');
    const changed = shipped.split('\n').map((line, i) => [line, config.split('\n')[i]]).filter(([a, b]) => a !== b);
    expect(changed.length).toBeGreaterThanOrEqual(2);
    for (const [before] of changed) expect(before).toMatch(/host\.docker\.internal:3000|scrape_interval:/);
    configPath = join(tmp.dir, 'prometheus.yml');
    writeFileSync(configPath, config);

    promtool = await run(PROMTOOL, ['check', 'config', configPath]);
    if (promtool.code !== 0) throw new Error(`promtool check config failed:\n${promtool.stdout}${promtool.stderr}`);

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(tmp.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    process.once('exit', killProm);
    let exited: number | null | undefined;
    prom.on('exit', (code) => { exited = code; });
    prom.stdout!.on('data', (c: Buffer) => { promLog += c.toString(); });
    prom.stderr!.on('data', (c: Buffer) => { promLog += c.toString(); });

    await waitFor(async () => {
      if (exited !== undefined) throw new Error(`prometheus exited with ${exited}:\n${promLog}`);
      try {
        const r = await api<{ activeTargets: { labels: Record<string, string>; health: string }[] }>('/api/v1/targets');
        return r.data.activeTargets.some((t) => t.labels.job === 'gitbridged' && t.health === 'up');
      } catch {
        return false;
      }
    }, 20_000, 'the gitbridged target up in Prometheus');
    await waitForScrapes(2, 'before the second round');

    await deliveries(2);
    await waitForScrapes(3, 'after the second round');
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const done = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 5_000))]);
      if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL');
    }
    process.off('exit', killProm);
    await daemon?.stop();
    await mas?.close();
    tmp?.cleanup();
  }, 30_000);

  it('promtool accepts the shipped configuration (target and interval rewritten)', () => {
    expect(promtool.code).toBe(0);
    expect(promtool.stdout + promtool.stderr).toMatch(/SUCCESS/);
  });

  it('scrapes gitbridged: the target is up with the shipped job', async () => {
    const r = await instant('up{job="gitbridged"}');
    expect(r.status).toBe('success');
    expect(r.data.result).toHaveLength(1);
    expect(r.data.result[0]!.value[1]).toBe('1');
    expect(r.data.result[0]!.metric.instance).toBe(new URL(daemon.url).host);
  });

  it('the dashboard has queries', () => {
    expect(queries.length).toBeGreaterThanOrEqual(9);
  });

  for (const q of queries) {
    it(`${q.panel} [${q.refId}]: ${q.expr}`, async () => {
      const expr = substitute(q.expr);
      const r = await instant(expr);
      expect(r.error, `${expr}: ${r.errorType} ${r.error}`).toBeUndefined();
      expect(r.status).toBe('success');
      expect(r.data.resultType).toBe('vector');
      expect(r.data.result.length, `no data for ${expr}`).toBeGreaterThan(0);
      // Real numbers, not only NaN (a histogram_quantile over no observations).
      expect(r.data.result.some((s) => Number.isFinite(Number(s.value[1]))), `only NaN for ${expr}: ${JSON.stringify(r.data.result)}`).toBe(true);
      // And the range query Grafana sends over the last minute works too.
      const now = Date.now() / 1000;
      const range = await api<{ resultType: string; result: unknown[] }>('/api/v1/query_range', { query: expr, start: String(now - 60), end: String(now), step: '1' });
      expect(range.status).toBe('success');
      expect(range.data.resultType).toBe('matrix');
      expect(range.data.result.length).toBeGreaterThan(0);
    });
  }

  it('the series the panels are about are there: status codes, event types, rejection reasons, MAS outcomes, task states', async () => {
    const labels = async (expr: string, label: string) => new Set((await instant(substitute(expr))).data.result.map((s) => s.metric[label]));
    const exprFor = (metric: string) => {
      const q = queries.find((x) => x.expr.includes(metric));
      expect(q, `a panel over ${metric}`).toBeDefined();
      return q!.expr;
    };
    const codes = await labels(exprFor('gitbridge_webhook_request_duration_seconds_count'), 'status_code');
    for (const c of ['200', '202', '401']) expect(codes).toContain(c);
    const types = await labels(exprFor('gitbridge_webhook_events_total'), 'type');
    for (const t of ['pull_request', 'check_run', 'ping']) expect(types).toContain(t);
    expect(await labels(exprFor('gitbridge_webhook_rejections_total'), 'reason')).toContain('signature');
    const outcomes = await labels(exprFor('gitbridge_mas_submissions_total['), 'outcome');
    for (const o of ['accepted', 'retryable_error']) expect(outcomes).toContain(o);
    const failures = queries.find((x) => x.expr.includes('gitbridge_mas_submissions_total{outcome!="accepted"}'));
    expect(failures).toBeDefined();
    const failed = await instant(substitute(failures!.expr));
    expect(failed.data.result.find((s) => s.metric.outcome === 'retryable_error')?.value[1]).not.toBe('0');
    expect(await labels(exprFor('gitbridge_tasks'), 'status')).toContain('completed');
    // A delivery id never becomes a label (bounded cardinality).
    const series = await api<Record<string, string>[]>('/api/v1/series', { 'match[]': '{job="gitbridged", __name__=~"gitbridge_.+"}' });
    expect(series.status).toBe('success');
    expect(JSON.stringify(series.data)).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });
});
