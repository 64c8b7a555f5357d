export { sign, verifySignature, SIGNATURE_PREFIX } from './webhook/signature.js';
export type { VerifyResult, SignatureFailure } from './webhook/signature.js';
export { ERROR_CATALOGUE, EXIT, EXIT_CODES, GitBridgeError, errorBody, errorCodeOf, isGitBridgeError } from './errors/errors.js';
export type { ErrorCode, ErrorBody, ExitCode, GitBridgeErrorOptions } from './errors/errors.js';
export { CONFIG_SCHEMA, REDACTED, configWarnings, displayValue, loadConfig, resolveConfig, withoutPassword } from './config/config.js';
export type { Config, ConfigSources, OptionSource, OptionSpec, ResolvedConfig, ResolvedOption } from './config/config.js';
export { webhookContentType, readDeliveryHeaders, decodePayload, identifyDelivery, rateLimitSubject, payloadInteger } from './webhook/delivery.js';
export type { ParsedDelivery, Payload, HeaderGetter, WebhookContentType } from './webhook/delivery.js';
export { IpAllowlist, clientAddress, normalizeAddress, parseCidr, parseHooksSnapshot, readHooksSnapshot, SHIPPED_HOOKS_SNAPSHOT } from './webhook/ip-allowlist.js';
export type { HooksSnapshot } from './webhook/ip-allowlist.js';
export { FORWARDING_HEADERS, ProxyGuard, forwardingProblem, proxyUntrusted } from './webhook/proxy-guard.js';
export type { ForwardingHeader, ForwardingProblem, TrustProxySetting } from './webhook/proxy-guard.js';
export { MemoryRateLimiter, RedisRateLimiter, FailOpenRateLimiter } from './webhook/rate-limit.js';
export type { RateLimiter, RateLimitDecision } from './webhook/rate-limit.js';
export { entityKey, eventTime, eventOrder } from './routing/ordering.js';
export type { EventOrder } from './routing/ordering.js';
export { PRIORITIES, PROTOCOL_VERSION, DEFAULT_RULES_FILE, defaultRules, compileRules, ruleProblems, mapDelivery, explainIgnored, journalEntry, getPath, renderTemplate } from './routing/rules.js';
export type { Priority, RuleSpec, ConditionSpec, TaskPayload, TaskDraft, NotificationDraft, JournalEntry } from './routing/rules.js';
export { openStore, DELIVERY_STATES, TASK_STATUSES, UNFINISHED_TASK_STATUSES, STATUS_RANK, isTerminal, MIN_ID_PREFIX, resolveDeliveryId, resolveTaskId } from './store/index.js';
export type {
  OpenStoreOptions, StoreAccess, Store, CallbackDetail, CallbackOutcome, Claim, ClaimedDelivery, Delivery, DeliveryFilter, DeliveryResult, DeliveryState,
  ExclusiveOutcome, IsoTime, JournalFilter, JournalRecord, NewDelivery, Notification, NotificationStatus, QueueName, RetryOutcome,
  StoreCounts, StoreHealth, Task, TaskFilter, TaskStatus, TaskTransition, UnfinishedTaskStatus, TaskWithoutPayload, TransitionSource,
  RecoveryGap, RedeliveryIntent, RedeliveryOutcome, RedeliveryReason, RedeliveryRequest,
} from './store/index.js';
export { SqliteStore, STORE_FILE, SCHEMA_VERSION } from './store/sqlite/sqlite-store.js';
export type { SqliteStoreOptions } from './store/sqlite/sqlite-store.js';
export { PostgresStore, PG_SCHEMA_VERSION } from './store/postgres/postgres-store.js';
export type { PostgresStoreOptions } from './store/postgres/postgres-store.js';
export { systemClock, ManualClock, sleep } from './time/clock.js';
export type { Clock, ClockTimer } from './time/clock.js';
export { backoffDelay, parseRetryAfter } from './time/backoff.js';
export { submitTask, MasError } from './mas/client.js';
export type { MasAcceptance, MasClientOptions, MasSubmission } from './mas/client.js';
export { postChatMessage } from './notify/notifier.js';
export type { ChatMessage } from './notify/notifier.js';
export { createMetrics, labelValue } from './metrics.js';
export type { Metrics, EventStatus, RejectionReason } from './metrics.js';
export { createLoggers, REDACT_PATHS } from './logging.js';
export type { Loggers } from './logging.js';
export { fetchHooksSnapshot, writeHooksSnapshot, currentHooksSnapshot, HOOKS_SNAPSHOT_FILE, HOOKS_SNAPSHOT_SETTING, storedHooksSnapshot, storeHooksSnapshot, newestHooksSnapshot } from './github/meta.js';
export {
  GITHUB_API_URL, MAX_REDELIVERY_REQUESTS, appJwt, createGitHubClient, credentialFor, deliveriesWindowMs, gitHubClientFromConfig, gitHubError,
  groupByGuid, isGitHubDotCom, judgeDelivery, parseHookPath, passSpan, readAppPrivateKey, runRecoveryPass, succeeded,
} from './github/index.js';
export type {
  AppJwt, GitHubClient, GitHubClientOptions, HookDelivery, HookRef, HookReport, MissingDelivery, MissingOutcome, PlanPolicy, RecoveryDeps,
  RecoveryPassOptions, RecoveryPolicy, RecoveryProgress, RecoveryReport, RecoveryStore, Verdict,
} from './github/index.js';
export { createIngest, safeLogId } from './ingest/ingest.js';
export type { Ingest, IngestDeps, IngestOutcome, Admission, WebhookRequest } from './ingest/ingest.js';
export { KEPT_HEADERS, keptHeaders, newDelivery, replayDelivery } from './ingest/stored-delivery.js';
export type { VerifiedDelivery } from './ingest/stored-delivery.js';
export { VERSION, USER_AGENT } from './version.js';
export { isObject, jsonDeeperThan, nonEmpty, redactUrl } from './util.js';
export { describeNetworkError } from './errors/network.js';
export { invalidAllowlistEntries } from './webhook/ip-allowlist.js';
