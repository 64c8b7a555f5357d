// Baseline (b): @octokit/webhooks' createNodeMiddleware on node:http. It
// verifies the signature, parses the JSON and runs a no-op handler; nothing
// is stored. The ratio column of the bench is relative to this target.
import { createServer } from 'node:http';
import { Webhooks, createNodeMiddleware } from '@octokit/webhooks';
import { serveTarget } from './ipc.mjs';

const secret = process.env.BENCH_SECRET;
if (!secret) throw new Error('BENCH_SECRET is required');
const webhooks = new Webhooks({ secret });
webhooks.on('pull_request', () => {});
const middleware = createNodeMiddleware(webhooks, { path: '/webhook' });
const server = createServer((req, res) => {
  middleware(req, res, () => res.writeHead(404).end());
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});

serveTarget({
  port: server.address().port,
  stop: () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
});
