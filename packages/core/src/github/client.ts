import { readFileSync } from 'node:fs';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { GitBridgeError } from '../errors/errors.js';
import { describeNetworkError } from '../errors/network.js';
import { sleep, type Clock } from '../time/clock.js';
import { USER_AGENT } from '../version.js';
import { appJwt, readAppPrivateKey } from './app-jwt.js';
import { credentialFor, type HookRef } from './hooks.js';

/**
 * One delivery attempt as GitHub lists it (a "simple webhook delivery" of
 * "List deliveries for a repository webhook" and its organization and App
 * twins). Every attempt of one event shares its `guid`, the
 * `X-GitHub-Delivery` GitBridge stores.
 */
export interface HookDelivery {
  /** GitHub's id of this attempt (what `POST …/deliveries/{id}/attempts` names). */
  readonly id: number;
  readonly guid: string;
  /** When GitHub made the attempt, ISO-8601. */
  readonly deliveredAt: string;
  /** True for an attempt made by a redelivery. */
  readonly redelivery: boolean;
  /** GitHub's summary of the answer (`OK`, `Invalid HTTP Response: 503`, …). */
  readonly status: string;
  /** The HTTP status the receiver answered (0 when there was no answer). */
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
}

/** True for an attempt the receiver answered with a 2xx ("Handling failed webhook deliveries": a failed one's status is not OK). */
export function succeeded(d: Pick<HookDelivery, 'statusCode'>): boolean {
  return d.statusCode >= 200 && d.statusCode < 300;
}

/** The part of GitHub's REST API that recovery uses. */
export interface GitHubClient {
  /**
   * The hook's delivery attempts, one page (up to 100) at a time, newest
   * first, following the `Link` header's `next` cursor. Stop iterating to
   * stop paging.
   *
   * @throws GitBridgeError `GB_GITHUB_AUTH_FAILED`, `GB_GITHUB_HOOK_NOT_FOUND`, `GB_GITHUB_RATE_LIMITED`,
   *   `GB_GITHUB_API_FAILED`, `GB_RECOVERY_NOT_CONFIGURED` (no credentials for this kind of hook)
   */
  deliveryPages(hook: HookRef): AsyncIterable<readonly HookDelivery[]>;
  /**
   * Asks GitHub to redeliver an attempt (`POST …/deliveries/{id}/attempts`,
   * answered 202): GitHub sends the original delivery again, signed, with
   * the same `X-GitHub-Delivery`.
   *
   * @throws GitBridgeError as {@link GitHubClient.deliveryPages}
   */
  redeliver(hook: HookRef, deliveryId: number): Promise<void>;
}

/** Credentials and tuning of {@link createGitHubClient}. */
export interface GitHubClientOptions {
  /** `https://api.github.com`, or `https://HOST/api/v3` (GitHub Enterprise Server). */
  readonly apiUrl: string;
  /** Token for repository and organization hooks. */
  readonly token?: string;
  /** The App, for its hook: id (or client id) and PEM private key. */
  readonly app?: { readonly appId: string; readonly privateKey: string; readonly keySource: string };
  /** Rate-limit waits and the JWT's time run on this clock. */
  readonly clock: Clock;
  readonly log?: Logger;
  /** Per-request timeout, ms (default 30 000). */
  readonly timeoutMs?: number;
  /** The longest rate-limit wait the client sits out, ms; a longer one fails with `GB_GITHUB_RATE_LIMITED` (default 15 minutes). */
  readonly maxRateLimitWaitMs?: number;
  /** Multiplier of the retry plugin's backoff for 5xx and network errors, ms (default 1000: 1 s, 4 s, 9 s). */
  readonly retryBaseMs?: number;
  /** Told before each rate-limit wait (progress output). */
  readonly onRateLimitWait?: (waitMs: number, what: string) => void;
}

/** `GitHub-API-Version` sent with every request (GitHub docs, "API Versions"). */
const API_VERSION = '2022-11-28';

/** Rate-limit retries of one request before it fails. */
const MAX_RATE_LIMIT_RETRIES = 3;

const RestOctokit = Octokit.plugin(paginateRest, retry, throttling);
type RestClient = InstanceType<typeof RestOctokit>;

/** The API route of a hook's deliveries, with its parameters. */
function deliveriesRoute(hook: HookRef): { route: string; params: Record<string, string | number> } {
  switch (hook.kind) {
    case 'repo':
      return { route: '/repos/{owner}/{repo}/hooks/{hook_id}/deliveries', params: { owner: hook.owner, repo: hook.repo, hook_id: hook.hookId } };
    case 'org':
      return { route: '/orgs/{org}/hooks/{hook_id}/deliveries', params: { org: hook.org, hook_id: hook.hookId } };
    case 'app':
      return { route: '/app/hook/deliveries', params: {} };
  }
}

/** A delivery summary from GitHub's JSON, or null when it lacks what recovery needs. */
function toHookDelivery(raw: unknown): HookDelivery | null {
  const d = raw as Record<string, unknown> | null;
  if (!d || typeof d.id !== 'number' || typeof d.guid !== 'string' || typeof d.delivered_at !== 'string' || Number.isNaN(Date.parse(d.delivered_at))) return null;
  return {
    id: d.id,
    guid: d.guid,
    deliveredAt: new Date(Date.parse(d.delivered_at)).toISOString(),
    redelivery: d.redelivery === true,
    status: typeof d.status === 'string' ? d.status : '',
    statusCode: typeof d.status_code === 'number' ? d.status_code : 0,
    event: typeof d.event === 'string' ? d.event : 'unknown',
    action: typeof d.action === 'string' ? d.action : null,
  };
}

/**
 * What looks like a credential in a text: GitHub's token formats (`ghp_`,
 * `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`; GitHub's docs, "About
 * authentication to GitHub") and a JWT (three base64url parts, the first
 * starting `eyJ`, as an App's is).
 */
const CREDENTIAL_LIKE = /\b(?:gh[pousr]_[A-Za-z0-9_]{8,}|github_pat_[A-Za-z0-9_]{8,}|eyJ[\w-]+\.[\w-]+\.[\w-]*)/g;

/**
 * Maps an error of an API call to GitBridge's codes. Messages name the call
 * and GitHub's answer, never a credential.
 */
export function gitHubError(err: unknown, what: string, hook: HookRef): GitBridgeError {
  if (err instanceof GitBridgeError) return err;
  const e = err as { status?: number; message?: string; response?: { headers?: Record<string, string | undefined> } };
  // GitHub's own answers never echo a credential; a proxy or a look-alike might: tokens and JWTs are masked.
  const answer = (e.message ?? '').replace(/ - https:\/\/docs\.github\.com\S*$/, '').replace(CREDENTIAL_LIKE, '[redacted]');
  const headers = e.response?.headers ?? {};
  if (e.response === undefined) {
    // A TypeError from octokit's own code: the answer had a shape GitHub's API never gives (an HTML page, a redirect's target, a proxy).
    if (err instanceof TypeError) {
      return new GitBridgeError('GB_GITHUB_API_FAILED', { message: `${what}: the answer is not one of GitHub's API (${err.message})`, hint: 'check GITBRIDGE_GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3)', cause: err });
    }
    return new GitBridgeError('GB_GITHUB_API_FAILED', { message: `${what}: ${describeNetworkError((err as { cause?: unknown }).cause ?? err)}`, cause: err });
  }
  const status = e.status ?? 0;
  const rateLimited = status === 429 || (status === 403 && (headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(answer)));
  if (rateLimited) {
    const reset = Number(headers['x-ratelimit-reset']);
    const when = headers['retry-after'] ? `retry after ${headers['retry-after']} s` : Number.isFinite(reset) && reset > 0 ? `resets at ${new Date(reset * 1000).toISOString()}` : 'retry later';
    return new GitBridgeError('GB_GITHUB_RATE_LIMITED', { message: `${what}: GitHub's rate limit (${answer}); ${when}`, cause: err });
  }
  if (status === 401 || status === 403) {
    const hint = credentialFor(hook) === 'app'
      ? 'check GITBRIDGE_GITHUB_APP_ID and that GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE is a current private key of that App'
      : 'the token needs admin on the repository (owner of the organization for an org hook): classic scopes admin:repo_hook / admin:org_hook, fine-grained "Webhooks: read and write"';
    return new GitBridgeError('GB_GITHUB_AUTH_FAILED', { message: `${what}: GitHub answered ${status} (${answer})`, hint, cause: err });
  }
  // GitHub's API answers JSON, its 404s too: a web page's 404 means the API URL is wrong, not the hook.
  if (status === 404 && !/json/i.test(headers['content-type'] ?? '')) {
    return new GitBridgeError('GB_GITHUB_API_FAILED', {
      message: `${what}: the answer is not one of GitHub's API (404, ${headers['content-type'] ?? 'no content type'})`,
      hint: 'check GITBRIDGE_GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3)',
      cause: err,
    });
  }
  if (status === 404) {
    return new GitBridgeError('GB_GITHUB_HOOK_NOT_FOUND', {
      message: `${what}: GitHub answered 404: no hook ${hook.path}, or the credentials cannot see it`,
      hint: 'check the hook path in GITBRIDGE_RECOVER_HOOKS (the hook id is in the hook\'s settings URL) and the token\'s access',
      cause: err,
    });
  }
  return new GitBridgeError('GB_GITHUB_API_FAILED', { message: `${what}: GitHub answered ${status}${answer ? ` (${answer})` : ''}`, cause: err });
}

/**
 * Builds the REST client recovery uses, from the well-kept octokit pieces:
 * `@octokit/core` with cursor pagination (`plugin-paginate-rest`), GitHub's
 * rate-limit rules (`plugin-throttling`: POSTs at most one a second, waits
 * on `403`/`429` with `retry-after` or `x-ratelimit-reset`), retries of 5xx
 * and network errors (`plugin-retry`), and App authentication
 * (`auth-app`, with the JWT built by {@link appJwt}). Rate-limit waits run
 * on the injected clock; before a request, a quota seen exhausted
 * (`x-ratelimit-remaining: 0`) is waited out until `x-ratelimit-reset`
 * (GitHub docs, "Rate limits for the REST API", "Best practices for using
 * the REST API").
 *
 * @throws GitBridgeError `GB_GITHUB_AUTH_FAILED` when the App's private key is not a PEM RSA key
 */
export function createGitHubClient(options: GitHubClientOptions): GitHubClient {
  const { clock, log } = options;
  const maxWaitMs = options.maxRateLimitWaitMs ?? 15 * 60_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  // A quota seen exhausted: no request before this time (ms, GitHub's reset).
  let exhaustedUntil = 0;

  const waitOut = async (retryAfterS: number, what: string, retryCount: number): Promise<boolean> => {
    const ms = Math.max(0, retryAfterS * 1000);
    if (retryCount >= MAX_RATE_LIMIT_RETRIES || ms > maxWaitMs) return false;
    log?.warn({ waitMs: ms, request: what, retry: retryCount + 1 }, "GitHub's rate limit: waiting before the retry");
    options.onRateLimitWait?.(ms, what);
    await sleep(clock, ms);
    return true;
  };

  const octokitLog = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string) => log?.warn({ source: 'octokit' }, message),
    error: (message: string) => log?.error({ source: 'octokit' }, message),
  };
  const common = {
    baseUrl: options.apiUrl,
    userAgent: USER_AGENT,
    log: octokitLog,
    request: {
      fetch: (url: string, init: RequestInit) => fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(timeoutMs) }),
    },
    retry: {
      retryAfterBaseValue: options.retryBaseMs ?? 1000,
      // Rate limits (403, 429) are plugin-throttling's, on the clock.
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    },
    throttle: {
      // The handlers wait on the injected clock, then ask for an immediate retry.
      retryAfterBaseValue: 0,
      onRateLimit: (retryAfter: number, o: { method: string; url: string }, _k: unknown, retryCount: number) => waitOut(retryAfter, `${o.method} ${o.url}`, retryCount),
      onSecondaryRateLimit: (retryAfter: number, o: { method: string; url: string }, _k: unknown, retryCount: number) => waitOut(retryAfter, `${o.method} ${o.url}`, retryCount),
    },
  };
  const withQuota = (octokit: RestClient): RestClient => {
    octokit.hook.before('request', async (o) => {
      const wait = exhaustedUntil - clock.now();
      if (wait <= 0) return;
      if (wait > maxWaitMs) {
        throw new GitBridgeError('GB_GITHUB_RATE_LIMITED', { message: `GitHub's rate limit is exhausted until ${new Date(exhaustedUntil).toISOString()}` });
      }
      log?.warn({ waitMs: wait }, "GitHub's rate limit is exhausted: waiting for its reset");
      options.onRateLimitWait?.(wait, `${o.method} ${o.url}`);
      await sleep(clock, wait);
    });
    octokit.hook.after('request', (response) => {
      const headers = response.headers as Record<string, string | undefined>;
      if (headers['x-ratelimit-remaining'] === '0') exhaustedUntil = Number(headers['x-ratelimit-reset']) * 1000 + 1000;
    });
    return octokit;
  };

  const tokenClient = options.token !== undefined ? withQuota(new RestOctokit({ ...common, auth: options.token })) : undefined;
  let appClient: RestClient | undefined;
  if (options.app) {
    const { appId } = options.app;
    const key = readAppPrivateKey(options.app.privateKey, options.app.keySource);
    appClient = withQuota(new RestOctokit({
      ...common,
      authStrategy: createAppAuth,
      auth: {
        appId,
        // auth-app passes the skew it measured from GitHub's Date header, in seconds.
        createJwt: async (_id: string | number, timeDifference?: number) => appJwt(appId, key, clock.now() + (timeDifference ?? 0) * 1000),
      },
    }));
  }

  const clientFor = (hook: HookRef): RestClient => {
    const client = credentialFor(hook) === 'app' ? appClient : tokenClient;
    if (client) return client;
    throw new GitBridgeError('GB_RECOVERY_NOT_CONFIGURED', {
      message: hook.kind === 'app'
        ? `no GitHub App credentials for the App's hook: set GITBRIDGE_GITHUB_APP_ID and GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE`
        : `no GitHub token for ${hook.path}: set GITBRIDGE_GITHUB_TOKEN or GITBRIDGE_GITHUB_TOKEN_FILE`,
      hint: 'see docs/recovery.md',
    });
  };
  const headers = { accept: 'application/vnd.github+json', 'x-github-api-version': API_VERSION };

  return {
    async *deliveryPages(hook) {
      const client = clientFor(hook);
      const { route, params } = deliveriesRoute(hook);
      const what = `GET ${route.replace('{owner}', String(params.owner)).replace('{repo}', String(params.repo)).replace('{org}', String(params.org)).replace('{hook_id}', String(params.hook_id))}`;
      const pages = client.paginate.iterator(`GET ${route}`, { ...params, per_page: 100, headers } as never) as AsyncIterable<{ data: unknown }>;
      const iterator = pages[Symbol.asyncIterator]();
      try {
        for (;;) {
          let next: IteratorResult<{ data: unknown }>;
          try {
            next = await iterator.next();
          } catch (err) {
            throw gitHubError(err, what, hook);
          }
          if (next.done) return;
          const data = next.value.data;
          if (!Array.isArray(data)) throw new GitBridgeError('GB_GITHUB_API_FAILED', { message: `${what}: the answer is not a list of deliveries`, hint: 'check GITBRIDGE_GITHUB_API_URL' });
          const summaries = data.map(toHookDelivery).filter((d): d is HookDelivery => d !== null);
          // A page of items none of which is a delivery summary is not GitHub's answer (a proxy, a wrong API URL):
          // failing keeps the pass from reading it as "nothing missing" and moving its checkpoint on.
          if (data.length > 0 && summaries.length === 0) {
            throw new GitBridgeError('GB_GITHUB_API_FAILED', { message: `${what}: the answer's ${data.length} items are not delivery summaries (id, guid, delivered_at)`, hint: 'check GITBRIDGE_GITHUB_API_URL' });
          }
          yield summaries;
        }
      } finally {
        await iterator.return?.();
      }
    },

    async redeliver(hook, deliveryId) {
      const client = clientFor(hook);
      const { route, params } = deliveriesRoute(hook);
      const what = `POST ${hook.path === 'app' ? '/app/hook' : `/${hook.path}`}/deliveries/${deliveryId}/attempts`;
      try {
        await client.request(`POST ${route}/{delivery_id}/attempts`, { ...params, delivery_id: deliveryId, headers } as never);
      } catch (err) {
        throw gitHubError(err, what, hook);
      }
    },
  };
}

/**
 * The client for a configuration: the token (repository and organization
 * hooks) and the App's id and private key file (the App's hook), as far as
 * they are set; a hook whose credentials are missing fails when it is used.
 *
 * @throws GitBridgeError `GB_RECOVERY_NOT_CONFIGURED` when the key file cannot be read,
 *   `GB_GITHUB_AUTH_FAILED` when it is not a PEM RSA key
 */
export function gitHubClientFromConfig(
  config: Pick<Config, 'githubApiUrl' | 'githubToken' | 'githubAppId' | 'githubAppPrivateKeyFile'>,
  options: Omit<GitHubClientOptions, 'apiUrl' | 'token' | 'app'>,
): GitHubClient {
  let app: GitHubClientOptions['app'];
  if (config.githubAppId !== undefined && config.githubAppPrivateKeyFile !== undefined) {
    let privateKey: string;
    try {
      privateKey = readFileSync(config.githubAppPrivateKeyFile, 'utf8');
    } catch (err) {
      throw new GitBridgeError('GB_RECOVERY_NOT_CONFIGURED', { message: `cannot read GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE ${config.githubAppPrivateKeyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
    app = { appId: config.githubAppId, privateKey, keySource: config.githubAppPrivateKeyFile };
  }
  return createGitHubClient({ ...options, apiUrl: config.githubApiUrl, ...(config.githubToken !== undefined ? { token: config.githubToken } : {}), ...(app ? { app } : {}) });
}
