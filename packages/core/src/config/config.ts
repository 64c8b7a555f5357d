import { accessSync, constants, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GitBridgeError } from '../errors/errors.js';
import { GITHUB_API_URL, credentialFor, deliveriesWindowMs, parseHookPath } from '../github/hooks.js';
import { closest, isObject, nonEmpty, redactUrl } from '../util.js';
import { invalidAllowlistEntries, parseCidr } from '../webhook/ip-allowlist.js';
import type { RuleSpec } from '../routing/rules.js';

/**
 * The typed, validated, frozen configuration of gitbridged (and of the CLI,
 * which reads the same names). Built once at start-up by {@link loadConfig}.
 * Durations are in milliseconds unless the name says otherwise; sizes in bytes.
 */
export interface Config {
  /** TCP port to listen on. */
  readonly port: number;
  /** Address to bind. */
  readonly host: string;
  /** Webhook secrets: the first signs (CLI), all verify (rotation). Never empty after validation. */
  readonly webhookSecrets: readonly string[];
  /** Directory of the SQLite store (`gitbridge.db`, unless `databaseUrl`) and of the refreshed hook ranges. */
  readonly dataDir: string;
  /** PostgreSQL URL: the store is that database (several daemons share it) instead of the SQLite file; undefined = SQLite. */
  readonly databaseUrl: string | undefined;
  /** Most connections of a process's main pool to PostgreSQL (a daemon also keeps 4 for ingest, one for wake-ups and one per running singleton job). */
  readonly databasePoolMax: number;
  /** Directory of `webhook.log` and `security.log`. */
  readonly logDir: string;
  /** Minimum pino log level. */
  readonly logLevel: string;
  /** Also write the webhook log to stdout. */
  readonly logStdout: boolean;
  /** Base URL of the MAS (protocol 2.1); tasks go to `<masUrl>/tasks`. */
  readonly masUrl: string;
  /** Bearer token sent to the MAS, if any. */
  readonly masToken: string | undefined;
  /** Secret that signs MAS callbacks (`X-MAS-Signature-256`). */
  readonly masCallbackSecret: string;
  /**
   * Public base URL of this daemon (the load balancer's, with several); the
   * callback URL is `<publicUrl>/mas/callback`. Undefined: the daemon uses
   * `http://127.0.0.1:<the port it bound>`.
   */
  readonly publicUrl: string | undefined;
  /** Redis URL for shared rate-limit counters; undefined = in-process counters. */
  readonly redisUrl: string | undefined;
  /** Slack-compatible incoming-webhook URL; undefined = notifications are recorded as skipped. */
  readonly notifyUrl: string | undefined;
  /** Allowed source addresses: CIDRs, addresses, `github` (the hook ranges snapshot), `loopback`, or `any`. */
  readonly ipAllowlist: readonly string[];
  /** Proxy trust: `false`, a hop count, or a list of proxy addresses/CIDRs. */
  readonly trustProxy: false | number | readonly string[];
  /** Path of the config file, if one was read. */
  readonly configFile: string | undefined;
  /** Deliveries allowed per repository per window. */
  readonly rateLimitPerRepo: number;
  /** Rate-limit window, seconds (the seed: 3600). */
  readonly rateLimitWindowS: number;
  /** Failed (unauthenticated) requests allowed per source address per window. */
  readonly rateLimitUnauthenticated: number;
  /** Largest accepted body, bytes (GitHub caps payloads at 25 MB). */
  readonly maxPayloadBytes: number;
  /** Time allowed for a request body to arrive, ms. */
  readonly bodyTimeoutMs: number;
  /** Per-attempt timeout of a MAS submission, ms. */
  readonly masTimeoutMs: number;
  /** Attempts before a task is `dead`. */
  readonly masMaxAttempts: number;
  /** Age after which a task that has not reached the MAS is `dead`, whatever the circuit breaker says, seconds. */
  readonly taskMaxAgeS: number;
  /** Concurrent MAS submissions. */
  readonly masConcurrency: number;
  /** Attempts to process a delivery into tasks before it is `dead`. */
  readonly processMaxAttempts: number;
  /** Lease on a claimed queue item, ms; an item whose worker died is picked up again after it. */
  readonly leaseMs: number;
  /** Token for admin endpoints (replay); undefined disables them. */
  readonly adminToken: string | undefined;
  /**
   * Port of the management listener, which alone serves `/metrics` and
   * `/admin/*` (the webhook port answers 404 for them); undefined: they are
   * served on the webhook port.
   */
  readonly adminPort: number | undefined;
  /** Address the management listener binds. */
  readonly adminHost: string;
  /** Grace period for shutdown, ms. */
  readonly shutdownGraceMs: number;
  /** SQLite `synchronous` mode of the store: `NORMAL` survives a process crash, `FULL` also power loss. */
  readonly storeSynchronous: 'NORMAL' | 'FULL';
  /** Days to keep finished deliveries (with their bodies, tasks and history); 0 keeps them forever. */
  readonly retentionDays: number;
  /** URL of GitHub's meta API; default `<githubApiUrl>/meta`. */
  readonly metaUrl: string;
  /** Base URL of GitHub's REST API: `https://api.github.com`, or `https://HOST/api/v3` on GitHub Enterprise Server. */
  readonly githubApiUrl: string;
  /** Token for GitHub's API (repository and organization hooks), from the option or its file. Never logged. */
  readonly githubToken: string | undefined;
  /** File the token was read from, if any. */
  readonly githubTokenFile: string | undefined;
  /** The GitHub App's id (or client id), the `iss` of its JWT, for the App's hook. */
  readonly githubAppId: string | undefined;
  /** Path of the GitHub App's private key (PEM), read when recovery starts. */
  readonly githubAppPrivateKeyFile: string | undefined;
  /** Hooks recovery watches, as their API paths (`repos/OWNER/REPO/hooks/ID`, `orgs/ORG/hooks/ID`, `app`). */
  readonly recoverHooks: readonly string[];
  /** Seconds between the daemon's recovery passes; 0 turns the periodic pass off. */
  readonly recoverIntervalS: number;
  /** How far back a pass looks for a hook without a checkpoint, seconds (at most GitHub's window). */
  readonly recoverLookbackS: number;
  /** How often the daemon refreshes the hook ranges, seconds; 0 disables. */
  readonly metaRefreshS: number;
  /** Routing rules from the config file; undefined = the shipped defaults. */
  readonly rules: readonly RuleSpec[] | undefined;
}

type Kind = 'int' | 'string' | 'secret' | 'bool' | 'list' | 'secret-list' | 'trust-proxy' | 'url' | 'database-url';

/** One option of the configuration schema: its key, environment name, flag, default and meaning. */
export interface OptionSpec {
  readonly key: keyof Config;
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly default: string | undefined;
  readonly doc: string;
  readonly required?: boolean;
  /**
   * An environment variable naming a file that holds the value, read when
   * neither the flag, the variable nor the config file sets it; trailing
   * newlines are trimmed, and each further line is one more list entry.
   */
  readonly fileEnv?: string;
  /** A credential: never printed (`gitbridged config check` shows it redacted). URL options hide their password whatever this says. */
  readonly secret?: boolean;
}

/** The configuration schema; `docs/configuration.md` documents each entry. */
export const CONFIG_SCHEMA: readonly OptionSpec[] = [
  { key: 'port', env: 'GITBRIDGE_PORT', flag: '--port', kind: 'int', default: '3000', doc: 'TCP port to listen on.' },
  { key: 'host', env: 'GITBRIDGE_HOST', flag: '--host', kind: 'string', default: '0.0.0.0', doc: 'Address to bind.' },
  {
    key: 'webhookSecrets', env: 'GITBRIDGE_WEBHOOK_SECRET', flag: '--webhook-secret', secret: true, kind: 'secret-list', default: undefined, required: true, fileEnv: 'GITBRIDGE_WEBHOOK_SECRET_FILE',
    doc: 'Webhook secret(s), comma-separated: the first signs, all verify (rotation). Or GITBRIDGE_WEBHOOK_SECRET_FILE: a file with one secret per line (trailing newline trimmed).',
  },
  { key: 'dataDir', env: 'GITBRIDGE_DATA_DIR', flag: '--data-dir', kind: 'string', default: './data', doc: 'Directory of the SQLite store (unless GITBRIDGE_DATABASE_URL is set) and of the refreshed GitHub hook ranges.' },
  {
    key: 'databaseUrl', env: 'GITBRIDGE_DATABASE_URL', flag: '--database-url', kind: 'database-url', default: undefined,
    doc: 'PostgreSQL URL (postgres://user:password@host:5432/db): the store is that database, shared by several daemons behind a load balancer, instead of the SQLite file. Its password never appears in logs or messages. See docs/high-availability.md.',
  },
  {
    key: 'databasePoolMax', env: 'GITBRIDGE_DATABASE_POOL_MAX', flag: '--database-pool-max', kind: 'int', default: '10',
    doc: 'With GITBRIDGE_DATABASE_URL: most connections of the main pool of a process to PostgreSQL (at least 2); a daemon also keeps 4 for ingest, one for wake-ups and one per running singleton job, POOL_MAX + 8 at most; size it against max_connections (docs/high-availability.md).',
  },
  { key: 'logDir', env: 'GITBRIDGE_LOG_DIR', flag: '--log-dir', kind: 'string', default: './logs', doc: 'Directory of webhook.log and security.log.' },
  { key: 'logLevel', env: 'GITBRIDGE_LOG_LEVEL', flag: '--log-level', kind: 'string', default: 'info', doc: 'Minimum log level (trace, debug, info, warn, error, fatal, silent; any case).' },
  { key: 'logStdout', env: 'GITBRIDGE_LOG_STDOUT', flag: '--log-stdout', kind: 'bool', default: 'true', doc: 'Also write the webhook log to standard output.' },
  { key: 'masUrl', env: 'GITBRIDGE_MAS_URL', flag: '--mas-url', kind: 'url', default: 'http://127.0.0.1:8081', doc: 'Base URL of the MAS; tasks are POSTed to <url>/tasks.' },
  { key: 'masToken', env: 'GITBRIDGE_MAS_TOKEN', flag: '--mas-token', secret: true, kind: 'string', default: undefined, doc: 'Bearer token sent to the MAS.' },
  {
    key: 'masCallbackSecret', env: 'GITBRIDGE_MAS_CALLBACK_SECRET', flag: '--mas-callback-secret', secret: true, kind: 'string', default: undefined, required: true,
    doc: 'Secret the MAS signs callbacks with (X-MAS-Signature-256).',
  },
  { key: 'publicUrl', env: 'GITBRIDGE_PUBLIC_URL', flag: '--public-url', kind: 'url', default: undefined, doc: 'Public base URL of this daemon (the load balancer\'s, with several); callback_url is <url>/mas/callback. Default http://127.0.0.1:<the port it bound>.' },
  { key: 'redisUrl', env: 'GITBRIDGE_REDIS_URL', flag: '--redis-url', kind: 'url', default: undefined, doc: 'Redis URL; when set, rate-limit counters live in Redis and are shared by several daemons.' },
  { key: 'notifyUrl', env: 'GITBRIDGE_NOTIFY_URL', flag: '--notify-url', secret: true, kind: 'url', default: undefined, doc: 'Slack-compatible incoming-webhook URL for chat notifications.' },
  { key: 'ipAllowlist', env: 'GITBRIDGE_IP_ALLOWLIST', flag: '--ip-allowlist', kind: 'list', default: 'github,loopback', doc: 'Allowed source addresses, comma-separated: CIDRs, addresses, "github" (GitHub hook ranges), "loopback", or "any".' },
  { key: 'trustProxy', env: 'GITBRIDGE_TRUST_PROXY', flag: '--trust-proxy', kind: 'trust-proxy', default: 'false', doc: 'Proxy trust: false, a hop count, or comma-separated proxy addresses/CIDRs. Off: X-Forwarded-For is ignored.' },
  { key: 'configFile', env: 'GITBRIDGE_CONFIG', flag: '--config', kind: 'string', default: undefined, doc: 'JSON config file (options by key, and "rules").' },
  { key: 'rateLimitPerRepo', env: 'GITBRIDGE_RATE_LIMIT', flag: '--rate-limit', kind: 'int', default: '5000', doc: 'Verified deliveries allowed per repository per window.' },
  { key: 'rateLimitWindowS', env: 'GITBRIDGE_RATE_LIMIT_WINDOW_S', flag: '--rate-limit-window-s', kind: 'int', default: '3600', doc: 'Rate-limit window in seconds.' },
  { key: 'rateLimitUnauthenticated', env: 'GITBRIDGE_RATE_LIMIT_UNAUTHENTICATED', flag: '--rate-limit-unauthenticated', kind: 'int', default: '100', doc: 'Failed-signature requests allowed per source address per window, outside GitHub hook ranges; 0 disables.' },
  { key: 'maxPayloadBytes', env: 'GITBRIDGE_MAX_PAYLOAD_BYTES', flag: '--max-payload-bytes', kind: 'int', default: String(25 * 1024 * 1024), doc: 'Largest accepted body in bytes (GitHub caps payloads at 25 MB).' },
  { key: 'bodyTimeoutMs', env: 'GITBRIDGE_BODY_TIMEOUT_MS', flag: '--body-timeout-ms', kind: 'int', default: '10000', doc: 'Time allowed for a request body to arrive, ms.' },
  { key: 'masTimeoutMs', env: 'GITBRIDGE_MAS_TIMEOUT_MS', flag: '--mas-timeout-ms', kind: 'int', default: '10000', doc: 'Per-attempt timeout of a MAS submission, ms.' },
  { key: 'masMaxAttempts', env: 'GITBRIDGE_MAS_MAX_ATTEMPTS', flag: '--mas-max-attempts', kind: 'int', default: '12', doc: 'Submission attempts before a task is dead.' },
  {
    key: 'taskMaxAgeS', env: 'GITBRIDGE_TASK_MAX_AGE_S', flag: '--task-max-age-s', kind: 'int', default: '259200',
    doc: 'A task not accepted by the MAS after this many seconds is dead (reason max_age), even through a MAS outage that spends no attempts. Default 3 days, GitHub\'s redelivery window.',
  },
  { key: 'masConcurrency', env: 'GITBRIDGE_MAS_CONCURRENCY', flag: '--mas-concurrency', kind: 'int', default: '16', doc: 'Concurrent MAS submissions.' },
  { key: 'processMaxAttempts', env: 'GITBRIDGE_PROCESS_MAX_ATTEMPTS', flag: '--process-max-attempts', kind: 'int', default: '5', doc: 'Attempts to turn a delivery into tasks before it is dead.' },
  { key: 'leaseMs', env: 'GITBRIDGE_LEASE_MS', flag: '--lease-ms', kind: 'int', default: '30000', doc: 'Lease on a claimed queue item, ms.' },
  { key: 'adminToken', env: 'GITBRIDGE_ADMIN_TOKEN', flag: '--admin-token', secret: true, kind: 'string', default: undefined, doc: 'Bearer token for admin endpoints (replay); unset disables them.' },
  {
    key: 'adminPort', env: 'GITBRIDGE_ADMIN_PORT', flag: '--admin-port', kind: 'int', default: undefined,
    doc: 'Port of a separate management listener that alone serves /metrics and /admin/* (the webhook port then answers 404 for them). Unset: they are served on the webhook port. Recommended.',
  },
  { key: 'adminHost', env: 'GITBRIDGE_ADMIN_HOST', flag: '--admin-host', kind: 'string', default: '127.0.0.1', doc: 'Address the management listener binds (with GITBRIDGE_ADMIN_PORT).' },
  { key: 'storeSynchronous', env: 'GITBRIDGE_STORE_SYNCHRONOUS', flag: '--store-synchronous', kind: 'string', default: 'NORMAL', doc: 'SQLite synchronous mode: NORMAL (no committed delivery lost on a process crash) or FULL (also on power loss; one fsync per group commit).' },
  { key: 'retentionDays', env: 'GITBRIDGE_RETENTION_DAYS', flag: '--retention-days', kind: 'int', default: '30', doc: 'Days to keep finished deliveries (raw bodies for replay, tasks, history); 0 keeps them forever. The journal is kept.' },
  { key: 'metaUrl', env: 'GITBRIDGE_META_URL', flag: '--meta-url', kind: 'url', default: undefined, doc: "GitHub's meta API, source of the hook ranges. Default <GITBRIDGE_GITHUB_API_URL>/meta (https://api.github.com/meta; GHES: https://HOST/api/v3/meta)." },
  { key: 'metaRefreshS', env: 'GITBRIDGE_META_REFRESH_S', flag: '--meta-refresh-s', kind: 'int', default: '86400', doc: 'How often the daemon refreshes the hook ranges, seconds; 0 disables. A failed refresh keeps the last good list.' },
  { key: 'githubApiUrl', env: 'GITBRIDGE_GITHUB_API_URL', flag: '--github-api-url', kind: 'url', default: GITHUB_API_URL, doc: "GitHub's REST API (recovery, and the default meta URL). GitHub Enterprise Server: https://HOST/api/v3." },
  {
    key: 'githubToken', env: 'GITBRIDGE_GITHUB_TOKEN', flag: '--github-token', secret: true, kind: 'secret', default: undefined, fileEnv: 'GITBRIDGE_GITHUB_TOKEN_FILE',
    doc: 'Token for recovery through repository and organization hooks: admin on the repository, owner of the organization (classic: admin:repo_hook / admin:org_hook; fine-grained: "Webhooks: read and write"). Never logged.',
  },
  { key: 'githubTokenFile', env: 'GITBRIDGE_GITHUB_TOKEN_FILE', flag: '--github-token-file', kind: 'string', default: undefined, doc: 'A file holding the GitHub token instead (trailing newline trimmed).' },
  { key: 'githubAppId', env: 'GITBRIDGE_GITHUB_APP_ID', flag: '--github-app-id', kind: 'string', default: undefined, doc: "The GitHub App's id (or client id): the issuer of the JWT for the App's hook (recovery hook \"app\")." },
  { key: 'githubAppPrivateKeyFile', env: 'GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE', flag: '--github-app-private-key-file', kind: 'string', default: undefined, doc: "The GitHub App's private key (PEM file), which signs the JWT. Never logged." },
  { key: 'recoverHooks', env: 'GITBRIDGE_RECOVER_HOOKS', flag: '--recover-hooks', kind: 'list', default: undefined, doc: 'Hooks whose missed deliveries are recovered, comma-separated API paths: repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID, app. Unset: no recovery.' },
  { key: 'recoverIntervalS', env: 'GITBRIDGE_RECOVER_INTERVAL_S', flag: '--recover-interval-s', kind: 'int', default: '300', doc: "Seconds between the daemon's recovery passes; 0 turns the periodic pass off (gitbridge recover still works)." },
  { key: 'recoverLookbackS', env: 'GITBRIDGE_RECOVER_LOOKBACK_S', flag: '--recover-lookback-s', kind: 'int', default: '86400', doc: "How far back a pass looks for a hook without a checkpoint, seconds; at most GitHub's window (259200 on github.com, 604800 on GHES)." },
  { key: 'shutdownGraceMs', env: 'GITBRIDGE_SHUTDOWN_GRACE_MS', flag: '--shutdown-grace-ms', kind: 'int', default: '10000', doc: 'Grace period for a clean shutdown, ms.' },
];

/** Keys a config file may hold: every option's, and the routing rules. Keys starting with `$` (`$schema`) or `//` (comments) are let through. */
const FILE_KEYS: ReadonlySet<string> = new Set([...CONFIG_SCHEMA.map((o) => o.key), 'rules']);

/** pino's levels, plus `silent`. */
const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Protocols a URL option may use. */
const URL_PROTOCOLS: readonly string[] = ['http:', 'https:', 'redis:', 'rediss:'];

/** Where configuration comes from: flags win over environment, environment over file, file over defaults. */
export interface ConfigSources {
  /** Values from command-line flags, by config key (strings as typed). */
  readonly flags?: Partial<Record<keyof Config, string | undefined>>;
  /** The environment (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Base directory for relative paths (default `process.cwd()`). */
  readonly cwd?: string;
  /**
   * Who reads the configuration: `daemon` (default) requires the webhook and
   * callback secrets; `cli` requires nothing up front (a command that needs a
   * secret says so when it runs).
   */
  readonly scope?: 'daemon' | 'cli';
}

function parseTrustProxy(raw: string): false | number | string[] | Error {
  const v = raw.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0' || v === 'off') return false;
  if (v === 'true') return new Error('"true" would trust any X-Forwarded-For; give a hop count or the proxy addresses');
  if (/^\d+$/.test(v)) return Number(v);
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = entries.filter((e) => parseCidr(e) === null);
  if (bad.length > 0) return new Error(`not a hop count nor proxy addresses/CIDRs: ${bad.join(', ')} (keywords such as "any" or "loopback" would trust forged X-Forwarded-For)`);
  return entries;
}

/** A config-file value as a string, or undefined. */
function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The problems of the recovery settings (DESIGN §11): hook paths, the
 * look-back within GitHub's window, retention that keeps deliveries at least
 * as long as GitHub does (else a purged delivery would look missing), and
 * for the daemon with periodic passes, the credentials each hook needs.
 */
function recoveryProblems(c: Partial<Config>, scope: 'daemon' | 'cli', cwd: string): string[] {
  const problems: string[] = [];
  const apiUrl = c.githubApiUrl ?? GITHUB_API_URL;
  const windowS = deliveriesWindowMs(apiUrl) / 1000;
  if (URL.canParse(apiUrl) && !['http:', 'https:'].includes(new URL(apiUrl).protocol)) problems.push(`GITBRIDGE_GITHUB_API_URL (--github-api-url) must be an http(s) URL, got "${apiUrl}"`);
  const hooks = (c.recoverHooks ?? []).map((raw) => ({ raw, hook: parseHookPath(raw) }));
  const bad = hooks.filter((h) => h.hook === null).map((h) => h.raw);
  if (bad.length > 0) problems.push(`GITBRIDGE_RECOVER_HOOKS (--recover-hooks): not repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app: ${bad.join(', ')}`);
  if (c.recoverLookbackS === 0) problems.push('GITBRIDGE_RECOVER_LOOKBACK_S must be positive');
  if (typeof c.recoverLookbackS === 'number' && c.recoverLookbackS > windowS) {
    problems.push(`GITBRIDGE_RECOVER_LOOKBACK_S must be at most ${windowS} (GitHub keeps deliveries ${windowS / 86_400} days at ${apiUrl}), got ${c.recoverLookbackS}`);
  }
  if (c.githubAppPrivateKeyFile !== undefined) {
    try {
      accessSync(resolve(cwd, c.githubAppPrivateKeyFile), constants.R_OK);
    } catch (err) {
      problems.push(`GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE: cannot read ${c.githubAppPrivateKeyFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (hooks.length === 0) return problems;
  const retentionDays = c.retentionDays ?? 0;
  if (retentionDays > 0 && retentionDays * 86_400 < windowS) {
    problems.push(`GITBRIDGE_RETENTION_DAYS must be 0 or at least ${windowS / 86_400} while recovery is on (GitHub keeps deliveries that long; a purged delivery would look missing), got ${retentionDays}`);
  }
  if (scope === 'daemon' && (c.recoverIntervalS ?? 0) > 0) {
    const kinds = new Set(hooks.flatMap((h) => (h.hook ? [credentialFor(h.hook)] : [])));
    if (kinds.has('token') && c.githubToken === undefined) {
      problems.push('GITBRIDGE_GITHUB_TOKEN (or GITBRIDGE_GITHUB_TOKEN_FILE) is required to recover through repository and organization hooks');
    }
    if (kinds.has('app') && (c.githubAppId === undefined || c.githubAppPrivateKeyFile === undefined)) {
      problems.push('GITBRIDGE_GITHUB_APP_ID and GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE are required to recover through the App\'s hook ("app")');
    }
  }
  return problems;
}

/** Where an option's value came from. */
export type OptionSource = 'flag' | 'env' | 'file' | 'default' | 'unset';

/** One option as resolved: its value (after parsing) and where it came from. */
export interface ResolvedOption {
  readonly spec: OptionSpec;
  /** The parsed value (as in {@link Config}); undefined when unset or invalid. */
  readonly value: unknown;
  readonly source: OptionSource;
  /** The flag, environment variable or file the value came from (`--port`, `GITBRIDGE_WEBHOOK_SECRET_FILE`, a path); empty for defaults. */
  readonly origin: string;
}

/** What {@link resolveConfig} found: every option with its source, and every problem. */
export interface ResolvedConfig {
  /** The configuration; trustworthy only when `problems` is empty (frozen). */
  readonly config: Config;
  /** Every option of {@link CONFIG_SCHEMA}, in its order. */
  readonly options: readonly ResolvedOption[];
  /** Every problem, one sentence each; empty when the configuration is valid. */
  readonly problems: readonly string[];
}

/**
 * Resolves the configuration from flags > environment > config file >
 * defaults and validates it, without throwing: the values, where each came
 * from, and every problem at once. {@link loadConfig} and
 * `gitbridged config check` both use it.
 */
export function resolveConfig(sources: ConfigSources = {}): ResolvedConfig {
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const cwd = sources.cwd ?? process.cwd();
  const problems: string[] = [];

  const configFile = flags.configFile ?? env.GITBRIDGE_CONFIG;
  let file: Record<string, unknown> = {};
  if (configFile) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(resolve(cwd, configFile), 'utf8'));
      if (!isObject(parsed)) problems.push(`${configFile}: must hold a JSON object`);
      else file = parsed;
    } catch (err) {
      problems.push(`${configFile}: cannot be read as JSON (${(err as Error).message})`);
    }
  }
  const filePath = configFile ? resolve(cwd, configFile) : '';
  // A key the schema does not know is a typo more often than not ("ipAllowList"): silently ignored, it would leave a default in force.
  for (const key of Object.keys(file)) {
    if (FILE_KEYS.has(key) || key.startsWith('$') || key.startsWith('//')) continue;
    const near = closest(key, [...FILE_KEYS]);
    problems.push(`${configFile}: unknown option "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }

  const out: Record<string, unknown> = {};
  const from: Record<string, { source: OptionSource; origin: string }> = {};
  const tokenFile = nonEmpty(flags.githubTokenFile ?? env.GITBRIDGE_GITHUB_TOKEN_FILE) ?? stringOf(file.githubTokenFile);
  // Where the token's file was named, as the githubTokenFile option resolves it (flag > environment > config file).
  const tokenFileFrom: { source: OptionSource; origin: string } = flags.githubTokenFile !== undefined ? { source: 'flag', origin: '--github-token-file' }
    : nonEmpty(env.GITBRIDGE_GITHUB_TOKEN_FILE) ? { source: 'env', origin: 'GITBRIDGE_GITHUB_TOKEN_FILE' } : { source: 'file', origin: filePath };
  for (const spec of CONFIG_SCHEMA) {
    if (spec.key === 'configFile') {
      out.configFile = configFile ? filePath : undefined;
      from.configFile = flags.configFile !== undefined ? { source: 'flag', origin: spec.flag } : configFile ? { source: 'env', origin: spec.env } : { source: 'unset', origin: '' };
      continue;
    }
    let raw: string | undefined;
    let origin: { source: OptionSource; origin: string } = { source: 'unset', origin: '' };
    if (flags[spec.key] !== undefined) {
      raw = flags[spec.key];
      origin = { source: 'flag', origin: spec.flag };
    } else if (env[spec.env] !== undefined) {
      raw = env[spec.env];
      origin = { source: 'env', origin: spec.env };
    }
    let fromFile: unknown = raw === undefined ? file[spec.key] : undefined;
    if (spec.fileEnv !== undefined && raw === undefined && fromFile === undefined) {
      // The webhook secret's file is named in the environment only; the
      // token's file is an option of its own (flag, environment, config file).
      const valueFile = spec.key === 'githubToken' ? tokenFile : env[spec.fileEnv];
      if (valueFile) {
        origin = spec.key === 'githubToken' ? tokenFileFrom : { source: 'env', origin: spec.fileEnv };
        try {
          // Trailing newlines (and CR) are trimmed: `echo secret > file` must work.
          const lines = readFileSync(resolve(cwd, valueFile), 'utf8').replace(/[\r\n]+$/, '').split(/\r?\n/);
          if (spec.kind === 'secret' && lines.length > 1) problems.push(`${spec.fileEnv}: ${valueFile} must hold one line`);
          raw = lines.join(',');
        } catch (err) {
          problems.push(`${spec.fileEnv}: cannot read ${valueFile} (${(err as Error).message})`);
        }
      }
    } else if (spec.key === 'githubToken' && tokenFile !== undefined) {
      problems.push('GITBRIDGE_GITHUB_TOKEN and GITBRIDGE_GITHUB_TOKEN_FILE are both set: set one');
    }
    if (fromFile !== undefined && raw === undefined) {
      raw = Array.isArray(fromFile) ? fromFile.join(',') : String(fromFile);
      origin = { source: 'file', origin: filePath };
    }
    if (raw === undefined && spec.default !== undefined) {
      raw = spec.default;
      origin = { source: 'default', origin: '' };
    }
    from[spec.key] = origin;
    // Problems name the option where it was set: the file's key, or the environment variable (and flag).
    const label = origin.source === 'file' ? `"${spec.key}" in ${configFile}` : `${spec.env} (${spec.flag})`;
    if (raw === undefined || raw === '') {
      if (spec.required && sources.scope !== 'cli') problems.push(`${spec.env} (${spec.flag}) is required: ${spec.doc}`);
      out[spec.key] = spec.kind === 'secret-list' || spec.kind === 'list' ? [] : undefined;
      continue;
    }
    switch (spec.kind) {
      case 'int': {
        const n = Number(raw);
        if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n)) problems.push(`${label} must be a non-negative integer, got "${raw}"`);
        out[spec.key] = n;
        break;
      }
      case 'bool': {
        const v = raw.trim().toLowerCase();
        if (!['true', 'false', '1', '0', 'yes', 'no'].includes(v)) problems.push(`${label} must be true or false, got "${raw}"`);
        out[spec.key] = ['true', '1', 'yes'].includes(v);
        break;
      }
      case 'list': {
        const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
        const bad = spec.key === 'ipAllowlist' ? invalidAllowlistEntries(entries) : [];
        if (bad.length > 0) problems.push(`${label}: not an address, a CIDR, "github", "loopback" or "any": ${bad.join(', ')}`);
        out[spec.key] = entries;
        break;
      }
      case 'secret-list': {
        const secrets = raw.split(',').map((s) => s.trim());
        if (secrets.some((s) => s === '')) problems.push(`${spec.env} must not contain empty secrets`);
        out[spec.key] = secrets.filter(Boolean);
        break;
      }
      case 'trust-proxy': {
        const t = parseTrustProxy(raw);
        if (t instanceof Error) problems.push(`${label}: ${t.message}`);
        else out[spec.key] = t;
        break;
      }
      // URLs are taken without surrounding whitespace (a pasted value, a YAML block): the URL parser ignores it, drivers do not.
      case 'url': {
        const url = raw.trim();
        const protocol = URL.canParse(url) ? new URL(url).protocol : null;
        if (protocol === null || !URL_PROTOCOLS.includes(protocol)) problems.push(`${label} must be a URL, got "${redactUrl(raw)}"`);
        else out[spec.key] = url.replace(/\/+$/, '');
        break;
      }
      case 'database-url': {
        const url = raw.trim();
        const protocol = URL.canParse(url) ? new URL(url).protocol : null;
        if (protocol !== 'postgres:' && protocol !== 'postgresql:') problems.push(`${label} must be a postgres:// URL, got "${redactUrl(raw)}"`);
        else out[spec.key] = url;
        break;
      }
      default:
        out[spec.key] = raw;
    }
  }
  if (typeof out.port === 'number' && (out.port < 0 || out.port > 65535)) problems.push(`GITBRIDGE_PORT must be 0-65535, got ${out.port}`);
  if (typeof out.adminPort === 'number' && out.adminPort > 65535) problems.push(`GITBRIDGE_ADMIN_PORT must be 0-65535, got ${out.adminPort}`);
  if (typeof out.adminPort === 'number' && out.adminPort !== 0 && out.adminPort === out.port) problems.push(`GITBRIDGE_ADMIN_PORT must differ from GITBRIDGE_PORT (${out.port}): the management listener is a second one`);
  if (out.maxPayloadBytes === 0) problems.push('GITBRIDGE_MAX_PAYLOAD_BYTES must be positive');
  if (out.rateLimitWindowS === 0) problems.push('GITBRIDGE_RATE_LIMIT_WINDOW_S must be positive');
  if (out.masConcurrency === 0) problems.push('GITBRIDGE_MAS_CONCURRENCY must be positive');
  if (out.taskMaxAgeS === 0) problems.push('GITBRIDGE_TASK_MAX_AGE_S must be positive');
  // A singleton job holds one connection (its lock) while it works on another.
  if (typeof out.databasePoolMax === 'number' && out.databasePoolMax < 2) problems.push(`GITBRIDGE_DATABASE_POOL_MAX must be at least 2, got ${out.databasePoolMax}`);
  out.storeSynchronous = String(out.storeSynchronous).toUpperCase();
  if (out.storeSynchronous !== 'NORMAL' && out.storeSynchronous !== 'FULL') problems.push(`GITBRIDGE_STORE_SYNCHRONOUS must be NORMAL or FULL, got "${String(out.storeSynchronous)}"`);
  // Levels are pino's lowercase names; `DEBUG` means the same to an operator.
  if (typeof out.logLevel === 'string') out.logLevel = out.logLevel.toLowerCase();
  if (typeof out.logLevel === 'string' && !LOG_LEVELS.includes(out.logLevel)) problems.push(`GITBRIDGE_LOG_LEVEL (--log-level) must be one of ${LOG_LEVELS.join(', ')}, got "${out.logLevel}"`);
  out.dataDir = resolve(cwd, String(out.dataDir));
  out.logDir = resolve(cwd, String(out.logDir));
  if (out.metaUrl === undefined) {
    // Derived from the API URL: a default, not an unset option.
    out.metaUrl = `${String(out.githubApiUrl ?? GITHUB_API_URL)}/meta`;
    from.metaUrl = { source: 'default', origin: '' };
  }
  problems.push(...recoveryProblems(out as Partial<Config>, sources.scope ?? 'daemon', cwd));
  if (typeof out.githubAppPrivateKeyFile === 'string') out.githubAppPrivateKeyFile = resolve(cwd, out.githubAppPrivateKeyFile);
  if (typeof out.githubTokenFile === 'string') out.githubTokenFile = resolve(cwd, out.githubTokenFile);
  if (file.rules !== undefined && !Array.isArray(file.rules)) problems.push(`${String(configFile)}: "rules" must be an array`);
  out.rules = Array.isArray(file.rules) ? (file.rules as RuleSpec[]) : undefined;


  const options = CONFIG_SCHEMA.map((spec) => ({ spec, value: out[spec.key], ...(from[spec.key] ?? { source: 'unset' as const, origin: '' }) }));
  return { config: Object.freeze(out) as unknown as Config, options, problems };
}

/**
 * Builds the configuration from flags > environment > config file > defaults
 * and validates it once. Every problem is reported at once.
 *
 * @throws GitBridgeError `GB_CONFIG_INVALID` listing every problem (message has one per line)
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const { config, problems } = resolveConfig(sources);
  if (problems.length > 0) {
    throw new GitBridgeError('GB_CONFIG_INVALID', {
      message: `Invalid configuration:\n  - ${problems.join('\n  - ')}`,
      hint: 'See docs/configuration.md; `gitbridged config check` shows every value and where it came from',
    });
  }
  return config;
}

/** True for the addresses that bind every interface. */
const wildcardHost = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';

/**
 * Settings that are valid but are probably not what an operator wants in
 * production: the reverse-proxy trap, a proxy that can be bypassed, the admin
 * API on the webhook port. The daemon logs them at start-up and
 * `gitbridged config check` prints them; they never stop the daemon.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.publicUrl?.startsWith('https:') && config.trustProxy === false) {
    warnings.push('GITBRIDGE_PUBLIC_URL is https but GITBRIDGE_TRUST_PROXY is off: if TLS ends in a reverse proxy, every request through it is refused (GB_PROXY_UNTRUSTED); set GITBRIDGE_TRUST_PROXY to the proxy\'s address (127.0.0.1 for one on this host)');
  }
  if (config.trustProxy !== false && wildcardHost(config.host)) {
    warnings.push(typeof config.trustProxy === 'number'
      ? `GITBRIDGE_TRUST_PROXY is a hop count and gitbridged binds ${config.host || 'every address'}: a client that reaches the port without the proxy can forge X-Forwarded-For; bind 127.0.0.1 (GITBRIDGE_HOST) or name the proxies' addresses`
      : `GITBRIDGE_TRUST_PROXY is set and gitbridged binds ${config.host || 'every address'}: clients can reach it without the proxy; behind a proxy on this host, bind 127.0.0.1 (GITBRIDGE_HOST)`);
  }
  if (config.adminToken !== undefined && config.adminPort === undefined) {
    warnings.push('GITBRIDGE_ADMIN_TOKEN turns on the admin API on the webhook port: set GITBRIDGE_ADMIN_PORT to serve /admin/* and /metrics on a separate listener (127.0.0.1 by default)');
  }
  if (config.adminPort !== undefined && wildcardHost(config.adminHost)) {
    warnings.push(`GITBRIDGE_ADMIN_HOST=${config.adminHost} serves /metrics and /admin/* on every interface: give an internal address`);
  }
  return warnings;
}

/** What a redacted credential prints as. */
export const REDACTED = '[redacted]';

/**
 * A URL without its password (`redis://user:[redacted]@host`), including the
 * query parameters libpq takes secrets in (`?password=…`, `?sslpassword=…`),
 * for `config check` and configuration errors: {@link redactUrl} with
 * `[redacted]`.
 */
export function withoutPassword(url: string): string {
  return redactUrl(url, REDACTED);
}

/**
 * An option's value as it may be printed: credentials redacted (a secret
 * list says how many secrets it holds; a secret URL keeps only its origin,
 * since a chat webhook's path is its credential), every URL without its
 * password, lists comma-separated, `-` when unset.
 */
export function displayValue(spec: OptionSpec, value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (spec.secret) {
    if (Array.isArray(value)) return value.length === 0 ? '-' : `${REDACTED} (${value.length} secret${value.length === 1 ? '' : 's'})`;
    if (spec.kind === 'url' && typeof value === 'string' && URL.canParse(value)) return `${new URL(value).origin}/${REDACTED}`;
    return REDACTED;
  }
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(',');
  if ((spec.kind === 'url' || spec.kind === 'database-url') && typeof value === 'string') return withoutPassword(value);
  return String(value);
}
