import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from './exit.js';

/** The environment as the CLI reads it (a subset of `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v : undefined);

/**
 * The data directory of gitbridged: `--data-dir`, else `GITBRIDGE_DATA_DIR`,
 * else `./data`, resolved against the working directory (as the daemon does).
 */
export function resolveDataDir(flag: string | undefined, env: Env = process.env): string {
  return resolve(nonEmpty(flag) ?? nonEmpty(env.GITBRIDGE_DATA_DIR) ?? './data');
}

/**
 * The local daemon's base URL: `http://127.0.0.1:<GITBRIDGE_PORT or 3000>`.
 *
 * @throws CliError (usage) when `GITBRIDGE_PORT` is not a port number
 */
export function defaultDaemonUrl(env: Env = process.env): string {
  const port = nonEmpty(env.GITBRIDGE_PORT)?.trim() ?? '3000';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw usageError(`GITBRIDGE_PORT must be a port number, got "${port}"`, 'or pass --url');
  }
  return `http://127.0.0.1:${port}`;
}

/**
 * The default webhook URL: {@link defaultDaemonUrl} + `/webhook`.
 *
 * @throws CliError (usage) when `GITBRIDGE_PORT` is not a port number
 */
export function defaultWebhookUrl(env: Env = process.env): string {
  return `${defaultDaemonUrl(env)}/webhook`;
}

/**
 * The secret that signs test deliveries: `--secret`, else the first of
 * `GITBRIDGE_WEBHOOK_SECRET` (comma-separated; the first signs, as in the
 * daemon), else the first line of `GITBRIDGE_WEBHOOK_SECRET_FILE`.
 *
 * @throws CliError (usage) when no secret is configured
 */
export function resolveSecret(flag: string | undefined, env: Env = process.env): string {
  if (flag !== undefined) {
    if (flag === '') throw usageError('--secret must not be empty');
    return flag;
  }
  const list = nonEmpty(env.GITBRIDGE_WEBHOOK_SECRET);
  if (list !== undefined) {
    const first = list.split(',')[0]?.trim() ?? '';
    if (first === '') throw usageError('GITBRIDGE_WEBHOOK_SECRET starts with an empty secret');
    return first;
  }
  const file = nonEmpty(env.GITBRIDGE_WEBHOOK_SECRET_FILE);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(file), 'utf8');
    } catch (err) {
      throw usageError(`GITBRIDGE_WEBHOOK_SECRET_FILE: cannot read ${file} (${(err as Error).message})`);
    }
    const first = text.split(/\r?\n/)[0]?.trim() ?? '';
    if (first === '') throw usageError(`GITBRIDGE_WEBHOOK_SECRET_FILE: ${file} holds no secret on its first line`);
    return first;
  }
  throw usageError(
    'no webhook secret: pass --secret or set GITBRIDGE_WEBHOOK_SECRET',
    "use gitbridged's secret (the first one when it has several), or the delivery will be answered 401",
  );
}

/** GitHub's meta API URL: `--meta-url`, else `GITBRIDGE_META_URL`, else `https://api.github.com/meta`. */
export function resolveMetaUrl(flag: string | undefined, env: Env = process.env): string {
  return nonEmpty(flag) ?? nonEmpty(env.GITBRIDGE_META_URL) ?? 'https://api.github.com/meta';
}

/**
 * Checks that `raw` is an absolute http(s) URL.
 *
 * @param what the flag or variable it came from, for the error message
 * @throws CliError (usage) otherwise
 */
export function checkHttpUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`${what} must be a URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`${what} must be an http or https URL, got "${raw}"`);
  return url;
}
