import type { Config } from '@gitbridge/core/config';
import { usageError } from './exit.js';

/**
 * The local daemon's base URL: `http://127.0.0.1:<port>` from the shared
 * configuration (GITBRIDGE_PORT, the config file, default 3000).
 *
 * @throws GitBridgeError `GB_CLI_USAGE` when the port is 0 (chosen at start-up: pass --url)
 */
export function defaultDaemonUrl(config: Pick<Config, 'port'>): string {
  if (config.port === 0) throw usageError('GITBRIDGE_PORT is 0: the daemon chose its port at start-up', 'pass --url');
  return `http://127.0.0.1:${config.port}`;
}

/**
 * The base URL of the local daemon's admin API: its management listener
 * (`http://<GITBRIDGE_ADMIN_HOST>:<GITBRIDGE_ADMIN_PORT>`) when the
 * configuration has one, else the webhook port ({@link defaultDaemonUrl}).
 *
 * @throws GitBridgeError `GB_CLI_USAGE` when the port is 0 (chosen at start-up: pass --url)
 */
export function defaultAdminUrl(config: Pick<Config, 'port' | 'adminPort' | 'adminHost'>): string {
  if (config.adminPort === undefined) return defaultDaemonUrl(config);
  if (config.adminPort === 0) throw usageError('GITBRIDGE_ADMIN_PORT is 0: the daemon chose its port at start-up', 'pass --url');
  const host = ['0.0.0.0', '::', ''].includes(config.adminHost) ? '127.0.0.1' : config.adminHost;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.adminPort}`;
}

/**
 * The secret that signs test deliveries: `--secret`, else the first of the
 * configured webhook secrets (GITBRIDGE_WEBHOOK_SECRET, its _FILE, or the
 * config file; the first signs, as in the daemon).
 *
 * @throws GitBridgeError `GB_CLI_USAGE` when none is configured
 */
export function resolveSecret(flag: string | undefined, config: Pick<Config, 'webhookSecrets'>): string {
  if (flag !== undefined) {
    if (flag === '') throw usageError('--secret must not be empty');
    return flag;
  }
  const first = config.webhookSecrets[0];
  if (first !== undefined) return first;
  throw usageError(
    'no webhook secret: pass --secret or set GITBRIDGE_WEBHOOK_SECRET',
    "use gitbridged's secret (the first one when it has several), or the delivery will be answered 401",
  );
}

/**
 * Checks that `raw` is an absolute http(s) URL.
 *
 * @param what the flag or variable it came from, for the error message
 * @throws GitBridgeError `GB_CLI_USAGE` otherwise
 */
export function checkHttpUrl(raw: string, what: string): URL {
  if (!URL.canParse(raw)) throw usageError(`${what} must be a URL, got "${raw}"`);
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`${what} must be an http or https URL, got "${raw}"`);
  return url;
}
