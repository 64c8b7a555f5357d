/**
 * A stand-in for GitHub on loopback (these machines cannot reach the real
 * one), faithful to the documented shapes of what recovery uses:
 *
 * - hooks that deliver: `send()` signs a payload with the hook's secret
 *   (`X-Hub-Signature-256` over the exact bytes), POSTs it to the hook's URL
 *   as GitHub does (json or form content type), and records the attempt with
 *   the receiver's answer; the original bytes and headers are kept;
 * - "List deliveries for a repository webhook" (and the organization and App
 *   twins): delivery summaries `{id, guid, delivered_at, redelivery, duration,
 *   status, status_code, event, action, installation_id, repository_id}`,
 *   newest first, `per_page` up to 100, cursor pagination through `Link`;
 * - "Redeliver a delivery": `POST …/deliveries/{id}/attempts` answers 202,
 *   then re-sends the original signed bytes and headers to the hook's URL and
 *   records the new attempt (`redelivery: true`);
 * - authentication: 401 without the right token; the App's routes take only
 *   an RS256 JWT signed with the App's key (a real RSA key pair made here),
 *   `iss` the App id, `iat` in the past, `exp` in the future and at most 10
 *   minutes after `iat`;
 * - rate limits: `x-ratelimit-*` headers on every answer; a secondary rate
 *   limit (403 with `retry-after`) on request.
 */
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { sign, type Clock } from '@gitbridge/core';

/** One attempt GitHub made to deliver an event to a hook. */
export interface FakeAttempt {
  readonly id: number;
  readonly guid: string;
  readonly deliveredAt: number;
  readonly redelivery: boolean;
  readonly status: string;
  readonly statusCode: number;
  readonly event: string;
  readonly action: string | null;
}

/** What GitHub sent the first time: re-sent byte for byte by a redelivery. */
interface Original {
  readonly guid: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** A hook on the fake GitHub. */
export interface FakeHook {
  /** Its API path: `repos/o/r/hooks/1`, `orgs/o/hooks/2` or `app`. */
  readonly path: string;
  readonly hookId: number;
  /** Where it delivers (like editing the hook's URL on GitHub). */
  url: string;
  readonly secret: string;
  readonly contentType: 'json' | 'form';
  /** Every attempt, oldest first. */
  readonly attempts: FakeAttempt[];
  readonly originals: Map<string, Original>;
  /** While true, accepted redeliveries wait (GitHub has not got to them yet) until {@link FakeGitHub.releaseRedeliveries}. */
  holdRedeliveries: boolean;
}

/** A request the fake API answered. */
export interface ApiCall {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

/** The GitHub App of the fake: its id and a real RSA key pair. */
export interface FakeApp {
  readonly id: string;
  /** PKCS#1 PEM, as GitHub hands it out. */
  readonly privateKeyPem: string;
  readonly publicKey: KeyObject;
}

/** Options of {@link startFakeGitHub}. */
export interface FakeGitHubOptions {
  /** The clock of `delivered_at`, JWT checks and rate-limit resets (default the wall clock). */
  readonly clock?: Clock;
  /** Largest page served, whatever `per_page` asks (to make lists span pages). */
  readonly maxPageSize?: number;
  /** The token repository and organization routes accept. */
  readonly token?: string;
}

/** The fake GitHub. */
export interface FakeGitHub {
  /** Base URL of the API, as GITBRIDGE_GITHUB_API_URL. */
  readonly url: string;
  readonly token: string;
  readonly app: FakeApp;
  readonly calls: ApiCall[];
  /** Adds a hook that delivers to `url`. */
  addHook(path: string, options: { url: string; secret: string; contentType?: 'json' | 'form' }): FakeHook;
  hook(path: string): FakeHook;
  /**
   * GitHub delivers an event to the hook now: the signed request goes to the
   * hook's URL (`drop: true`: it is lost on the way, as in a network cut, and
   * the attempt is recorded as timed out).
   */
  send(path: string, event: string, payload: Record<string, unknown>, options?: { drop?: boolean; guid?: string }): Promise<FakeAttempt>;
  /** Records an attempt made in the past without sending anything (an old delivery). */
  recordPast(path: string, attempt: { event: string; action?: string | null; deliveredAt: number; statusCode: number; guid?: string; payload?: Record<string, unknown> }): FakeAttempt;
  /** The next `n` POSTs of redeliveries are answered with a secondary rate limit (403, `retry-after`). */
  secondaryLimitOnNextPosts(n: number, retryAfterS: number): void;
  /** The attempt ids GitHub was asked to redeliver (answered 202), in order. */
  redeliveryRequests(): number[];
  /** Sends the redeliveries a hook held back. */
  releaseRedeliveries(path: string): Promise<void>;
  /** The next answer says the quota is spent (`x-ratelimit-remaining: 0`) until `resetInS` from now. */
  exhaustQuota(resetInS: number): void;
  /** Resolves once every redelivery GitHub accepted has been sent. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const SECONDARY_LIMIT_MESSAGE = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.';

const statusText = (code: number) => (code >= 200 && code < 300 ? 'OK' : `Invalid HTTP Response: ${code}`);

/** Makes a GitHub App with a fresh 2048-bit RSA key pair. */
export function makeApp(id = '424242'): FakeApp {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { id, privateKeyPem: privateKey, publicKey: createPublicKey(publicKey) };
}

/** Checks a GitHub App JWT as GitHub does; returns null when valid, else GitHub's message. */
function checkJwt(jwt: string, app: FakeApp, nowS: number): string | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'A JSON web token could not be decoded';
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string };
  let payload: { iat?: unknown; exp?: unknown; iss?: unknown };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as typeof payload;
  } catch {
    return 'A JSON web token could not be decoded';
  }
  if (header.alg !== 'RS256') return 'A JSON web token could not be decoded';
  if (!verify('sha256', Buffer.from(`${h}.${p}`), app.publicKey, Buffer.from(s, 'base64url'))) return 'A JSON web token could not be decoded';
  if (String(payload.iss) !== app.id) return `Integration not found`;
  if (typeof payload.iat !== 'number' || payload.iat > nowS + 60) return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
  if (typeof payload.exp !== 'number' || payload.exp <= nowS) return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
  if (payload.exp - payload.iat > 600 || payload.exp > nowS + 600) return "'Expiration time' claim ('exp') is too far in the future";
  return null;
}

/** Starts the fake GitHub on 127.0.0.1 with a free port. */
export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const now = () => options.clock?.now() ?? Date.now();
  const token = options.token ?? `ghp_${randomUUID().replace(/-/g, '')}`;
  const app = makeApp();
  const hooks = new Map<string, FakeHook>();
  const calls: ApiCall[] = [];
  const accepted: number[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let nextId = 90_000_000_000;
  let nextPastId = 89_999_999_999;
  let nextHookId = 1000;
  let secondary = { count: 0, retryAfterS: 0 };
  let remaining = 5000;
  let resetAt: number | null = null;
  const held = new Map<string, (() => Promise<unknown>)[]>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  const addAttempt = (hook: FakeHook, a: Omit<FakeAttempt, 'id'>, past = false): FakeAttempt => {
    // GitHub's ids grow with time: an attempt recorded in the past gets an id below every current one.
    const attempt = { ...a, id: past ? nextPastId-- : nextId++ };
    hook.attempts.push(attempt);
    return attempt;
  };

  /** Sends a stored original to the hook's URL and records the attempt. */
  const deliver = async (hook: FakeHook, original: Original, event: string, action: string | null, redelivery: boolean, drop: boolean): Promise<FakeAttempt> => {
    let statusCode = 0;
    let status = 'timed out';
    if (!drop) {
      try {
        const res = await request(hook.url, { method: 'POST', headers: original.headers, body: original.body, headersTimeout: 10_000, bodyTimeout: 10_000 });
        await res.body.dump();
        statusCode = res.statusCode;
        status = statusText(statusCode);
      } catch (err) {
        status = `failed to connect to host (${(err as { code?: string }).code ?? 'error'})`;
      }
    }
    return addAttempt(hook, { guid: original.guid, deliveredAt: now(), redelivery, status, statusCode, event, action });
  };

  const original = (hook: FakeHook, guid: string, event: string, payload: Record<string, unknown>): Original => {
    const json = JSON.stringify(payload);
    const body = Buffer.from(hook.contentType === 'json' ? json : `payload=${encodeURIComponent(json)}`);
    const headers: Record<string, string> = {
      'content-type': hook.contentType === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
      'user-agent': 'GitHub-Hookshot/fake01',
      'x-github-event': event,
      'x-github-delivery': guid,
      'x-github-hook-id': String(hook.hookId),
      'x-github-hook-installation-target-type': hook.path === 'app' ? 'integration' : hook.path.startsWith('orgs/') ? 'organization' : 'repository',
      'x-github-hook-installation-target-id': '1',
      'x-hub-signature': `sha1=${createHmac('sha1', hook.secret).update(body).digest('hex')}`,
      'x-hub-signature-256': sign(hook.secret, body),
    };
    const o = { guid, body, headers };
    hook.originals.set(guid, o);
    return o;
  };

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (status !== 403 || remaining > 0) remaining = Math.max(0, remaining - 1);
    if (resetAt !== null && now() >= resetAt) {
      remaining = 4999;
      resetAt = null;
    }
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(Math.floor((resetAt ?? now() + 3_600_000) / 1000)),
      'x-ratelimit-resource': 'core',
      'x-github-api-version-selected': '2022-11-28',
      ...headers,
    }).end(body === undefined ? '' : JSON.stringify(body));
  };

  /** The hook a request path names, and what follows it. */
  const route = (pathname: string): { hook: FakeHook; rest: string } | null => {
    const m = /^\/(repos\/[^/]+\/[^/]+\/hooks\/\d+|orgs\/[^/]+\/hooks\/\d+|app\/hook)(\/.*)$/.exec(pathname);
    if (!m) return null;
    const hook = hooks.get(m[1] === 'app/hook' ? 'app' : m[1]!);
    return hook ? { hook, rest: m[2]! } : null;
  };

  const authorized = (req: IncomingMessage, hook: FakeHook): string | null => {
    const auth = req.headers.authorization ?? '';
    const [scheme, credential] = auth.split(/\s+/, 2);
    if (hook.path === 'app') {
      if (scheme?.toLowerCase() !== 'bearer' || !credential) return 'A JSON web token could not be decoded';
      return checkJwt(credential, app, Math.floor(now() / 1000));
    }
    return (scheme?.toLowerCase() === 'token' || scheme?.toLowerCase() === 'bearer') && credential === token ? null : 'Bad credentials';
  };

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        calls.push({ method: req.method ?? '', path: url.pathname + url.search, status });
        json(res, status, body, headers);
      };
      if (remaining === 0 && resetAt !== null && now() < resetAt) {
        // GitHub's primary rate limit: a request while the quota is spent is refused.
        return answer(403, { message: 'API rate limit exceeded for installation ID 1.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' });
      }
      const found = route(url.pathname);
      if (!found) return answer(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      const { hook, rest } = found;
      const denied = authorized(req, hook);
      if (denied) return answer(401, { message: denied, documentation_url: 'https://docs.github.com/rest', status: '401' });

      if (req.method === 'GET' && rest === '/deliveries') {
        const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? '30'), options.maxPageSize ?? 100);
        const newestFirst = [...hook.attempts].sort((a, b) => b.deliveredAt - a.deliveredAt || b.id - a.id);
        // An opaque cursor (here: the offset of the page's first item).
        const cursor = url.searchParams.get('cursor');
        const start = cursor === null ? 0 : Number(Buffer.from(cursor, 'base64url').toString());
        const page = newestFirst.slice(start, start + perPage);
        const headers: Record<string, string> = {};
        if (start + perPage < newestFirst.length) {
          const next = new URL(`${base}${url.pathname}`);
          next.searchParams.set('per_page', String(perPage));
          next.searchParams.set('cursor', Buffer.from(String(start + perPage)).toString('base64url'));
          headers.link = `<${next.href}>; rel="next"`;
        }
        return answer(200, page.map((a) => ({
          id: a.id,
          guid: a.guid,
          delivered_at: new Date(a.deliveredAt).toISOString().replace(/\.\d+Z$/, 'Z'),
          redelivery: a.redelivery,
          duration: 0.05,
          status: a.status,
          status_code: a.statusCode,
          event: a.event,
          action: a.action,
          installation_id: null,
          repository_id: 1296269,
          throttled_at: null,
        })), headers);
      }

      const redeliver = /^\/deliveries\/(\d+)\/attempts$/.exec(rest);
      if (req.method === 'POST' && redeliver) {
        if (secondary.count > 0) {
          secondary = { ...secondary, count: secondary.count - 1 };
          return answer(403, { message: SECONDARY_LIMIT_MESSAGE, documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' }, { 'retry-after': String(secondary.retryAfterS) });
        }
        const attempt = hook.attempts.find((a) => a.id === Number(redeliver[1]));
        if (!attempt) return answer(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
        const o = hook.originals.get(attempt.guid);
        if (!o) return answer(422, { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest' });
        accepted.push(attempt.id);
        answer(202, {});
        const send = () => track(deliver(hook, o, attempt.event, attempt.action, true, false));
        if (hook.holdRedeliveries) held.set(hook.path, [...(held.get(hook.path) ?? []), send]);
        else void send();
        return;
      }
      return answer(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const get = (path: string): FakeHook => {
    const h = hooks.get(path);
    if (!h) throw new Error(`no fake hook ${path}`);
    return h;
  };

  return {
    url: base,
    token,
    app,
    calls,
    addHook(path, o) {
      const hookId = /\/(\d+)$/.exec(path)?.[1];
      const hook: FakeHook = {
        path, hookId: hookId ? Number(hookId) : nextHookId++, url: o.url, secret: o.secret, contentType: o.contentType ?? 'json', attempts: [], originals: new Map(), holdRedeliveries: false,
      };
      hooks.set(path, hook);
      return hook;
    },
    hook: get,
    send(path, event, payload, o = {}) {
      const hook = get(path);
      const orig = original(hook, o.guid ?? randomUUID(), event, payload);
      return track(deliver(hook, orig, event, typeof payload.action === 'string' ? payload.action : null, false, o.drop === true));
    },
    recordPast(path, a) {
      const hook = get(path);
      const guid = a.guid ?? randomUUID();
      if (a.payload) original(hook, guid, a.event, a.payload);
      return addAttempt(hook, { guid, deliveredAt: a.deliveredAt, redelivery: false, status: statusText(a.statusCode), statusCode: a.statusCode, event: a.event, action: a.action ?? null }, true);
    },
    secondaryLimitOnNextPosts(n, retryAfterS) {
      secondary = { count: n, retryAfterS };
    },
    redeliveryRequests: () => [...accepted],
    async releaseRedeliveries(path) {
      const sends = held.get(path) ?? [];
      held.delete(path);
      await Promise.all(sends.map((send) => send()));
    },
    exhaustQuota(resetInS) {
      remaining = 1;
      resetAt = now() + resetInS * 1000;
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
