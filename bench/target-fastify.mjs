// Baseline (a): a bare fastify endpoint that reads the body as a buffer and answers 202.
import Fastify from 'fastify';
import { serveTarget } from './ipc.mjs';

const app = Fastify({ logger: false, bodyLimit: 25 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/webhook', async (_req, reply) => reply.code(202).send());
await app.listen({ port: 0, host: '127.0.0.1' });

serveTarget({
  port: app.server.address().port,
  stop: async () => {
    await app.close();
  },
});
