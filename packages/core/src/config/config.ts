import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GitBridgeError } from '../errors/errors.js';
import { redactUrl } from '../util.js';
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
  /** Most connections a process keeps to PostgreSQL (besides one for wake-ups and one per running singleton job). */
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
  /** Grace period for shutdown, ms. */
  readonly shutdownGraceMs: number;
  /** SQLite `synchronous` mode of the store: `NORMAL` survives a process crash, `FULL` also power loss. */
  readonly storeSynchronous: 'NORMAL' | 'FULL';
  /** Days to keep finished deliveries (with their bodies, tasks and history); 0 keeps them forever. */
  readonly retentionDays: number;
  /** URL of GitHub's meta API (GHES: `https://HOST/api/v3/meta`). */
  readonly metaUrl: string;
  /** How often the daemon refreshes the hook ranges, seconds; 0 disables. */
  readonly metaRefreshS: number;
  /** Routing rules from the config file; undefined = the shipped defaults. */
  readonly rules: readonly RuleSpec[] | undefined;
}

type Kind = 'int' | 'string' | 'bool' | 'list' | 'secret-list' | 'trust-proxy' | 'url' | 'database-url';

/** One option of the configuration schema: its key, environment name, flag, default and meaning. */
export interface OptionSpec {
  readonly key: keyof Config;
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly default: string | undefined;
  readonly doc: string;
  readonly required?: boolean;
}

/** The configuration schema; `docs/configuration.md` documents each entry. */
export const CONFIG_SCHEMA: readonly OptionSpec[] = [
  { key: 'port', env: 'GITBRIDGE_PORT', flag: '--port', kind: 'int', default: '3000', doc: 'TCP port to listen on.' },
  { key: 'host', env: 'GITBRIDGE_HOST', flag: '--host', kind: 'string', default: '0.0.0.0', doc: 'Address to bind.' },
  {
    key: 'webhookSecrets', env: 'GITBRIDGE_WEBHOOK_SECRET', flag: '--webhook-secret', kind: 'secret-list', default: undefined, required: true,
    doc: 'Webhook secret(s), comma-separated: the first signs, all verify (rotation). Or GITBRIDGE_WEBHOOK_SECRET_FILE: a file with one secret per line (trailing newline trimmed).',
  },
  { key: 'dataDir', env: 'GITBRIDGE_DATA_DIR', flag: '--data-dir', kind: 'string', default: './data', doc: 'Directory of the SQLite store (unless GITBRIDGE_DATABASE_URL is set) and of the refreshed GitHub hook ranges.' },
  {
    key: 'databaseUrl', env: 'GITBRIDGE_DATABASE_URL', flag: '--database-url', kind: 'database-url', default: undefined,
    doc: 'PostgreSQL URL (postgres://user:password@host:5432/db): the store is that database, shared by several daemons behind a load balancer, instead of the SQLite file. Its password never appears in logs or messages. See docs/high-availability.md.',
  },
  {
    key: 'databasePoolMax', env: 'GITBRIDGE_DATABASE_POOL_MAX', flag: '--database-pool-max', kind: 'int', default: '10',
    doc: 'With GITBRIDGE_DATABASE_URL: most connections one process keeps to PostgreSQL (at least 2), besides one for wake-ups and one per running singleton job; size it against max_connections.',
  },
  { key: 'logDir', env: 'GITBRIDGE_LOG_DIR', flag: '--log-dir', kind: 'string', default: './logs', doc: 'Directory of webhook.log and security.log.' },
  { key: 'logLevel', env: 'GITBRIDGE_LOG_LEVEL', flag: '--log-level', kind: 'string', default: 'info', doc: 'Minimum log level (trace, debug, info, warn, error, fatal, silent).' },
  { key: 'logStdout', env: 'GITBRIDGE_LOG_STDOUT', flag: '--log-stdout', kind: 'bool', default: 'true', doc: 'Also write the webhook log to standard output.' },
  { key: 'masUrl', env: 'GITBRIDGE_MAS_URL', flag: '--mas-url', kind: 'url', default: 'http://127.0.0.1:8081', doc: 'Base URL of the MAS; tasks are POSTed to <url>/tasks.' },
  { key: 'masToken', env: 'GITBRIDGE_MAS_TOKEN', flag: '--mas-token', kind: 'string', default: undefined, doc: 'Bearer token sent to the MAS.' },
  {
    key: 'masCallbackSecret', env: 'GITBRIDGE_MAS_CALLBACK_SECRET', flag: '--mas-callback-secret', kind: 'string', default: undefined, required: true,
    doc: 'Secret the MAS signs callbacks with (X-MAS-Signature-256).',
  },
  { key: 'publicUrl', env: 'GITBRIDGE_PUBLIC_URL', flag: '--public-url', kind: 'url', default: undefined, doc: 'Public base URL of this daemon (the load balancer\'s, with several); callback_url is <url>/mas/callback. Default http://127.0.0.1:<the port it bound>.' },
  { key: 'redisUrl', env: 'GITBRIDGE_REDIS_URL', flag: '--redis-url', kind: 'url', default: undefined, doc: 'Redis URL; when set, rate-limit counters live in Redis and are shared by several daemons.' },
  { key: 'notifyUrl', env: 'GITBRIDGE_NOTIFY_URL', flag: '--notify-url', kind: 'url', default: undefined, doc: 'Slack-compatible incoming-webhook URL for chat notifications.' },
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
  { key: 'adminToken', env: 'GITBRIDGE_ADMIN_TOKEN', flag: '--admin-token', kind: 'string', default: undefined, doc: 'Bearer token for admin endpoints (replay); unset disables them.' },
  { key: 'storeSynchronous', env: 'GITBRIDGE_STORE_SYNCHRONOUS', flag: '--store-synchronous', kind: 'string', default: 'NORMAL', doc: 'SQLite synchronous mode: NORMAL (no committed delivery lost on a process crash) or FULL (also on power loss; one fsync per group commit).' },
  { key: 'retentionDays', env: 'GITBRIDGE_RETENTION_DAYS', flag: '--retention-days', kind: 'int', default: '30', doc: 'Days to keep finished deliveries (raw bodies for replay, tasks, history); 0 keeps them forever. The journal is kept.' },
  { key: 'metaUrl', env: 'GITBRIDGE_META_URL', flag: '--meta-url', kind: 'url', default: 'https://api.github.com/meta', doc: "GitHub's meta API, source of the hook ranges (GHES: https://HOST/api/v3/meta)." },
  { key: 'metaRefreshS', env: 'GITBRIDGE_META_REFRESH_S', flag: '--meta-refresh-s', kind: 'int', default: '86400', doc: 'How often the daemon refreshes the hook ranges, seconds; 0 disables. A failed refresh keeps the last good list.' },
  { key: 'shutdownGraceMs', env: 'GITBRIDGE_SHUTDOWN_GRACE_MS', flag: '--shutdown-grace-ms', kind: 'int', default: '10000', doc: 'Grace period for a clean shutdown, ms.' },
];

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

/**
 * Builds the configuration from flags > environment > config file > defaults
 * and validates it once. Every problem is reported at once.
 *
 * @throws GitBridgeError `GB_CONFIG_INVALID` listing every problem (message has one per line)
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const cwd = sources.cwd ?? process.cwd();
  const problems: string[] = [];

  const configFile = flags.configFile ?? env.GITBRIDGE_CONFIG;
  let file: Record<string, unknown> = {};
  if (configFile) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(resolve(cwd, configFile), 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${configFile}: must hold a JSON object`);
      else file = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(`${configFile}: cannot be read as JSON (${(err as Error).message})`);
    }
  }

  const out: Record<string, unknown> = {};
  for (const spec of CONFIG_SCHEMA) {
    if (spec.key === 'configFile') {
      out.configFile = configFile ? resolve(cwd, configFile) : undefined;
      continue;
    }
    let raw: string | undefined = flags[spec.key] ?? env[spec.env];
    let fromFile: unknown = raw === undefined ? file[spec.key] : undefined;
    if (spec.key === 'webhookSecrets' && raw === undefined && fromFile === undefined) {
      const secretFile = env.GITBRIDGE_WEBHOOK_SECRET_FILE;
      if (secretFile) {
        try {
          // Trailing newlines (and CR) are trimmed: `echo secret > file` must work.
          raw = readFileSync(resolve(cwd, secretFile), 'utf8').replace(/[\r\n]+$/, '').split(/\r?\n/).join(',');
        } catch (err) {
          problems.push(`GITBRIDGE_WEBHOOK_SECRET_FILE: cannot read ${secretFile} (${(err as Error).message})`);
        }
      }
    }
    if (fromFile !== undefined && raw === undefined) {
      raw = Array.isArray(fromFile) ? fromFile.join(',') : String(fromFile);
    }
    raw ??= spec.default;
    if (raw === undefined || raw === '') {
      if (spec.required && sources.scope !== 'cli') problems.push(`${spec.env} (${spec.flag}) is required: ${spec.doc}`);
      out[spec.key] = spec.kind === 'secret-list' ? [] : undefined;
      continue;
    }
    switch (spec.kind) {
      case 'int': {
        const n = Number(raw);
        if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n)) problems.push(`${spec.env} (${spec.flag}) must be a non-negative integer, got "${raw}"`);
        out[spec.key] = n;
        break;
      }
      case 'bool': {
        const v = raw.trim().toLowerCase();
        if (!['true', 'false', '1', '0', 'yes', 'no'].includes(v)) problems.push(`${spec.env} (${spec.flag}) must be true or false, got "${raw}"`);
        out[spec.key] = ['true', '1', 'yes'].includes(v);
        break;
      }
      case 'list': {
        const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
        const bad = spec.key === 'ipAllowlist' ? invalidAllowlistEntries(entries) : [];
        if (bad.length > 0) problems.push(`${spec.env} (${spec.flag}): not an address, a CIDR, "github", "loopback" or "any": ${bad.join(', ')}`);
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
        if (t instanceof Error) problems.push(`${spec.env} (${spec.flag}): ${t.message}`);
        else out[spec.key] = t;
        break;
      }
      case 'url': {
        const protocol = URL.canParse(raw) ? new URL(raw).protocol : null;
        if (protocol === null || !URL_PROTOCOLS.includes(protocol)) problems.push(`${spec.env} (${spec.flag}) must be a URL, got "${redactUrl(raw)}"`);
        else out[spec.key] = raw.replace(/\/+$/, '');
        break;
      }
      case 'database-url': {
        const protocol = URL.canParse(raw) ? new URL(raw).protocol : null;
        if (protocol !== 'postgres:' && protocol !== 'postgresql:') problems.push(`${spec.env} (${spec.flag}) must be a postgres:// URL, got "${redactUrl(raw)}"`);
        else out[spec.key] = raw;
        break;
      }
      default:
        out[spec.key] = raw;
    }
  }
  if (typeof out.port === 'number' && (out.port < 0 || out.port > 65535)) problems.push(`GITBRIDGE_PORT must be 0-65535, got ${out.port}`);
  if (out.maxPayloadBytes === 0) problems.push('GITBRIDGE_MAX_PAYLOAD_BYTES must be positive');
  if (out.rateLimitWindowS === 0) problems.push('GITBRIDGE_RATE_LIMIT_WINDOW_S must be positive');
  if (out.masConcurrency === 0) problems.push('GITBRIDGE_MAS_CONCURRENCY must be positive');
  if (out.taskMaxAgeS === 0) problems.push('GITBRIDGE_TASK_MAX_AGE_S must be positive');
  // A singleton job holds one connection (its lock) while it works on another.
  if (typeof out.databasePoolMax === 'number' && out.databasePoolMax < 2) problems.push(`GITBRIDGE_DATABASE_POOL_MAX must be at least 2, got ${out.databasePoolMax}`);
  out.storeSynchronous = String(out.storeSynchronous).toUpperCase();
  if (out.storeSynchronous !== 'NORMAL' && out.storeSynchronous !== 'FULL') problems.push(`GITBRIDGE_STORE_SYNCHRONOUS must be NORMAL or FULL, got "${String(out.storeSynchronous)}"`);
  if (typeof out.logLevel === 'string' && !LOG_LEVELS.includes(out.logLevel)) problems.push(`GITBRIDGE_LOG_LEVEL (--log-level) must be one of ${LOG_LEVELS.join(', ')}, got "${out.logLevel}"`);
  out.dataDir = resolve(cwd, String(out.dataDir));
  out.logDir = resolve(cwd, String(out.logDir));
  if (file.rules !== undefined && !Array.isArray(file.rules)) problems.push(`${String(configFile)}: "rules" must be an array`);
  out.rules = Array.isArray(file.rules) ? (file.rules as RuleSpec[]) : undefined;

  if (problems.length > 0) {
    throw new GitBridgeError('GB_CONFIG_INVALID', {
      message: `Invalid configuration:\n  - ${problems.join('\n  - ')}`,
      hint: 'See docs/configuration.md',
    });
  }
  return Object.freeze(out) as unknown as Config;
}
