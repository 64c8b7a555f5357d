import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { verifySignature } from '@gitbridge/core';
import { tempDir as sharedTempDir } from '../../../test/helpers/temp-dir.js';

/** The launcher of the BUILT CLI (`pnpm run build` first). */
export const BIN = fileURLToPath(new URL('../../../bin/gitbridge', import.meta.url));

/** Result of one CLI run. */
export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/gitbridge` in a clean environment (no GITBRIDGE_* from the
 * caller's shell leaks in), from `cwd` (a fresh temp dir by default).
 */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, cwd?: string): Promise<CliRun> {
  const r = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    cwd: cwd ?? tempDir('gitbridge-cwd-'),
    timeout: 20_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A fresh temporary directory, removed after the importing test file's tests. */
export function tempDir(prefix = 'gitbridge-cli-'): string {
  return sharedTempDir(prefix).dir;
}

/** One request the receiver got. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  /** Whether X-Hub-Signature-256 verified against the raw body with the receiver's secret. */
  signatureOk: boolean;
}

/** A real HTTP webhook receiver on 127.0.0.1 that behaves like gitbridged's POST /webhook. */
export interface Receiver {
  port: number;
  url: string;
  received: Received[];
  /** Never answer (to test timeouts). */
  hang: boolean;
  close(): Promise<void>;
}

/**
 * Starts a receiver: it records method, path, headers and the raw body,
 * verifies the signature with core's `verifySignature([secret], raw, header)`
 * and answers 202 `{delivery_id, status}` when it verifies, else 401 with
 * GitBridge's error shape.
 */
export async function startReceiver(secret: string): Promise<Receiver> {
  const state = { hang: false };
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const verdict = verifySignature([secret], raw, req.headers['x-hub-signature-256']);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, signatureOk: verdict.ok });
      if (state.hang) return;
      if (verdict.ok) {
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ delivery_id: req.headers['x-github-delivery'], status: 'accepted' }));
      } else {
        res.writeHead(401, { 'content-type': 'application/json' }).end(
          JSON.stringify({ statusCode: 401, code: 'GB_WEBHOOK_SIGNATURE_MISMATCH', error: 'Unauthorized', message: 'bad signature' }),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/webhook`,
    received,
    get hang() {
      return state.hang;
    },
    set hang(v: boolean) {
      state.hang = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
