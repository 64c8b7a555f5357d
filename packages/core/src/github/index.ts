/**
 * Recovery of missed deliveries through GitHub's REST API (DESIGN §11): the
 * REST client, the hooks, the pass. A subpath of its own
 * (`@gitbridge/core/github`) so that the CLI loads it only for `recover`.
 */
export { appJwt, readAppPrivateKey } from './app-jwt.js';
export type { AppJwt } from './app-jwt.js';
export { createGitHubClient, gitHubClientFromConfig, gitHubError, succeeded } from './client.js';
export type { GitHubClient, GitHubClientOptions, HookDelivery } from './client.js';
export { GITHUB_API_URL, credentialFor, deliveriesWindowMs, isGitHubDotCom, parseHookPath } from './hooks.js';
export type { HookRef } from './hooks.js';
export { MAX_REDELIVERY_REQUESTS, passSpan, runRecoveryPass } from './recovery.js';
export type {
  HookReport, MissingDelivery, MissingOutcome, RecoveryDeps, RecoveryPassOptions, RecoveryPolicy, RecoveryProgress, RecoveryReport, RecoveryStore,
} from './recovery.js';
export { groupByGuid, judgeDelivery } from './recovery-plan.js';
export type { PlanPolicy, Verdict } from './recovery-plan.js';
