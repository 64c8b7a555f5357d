// `pnpm start`: the embedded default for a local machine. Starts the
// reference MAS (bin/gitbridge-mas), a chat sink that prints the Slack-style
// notifications it receives, and gitbridged (bin/gitbridged) wired to both.
// No Redis, no Docker. Development secrets are used unless the environment
// sets GITBRIDGE_WEBHOOK_SECRET / GITBRIDGE_MAS_CALLBACK_SECRET.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env };
const DEV_SECRET = 'gitbridge-dev-secret';
if (!env.GITBRIDGE_WEBHOOK_SECRET && !env.GITBRIDGE_WEBHOOK_SECRET_FILE) {
  env.GITBRIDGE_WEBHOOK_SECRET = DEV_SECRET;
  console.log(`[dev] GITBRIDGE_WEBHOOK_SECRET not set: using the development secret "${DEV_SECRET}" (never in production)`);
}
env.GITBRIDGE_MAS_CALLBACK_SECRET ??= 'gitbridge-dev-callback-secret';
env.GITBRIDGE_PORT ??= '3000';
env.GITBRIDGE_HOST ??= '127.0.0.1';
env.GITBRIDGE_MAS_PORT ??= '8081';
env.GITBRIDGE_MAS_URL ??= `http://127.0.0.1:${env.GITBRIDGE_MAS_PORT}`;
env.GITBRIDGE_META_REFRESH_S ??= '0';
const chatPort = Number(env.GITBRIDGE_DEV_CHAT_PORT ?? 8082);

const children = [];
let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  chat.close();
  setTimeout(() => process.exit(code), 500).unref();
}

function start(name, args) {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[dev] ${name} exited (${signal ?? code}); stopping`);
      stop(code || 1);
    }
  });
  return child;
}

const chat = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    console.log(`[chat] ${body}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
});
chat.on('error', (err) => {
  console.error(`[dev] chat sink cannot listen on 127.0.0.1:${chatPort}: ${err.message}`);
  stop(1);
});
chat.listen(chatPort, '127.0.0.1', () => {
  env.GITBRIDGE_NOTIFY_URL ??= `http://127.0.0.1:${chatPort}/`;
  start('reference MAS', ['bin/gitbridge-mas']);
  start('gitbridged', ['bin/gitbridged', 'serve']);
  console.log(`[dev] gitbridged on http://${env.GITBRIDGE_HOST}:${env.GITBRIDGE_PORT}, reference MAS on ${env.GITBRIDGE_MAS_URL}, chat sink on 127.0.0.1:${chatPort}`);
  const portEnv = env.GITBRIDGE_PORT === '3000' ? '' : `GITBRIDGE_PORT=${env.GITBRIDGE_PORT} `;
  console.log(`[dev] try: ${portEnv}bin/gitbridge send-test --event pull_request --payload docs/examples/webhook_post_example.json --secret ${env.GITBRIDGE_WEBHOOK_SECRET === DEV_SECRET ? DEV_SECRET : '<your secret>'}   (Ctrl-C stops everything)`);
});

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
