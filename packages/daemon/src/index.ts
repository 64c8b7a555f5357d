export { buildServer } from './server.js';
export type { ServerDeps } from './server.js';
export { startDaemon } from './daemon.js';
export type { Daemon, StartOptions } from './daemon.js';
export { Workers } from './workers/workers.js';
export type { WorkerDeps } from './workers/workers.js';
export { DEFAULT_POLICY, policyFrom } from './workers/context.js';
export type { WorkerPolicy } from './workers/context.js';
