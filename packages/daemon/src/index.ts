export { buildServer } from './server.js';
export type { ServerDeps } from './server.js';
export { startDaemon } from './daemon.js';
export type { Daemon, StartOptions } from './daemon.js';
export { Workers } from './workers.js';
export type { WorkerDeps } from './workers.js';
