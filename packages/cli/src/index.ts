/**
 * `@gitbridge/cli`: the building blocks of the `gitbridge` command, for
 * scripts and tests. The executable is `dist/main.js` (launcher `bin/gitbridge`).
 */
export { EXIT, CliError, usageError } from './exit.js';
export type { ExitCode } from './exit.js';
export { resolveDataDir, resolveSecret, resolveMetaUrl, defaultWebhookUrl } from './env.js';
export type { Env } from './env.js';
export { findExample, listExampleEvents } from './webhook-examples.js';
export type { ExampleEvent, JsonObject } from './webhook-examples.js';
export { parseAssignment, setPath, setRepository, setSender } from './payload-edit.js';
export type { Assignment } from './payload-edit.js';
export { buildDelivery } from './commands/send-test.js';
export type { BuiltDelivery, SendTestResult, SendTestOptions } from './commands/send-test.js';
export type { TaskJson } from './commands/tasks.js';
export type { DeliveryJson } from './commands/deliveries.js';
