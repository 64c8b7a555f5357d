import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One `POST /tasks` a {@link ScriptedMas} received. */
export interface ScriptedRequest {
  readonly key: string;
  readonly body: Record<string, unknown>;
  /** The test's clock when it arrived, ms. */
  readonly at: number;
}

/** How a {@link ScriptedMas} answers one submission: a status (2xx answers get a task id), or `hang` (never answer). */
export type ScriptedAnswer = { readonly status: number; readonly headers?: Record<string, string> } | 'hang';

/** A MAS on loopback whose answers the test scripts per submission (protocol 2.1, `POST /tasks` only). */
export interface ScriptedMas {
  readonly url: string;
  readonly requests: ScriptedRequest[];
  /** Requests waiting for an answer (hanging ones until the client gives up). */
  readonly open: () => number;
  close(): Promise<void>;
}

/**
 * Starts a MAS that answers each `POST /tasks` as `answer(request)` says;
 * a 2xx gets `{task_id: "mas-<idempotency key>", status: "pending"}`.
 *
 * @param now the test's clock, to time-stamp requests
 */
export async function startScriptedMas(answer: (r: ScriptedRequest) => ScriptedAnswer, now: () => number): Promise<ScriptedMas> {
  const requests: ScriptedRequest[] = [];
  const sockets = new Set<Socket>();
  let open = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        // recorded as {}
      }
      const r: ScriptedRequest = { key, body, at: now() };
      requests.push(r);
      const a = answer(r);
      if (a === 'hang') {
        open++;
        res.on('close', () => open--);
        return;
      }
      const ok = a.status >= 200 && a.status < 300;
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(JSON.stringify(ok ? { task_id: `mas-${key}`, status: 'pending' } : { error: 'scripted failure' }));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
