// A stand-in MAS for the gitbridged target: answers every POST /tasks with
// 201 {"task_id": <uuid>, "status": "pending"} so gitbridged's workers never
// spin on connection errors. Runs in its own process so that neither the load
// generator nor the daemon pays for it (its CPU is reported separately).
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';

process.on('disconnect', () => process.exit(0));
let tasks = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/tasks') {
      tasks++;
      const body = JSON.stringify({ task_id: randomUUID(), status: 'pending' });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    } else {
      res.writeHead(404, { 'content-length': '0' }).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'ready', port: server.address().port, pid: process.pid });
});
process.on('message', (msg) => {
  if (msg?.type === 'cpu') {
    const c = process.cpuUsage();
    process.send({ type: 'cpu', cpuMs: (c.user + c.system) / 1000, tasks });
  }
});
