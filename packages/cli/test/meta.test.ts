import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, runCli, tempDir } from './helpers.js';

const HOOKS = ['192.30.252.0/22', '185.199.108.0/22', '140.82.112.0/20', '143.55.64.0/20', '2a0a:a440::/29', '2606:50c0::/32'];

// A fake GitHub meta API on loopback: the tests never contact api.github.com.
let server: Server;
let base: string;
const hits: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.accept}`);
    if (req.url === '/meta') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ verifiable_password_authentication: false, hooks: HOOKS, web: ['1.2.3.4/32'] }));
    else if (req.url === '/broken') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hooks: ['not-a-cidr'] }));
    else res.writeHead(500).end('boom');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('meta sync', () => {
  it('fetches the hook ranges and writes the snapshot into the data dir (created when missing)', async () => {
    const dataDir = join(tempDir('gitbridge-meta-'), 'data');
    const run = await runCli(['meta', 'sync', '--meta-url', `${base}/meta`, '--data-dir', dataDir]);
    expect(run.exitCode).toBe(0);
    const path = join(dataDir, 'github-meta-hooks.json');
    expect(run.stdout).toContain('6 hook ranges (4 IPv4, 2 IPv6)');
    expect(run.stdout).toContain(`written to ${path}`);
    const snap = JSON.parse(readFileSync(path, 'utf8')) as { source: string; hooks: string[]; snapshot_date: string };
    expect(snap.hooks).toEqual(HOOKS);
    expect(snap.source).toBe(`${base}/meta`);
    expect(Number.isNaN(Date.parse(snap.snapshot_date))).toBe(false);
    expect(hits.some((h) => h.startsWith('GET /meta application/vnd.github+json'))).toBe(true);
  });

  it('reads GITBRIDGE_META_URL and GITBRIDGE_DATA_DIR, and prints JSON with --json', async () => {
    const dataDir = tempDir('gitbridge-meta-');
    const run = await runCli(['meta', 'sync', '--json'], { GITBRIDGE_META_URL: `${base}/meta`, GITBRIDGE_DATA_DIR: dataDir });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ranges: 6, ipv4: 4, ipv6: 2, path: join(dataDir, 'github-meta-hooks.json'), source: `${base}/meta` });
  });

  it('exits 3 and writes nothing when the fetch fails (error status, bad ranges, unreachable)', async () => {
    const dataDir = tempDir('gitbridge-meta-');
    const dead = `http://127.0.0.1:${await closedPort()}/meta`;
    const runs = await Promise.all([
      runCli(['meta', 'sync', '--meta-url', `${base}/error`, '--data-dir', dataDir]),
      runCli(['meta', 'sync', '--meta-url', `${base}/broken`, '--data-dir', dataDir]),
      runCli(['meta', 'sync', '--meta-url', dead, '--data-dir', dataDir]),
    ]);
    expect(runs.map((r) => r.exitCode)).toEqual([3, 3, 3]);
    expect(runs[0]!.stderr).toContain(`cannot fetch the hook ranges from ${base}/error: answered 500`);
    expect(runs[1]!.stderr).toContain('invalid range');
    expect(runs[2]!.stderr).toContain('ECONNREFUSED');
    for (const r of runs) expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dataDir, 'github-meta-hooks.json'))).toBe(false);
  });

  it('exits 2 for a URL that is not http(s)', async () => {
    const run = await runCli(['meta', 'sync', '--meta-url', 'ftp://example.com/meta', '--data-dir', tempDir()]);
    expect(run.exitCode).toBe(2);
  });
});
