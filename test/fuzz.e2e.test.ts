import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, sign } from '@gitbridge/core';
import type { Daemon } from '@gitbridge/daemon';
import { startReferenceMas, type ReferenceMas } from '@gitbridge/mas-reference';
import { CALLBACK_SECRET, SECRET, githubExample, githubExamples, postDelivery, startCallbackDaemon, tempDir, waitFor, type Example } from './helpers/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { HOSTILE_NUMBERS, brokenJson, createRng, fuzzSeed, hexDigestsIn, hostileJson, hostileString, nestedJson, randomString, type Rng } from './helpers/fuzz.js';

// A seeded fuzz of the daemon's public surface: POST /webhook, POST
// /mas/callback and /admin/*, valid and hostile inputs mixed, against one real
// daemon (real port, real SQLite file, the reference MAS). The inputs are all
// drawn from one seed and sent one after the other, so a failure is
// reproduced by running again with GITBRIDGE_FUZZ_SEED set to the seed that
// every assertion message prints.

const SEED = fuzzSeed();
const TAG = `seed ${SEED}: reproduce with GITBRIDGE_FUZZ_SEED=${SEED} pnpm exec vitest run test/fuzz.e2e.test.ts`;
/** Requests of the fuzz phase. */
const CASES = 1500;
const ADMIN_TOKEN = 'fuzz-admin-token-7d1c9b3e58a2f604';
/** Secret values no answer and no log line may hold. */
const SECRETS: readonly string[] = [SECRET, CALLBACK_SECRET, ADMIN_TOKEN];
/** GITBRIDGE_MAX_PAYLOAD_BYTES of the daemon under test: small, so that the limit is reached often. */
const MAX_PAYLOAD = 64 * 1024;
/** The callback body limit of MAS protocol 2.1 (docs/mas-protocol.md). */
const CALLBACK_MAX = 1024 * 1024;
/** The deepest `result`/`error` a callback may have (docs/mas-protocol.md). */
const CALLBACK_MAX_DEPTH = 64;
/** GITBRIDGE_BODY_TIMEOUT_MS: a stalled body is dropped (408) after this. */
const BODY_TIMEOUT_MS = 3000;
/** Cap of the fuzz phase, ms: a few seconds here; room for a loaded CI machine. Not an assertion on speed. */
const FUZZ_TIMEOUT_MS = 120_000;

type HeaderList = readonly (readonly [string, string])[];
type Route = 'webhook' | 'callback' | 'admin' | 'other';

/** One request of the fuzz. */
interface Case {
  /** What was sent, for the failure message. */
  readonly label: string;
  readonly route: Route;
  readonly method: string;
  /** The request target, exactly as sent. */
  readonly path: string;
  readonly headers: HeaderList;
  readonly body?: Buffer;
  /** Send the body with `Transfer-Encoding: chunked`, in a few chunks. */
  readonly chunked?: boolean;
  /** Exact request bytes for malformed framing, sent as they are on a raw socket (`headers` lists what they hold). */
  readonly raw?: Buffer;
  /** Half-close the raw socket after the bytes (a body that ends early). */
  readonly halfClose?: boolean;
  /** Send on a raw socket even when undici could send it. */
  readonly viaSocket?: boolean;
  /** The statuses this input must get, when they are certain. */
  readonly expect?: readonly number[];
  /** The daemon may close the connection without an answer (broken framing, a body cut short). */
  readonly mayDrop?: boolean;
  /** Remember a 2xx answer's delivery as one the store must hold. */
  readonly stores?: boolean;
}

/** An HTTP answer as received. */
interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Buffer;
}

// ---------------------------------------------------------------- sending

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UNDICI_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const UNDICI_REFUSES = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'content-length', 'host']);

/** True when undici can send the case as it is (plain header values, a plain path). */
function undiciCan(c: Case): boolean {
  if (c.raw || c.viaSocket || !UNDICI_METHODS.has(c.method)) return false;
  if (!/^\/[\x21-\x7e]*$/.test(c.path)) return false;
  return c.headers.every(([name, value]) => TOKEN.test(name) && !UNDICI_REFUSES.has(name.toLowerCase()) && /^[\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?$|^$/.test(value));
}

/** The bytes of an HTTP/1.1 request (`Connection: close`; a `Content-Length` unless chunked or given). */
function httpBytes(c: Pick<Case, 'method' | 'path' | 'headers' | 'body' | 'chunked'>, extra: HeaderList = [['Connection', 'close']]): Buffer {
  const lines = [`${c.method} ${c.path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of [...c.headers, ...extra]) lines.push(`${name}: ${value}`);
  const body = c.body ?? Buffer.alloc(0);
  if (c.chunked) lines.push('Transfer-Encoding: chunked');
  else if ((c.body || c.method === 'POST') && !c.headers.some(([n]) => n.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return Buffer.concat([head, c.chunked ? chunkedBytes(splitBody(body)) : body]);
}

/** A body cut into up to four pieces. */
function splitBody(body: Buffer): Buffer[] {
  const size = Math.max(1, Math.ceil(body.length / 4));
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) parts.push(body.subarray(i, i + size));
  return parts;
}

/** Chunked transfer coding of `parts`, with the last chunk. */
function chunkedBytes(parts: readonly Buffer[]): Buffer {
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
}

/** Sends bytes on a fresh socket and reads until the daemon closes it. */
function exchange(port: number, bytes: Buffer, halfClose: boolean): Promise<{ data: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes, () => undefined);
      if (halfClose) socket.end();
    });
    // Not a timing assertion: a guard so that a connection the daemon never closes fails the case instead of the run.
    const guard = setTimeout(() => {
      error = 'the daemon neither answered nor closed the connection within 15 s';
      socket.destroy();
    }, 15_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: Error & { code?: string }) => {
      error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ data: Buffer.concat(chunks), ...(error ? { error } : {}) });
    });
  });
}

/** The answers in the bytes a raw socket received (interim 1xx answers skipped). */
function parseAnswers(data: Buffer, head: boolean): { answers: Answer[]; problem?: string } {
  const answers: Answer[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) return { answers, problem: `an incomplete answer: ${JSON.stringify(data.subarray(at, at + 200).toString('latin1'))}` };
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (!m) return { answers, problem: `not an HTTP answer: ${JSON.stringify(lines[0])}` };
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const status = Number(m[1]);
    at = end + 4;
    if (status < 200) continue;
    let body: Buffer;
    // A HEAD answer has no body, unless the request line was too broken to be read as HEAD.
    if ((head && (at === data.length || data.subarray(at, at + 5).toString('latin1') === 'HTTP/')) || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = data.indexOf('\r\n', at);
        if (eol < 0) return { answers, problem: 'a chunked answer cut short' };
        const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
        at = eol + 2;
        if (size === 0) {
          at = data.indexOf('\r\n\r\n', at - 2) + 4;
          break;
        }
        parts.push(data.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(at, at + n);
      at += n;
    } else {
      body = data.subarray(at);
      at = data.length;
    }
    answers.push({ status, headers, body });
  }
  return { answers };
}

/** Sends one case; raw cases can get several answers (bytes past a short Content-Length are a second request). */
async function send(c: Case, base: string, port: number, agent: Agent): Promise<{ answers: Answer[]; error?: string }> {
  if (undiciCan(c)) {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of c.headers) {
      const had = headers[name];
      headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    const body = c.body === undefined ? undefined : c.chunked ? Readable.from(splitBody(c.body)) : c.body;
    try {
      // origin and path apart: the path is sent as it is, dot segments and all
      const res = await agent.request({ origin: base, path: c.path, method: c.method as 'POST', headers, body: body ?? null });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { answers: [{ status: res.statusCode, headers: res.headers, body: bytes }] };
    } catch (err) {
      return { answers: [], error: (err as { code?: string }).code ?? (err as Error).message };
    }
  }
  const { data, error } = await exchange(port, c.raw ?? httpBytes(c), c.halfClose ?? false);
  const { answers, problem } = parseAnswers(data, c.method === 'HEAD');
  return { answers, ...(problem || error ? { error: [problem, error].filter(Boolean).join('; ') } : {}) };
}

// ------------------------------------------------------------- generators

/** What the generators draw ids from. */
interface Pools {
  readonly examples: readonly Example[];
  /** Delivery ids the daemon stored before the fuzz. */
  readonly storedDeliveries: readonly string[];
  /** MAS task ids of tasks the daemon tracks. */
  readonly masTaskIds: readonly string[];
  /** Delivery ids the fuzz sent (maybe stored). */
  readonly sentDeliveries: string[];
}

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8', 'application/json ; foo=bar', 'application/json; charset="utf-8"', 'application/json;'];
const FORM_TYPES = ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED'];
const BAD_TYPES = ['text/plain', 'application/jsonp', 'application/json-patch+json', 'multipart/form-data; boundary=x', 'json', 'application/', '*/*', 'text/json', 'application/vnd.github+json', 'application/x-www-form-urlencoded2', ';application/json'];
const STATUSES = ['running', 'completed', 'failed'] as const;

/** A UUID drawn from the seed (the shape of a GitHub delivery id). */
function uuid(rng: Rng): string {
  const h = (n: number) => rng.string(n, '0123456789abcdef');
  return `${h(8)}-${h(4)}-4${h(3)}-${rng.pick(['8', '9', 'a', 'b'])}${h(3)}-${h(12)}`;
}

/** Varies the letter case of a header name (the daemon must read it in any case). */
function headerName(rng: Rng, name: string): string {
  return rng.weighted<() => string>([
    [6, () => name],
    [1, () => name.toUpperCase()],
    [1, () => name.replace(/(^|-)([a-z])/g, (_m, d: string, ch: string) => d + ch.toUpperCase())],
    [1, () => [...name].map((ch) => (rng.chance(0.5) ? ch.toUpperCase() : ch)).join('')],
  ])();
}

/** An X-Forwarded-For value (the daemon trusts 127.0.0.1 as a proxy), or none; `github` when it is in GitHub's hook ranges. */
function source(rng: Rng): { header: string | undefined; github: boolean } {
  return rng.weighted<() => { header: string | undefined; github: boolean }>([
    [6, () => ({ header: `140.82.${rng.int(112, 127)}.${rng.int(1, 254)}`, github: true })],
    [2, () => ({ header: `192.30.${rng.int(252, 255)}.${rng.int(1, 254)}`, github: true })],
    [1, () => ({ header: `2606:50c0::${rng.int(1, 65535).toString(16)}`, github: true })],
    [1, () => ({ header: `::ffff:140.82.112.${rng.int(1, 254)}`, github: true })],
    [2, () => ({ header: undefined, github: false })],
    [1, () => ({ header: `203.0.113.${rng.int(1, 254)}`, github: false })],
    [1, () => ({ header: `198.51.100.${rng.int(1, 254)}`, github: false })],
    [1, () => ({ header: rng.pick(['unknown', '', ' , ,', '140.82.112.9, 10.0.0.1', '10.0.0.1, 140.82.112.9', '[::1]:80', '140.82.112.9:443', 'fe80::1%eth0', 'x'.repeat(3000), '1.2.3.4'.repeat(500)]), github: false })],
  ])();
}

/** A signature header for `body`: right, wrong, malformed, absent or sent twice. */
function signature(rng: Rng, name: string, secret: string, body: Buffer): { headers: [string, string][]; right: boolean } {
  const right = sign(secret, body);
  return rng.weighted<() => { headers: [string, string][]; right: boolean }>([
    [12, () => ({ headers: [[name, right]], right: true })],
    [1, () => ({ headers: [[name, right.toUpperCase().replace('SHA256=', 'sha256=')]], right: true })],
    [3, () => ({ headers: [[name, sign(rng.pick(['wrong', `${secret} `, secret.toUpperCase(), '']), body)]], right: false })],
    [1, () => ({ headers: [[name, sign(secret, Buffer.concat([body, Buffer.from(' ')]))]], right: false })],
    [2, () => ({ headers: [], right: false })],
    [1, () => ({ headers: [[name, rng.pick(['sha256=', 'sha1=abc', right.slice(0, 40), `${right}0`, right.replace('sha256=', 'SHA256='), right.replace('sha256=', 'sha256= '), `sha256=${'g'.repeat(64)}`, `md5=${right.slice(7)}`, 'null', right.slice(7)])]], right: false })],
    [1, () => ({ headers: [[name, right], [name, right]], right: false })],
  ])();
}

/** An example payload as a JSON object (a fresh copy). */
function examplePayload(rng: Rng, pools: Pools): { event: string; payload: Record<string, unknown> } {
  const e = rng.pick(pools.examples);
  return { event: e.event, payload: structuredClone(e.payload) };
}

/** Every [object, key] of a payload down to `maxDepth` (for mutation). */
function slots(payload: Record<string, unknown>, maxDepth = 4): [Record<string, unknown>, string][] {
  const out: [Record<string, unknown>, string][] = [];
  const walk = (o: Record<string, unknown>, depth: number) => {
    for (const k of Object.keys(o)) {
      out.push([o, k]);
      const v = o[k];
      if (depth < maxDepth && v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, depth + 1);
    }
  };
  walk(payload, 0);
  return out;
}

/** A real payload with one to three values replaced by hostile JSON (as text), keys GitBridge reads preferred. */
function mutatedPayload(rng: Rng, pools: Pools): { event: string; text: string } {
  const { event, payload } = examplePayload(rng, pools);
  const fills: string[] = [];
  for (let n = rng.int(1, 3); n > 0; n--) {
    const marker = `__fuzz_slot_${fills.length}__`;
    const read = ['action', 'repository', 'organization', 'installation', 'sender', 'number', 'zen'];
    if (rng.chance(0.4)) {
      const key = rng.pick(read);
      payload[key] = marker;
    } else if (rng.chance(0.3) && payload.repository && typeof payload.repository === 'object') {
      (payload.repository as Record<string, unknown>)[rng.pick(['id', 'full_name', 'name', 'owner'])] = marker;
    } else {
      const all = slots(payload);
      if (all.length === 0) break;
      const [o, k] = rng.pick(all);
      if (rng.chance(0.1)) delete o[k];
      else o[k] = marker;
    }
    fills.push(rng.chance(0.5) ? rng.pick(HOSTILE_NUMBERS) : hostileJson(rng, 3, rng.chance(0.2) ? 20_000 : 100));
  }
  let text = JSON.stringify(payload);
  fills.forEach((fill, i) => (text = text.replace(`"__fuzz_slot_${i}__"`, () => fill)));
  return rng.weighted<() => { event: string; text: string }>([
    [6, () => ({ event, text })],
    // a duplicate key: JSON.parse keeps the last one
    [1, () => ({ event, text: `{"action":${hostileJson(rng, 1, 10)},${text.slice(1)}` })],
    [1, () => ({ event, text: `${text.slice(0, -1)},"action":${hostileJson(rng, 1, 10)},"repository":${hostileJson(rng, 1, 10)}}` })],
    [1, () => ({ event, text: text.replace(/:(\d+)/, () => `:${rng.pick(HOSTILE_NUMBERS)}`) })],
    [1, () => ({ event, text: pretty(text, rng.pick([1, 2, '\t'])) })],
  ])();
}

/** JSON text re-indented (as it is when it is too deep to re-serialize). */
function pretty(text: string, indent: number | string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, indent);
  } catch {
    return text;
  }
}

/** A JSON (or almost JSON) body that is not a GitHub payload. */
function syntheticBody(rng: Rng, pools: Pools): string {
  return rng.weighted<() => string>([
    [3, () => hostileJson(rng, 4, 1000)],
    [2, () => nestedJson(rng.pick([1, 63, 64, 65, 1000, 10_000, 30_000]), rng.pick(['array', 'object', 'mixed'] as const))],
    [2, () => `{"action":"opened","x":${nestedJson(rng.int(1, 20_000), 'mixed', hostileJson(rng, 0, 0))}}`],
    [2, () => brokenJson(rng, JSON.stringify(examplePayload(rng, pools).payload))],
    [1, () => rng.pick(['', ' ', '\n', '{}', '[]', 'null', '0', '"{}"', '[{}]', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}'])],
    [1, () => `{${Array.from({ length: rng.int(1, 2000) }, () => `"action":${JSON.stringify(hostileString(rng, 20))}`).join(',')}}`],
  ])();
}

/** An X-GitHub-Delivery value: mostly a GUID, else from every character class, length around the 128 limit. */
function deliveryId(rng: Rng, pools: Pools): { value: string; plain: boolean } {
  return rng.weighted<() => { value: string; plain: boolean }>([
    [10, () => ({ value: uuid(rng), plain: true })],
    [2, () => ({ value: rng.pick(pools.sentDeliveries.length ? pools.sentDeliveries : pools.storedDeliveries), plain: true })],
    [1, () => ({ value: `${rng.pick(pools.storedDeliveries)}:replay:${rng.int(1, 3)}`, plain: true })],
    [1, () => ({ value: rng.string(1, 'abc019XZ') + randomString(rng, rng.int(0, 127), ['alnum', 'idPunct']), plain: true })],
    [1, () => ({ value: 'a'.repeat(rng.pick([127, 128, 129, 1000, 8000])), plain: false })],
    [1, () => ({ value: rng.pick(['', ' ', '.', '-a', ':a', '_a', 'a b', ' a ', 'a\tb', 'a/b', '../a', 'a%00', 'a;b', 'a,b', '\u00e9', '\u4e2d', 'null']), plain: false })],
    [2, () => ({ value: randomString(rng, rng.int(1, 60)), plain: false })],
  ])();
}

/** An X-GitHub-Event value. */
function eventName(rng: Rng, real: string): { value: string; plain: boolean } {
  return rng.weighted<() => { value: string; plain: boolean }>([
    [12, () => ({ value: real, plain: true })],
    [1, () => ({ value: rng.pick(['ping', 'push', 'zz_unknown', 'a', 'x'.repeat(64), 'check_run.v2', '0-9']), plain: true })],
    [1, () => ({ value: rng.pick(['', ' ', 'PUSH', 'Pull_Request', 'x'.repeat(65), 'push ping', 'push,ping', '../push', 'push\u00e9', '__proto__', 'constructor']), plain: false })],
    [1, () => ({ value: randomString(rng, rng.int(1, 70)), plain: false })],
  ])();
}

/** An X-GitHub-Hook-ID value, or none. */
function hookId(rng: Rng): string | undefined {
  return rng.weighted<() => string | undefined>([
    [6, () => String(rng.int(1, 999_999_999))],
    [1, () => undefined],
    [1, () => rng.pick(['0', '-1', '1.5', '1e3', `1${'0'.repeat(20)}`, '99999999999999999999', 'abc', '', ' 12 ', '0x10'])],
    [1, () => randomString(rng, rng.int(1, 40))],
  ])();
}

/** The statuses a webhook case must get, when the input makes them certain (a source in GitHub's ranges is never shed). */
function webhookExpect(o: { github: boolean; type: 'json' | 'form' | 'bad'; size: number; headersPlain: boolean; signed: boolean; payload: 'valid' | 'invalid' | 'unknown' }): number[] | undefined {
  if (!o.github) return undefined;
  if (o.type === 'bad') return [415];
  if (o.size > MAX_PAYLOAD) return [413];
  if (!o.headersPlain) return undefined;
  if (!o.signed) return [401];
  if (o.payload === 'valid') return [200, 202, 429];
  if (o.payload === 'invalid') return [400];
  return undefined;
}

/** One POST /webhook: real, mutated, synthetic, form-encoded or oversized payloads with valid, odd and hostile headers. */
function webhookCase(rng: Rng, pools: Pools): Case {
  const kind = rng.weighted<string>([[30, 'real'], [22, 'mutated'], [12, 'synthetic'], [8, 'form'], [10, 'headers'], [8, 'size'], [10, 'framing']]);
  if (kind === 'framing') return framingCase(rng, pools);
  let event: string;
  let text: string;
  let payload: 'valid' | 'invalid' | 'unknown' = 'unknown';
  let type: 'json' | 'form' | 'bad' = rng.chance(0.9) ? 'json' : 'form';
  /** The body is JSON that a form body carries as its `payload` field. */
  let wrapInForm = type === 'form';
  if (kind === 'real' || kind === 'headers') {
    const ex = examplePayload(rng, pools);
    event = ex.event;
    text = JSON.stringify(ex.payload);
    payload = 'valid';
  } else if (kind === 'mutated') {
    ({ event, text } = mutatedPayload(rng, pools));
  } else if (kind === 'synthetic') {
    event = rng.pick(['push', 'issues', 'pull_request', 'ping', 'zz_unknown']);
    text = syntheticBody(rng, pools);
    const trimmed = text.trim();
    if (trimmed === '{}') payload = 'valid';
    else if (!trimmed.startsWith('{')) payload = 'invalid';
  } else if (kind === 'form') {
    event = rng.pick(['push', 'issues', 'ping', 'pull_request']);
    type = 'form';
    wrapInForm = false;
    const real = rng.chance(0.5);
    const json = real ? JSON.stringify(examplePayload(rng, pools).payload) : syntheticBody(rng, pools);
    const plainForm = rng.chance(0.4);
    if (plainForm && real) payload = 'valid';
    text = plainForm ? `payload=${urlEncode(json)}` : rng.weighted<() => string>([
      [1, () => `payload=${urlEncode(json)}&payload=${urlEncode(hostileJson(rng, 2, 10))}`],
      [1, () => `a=1&payload=${json}`],
      [1, () => rng.pick(['', 'payload', 'payload=', 'payload=%', 'payload=%zz%', 'payload=%7B%7D%ZZ', 'payloa=%7B%7D', 'PAYLOAD=%7B%7D', 'payload[]=%7B%7D', '&&&=&payload=%7B%7D', 'payload=%7B%7D;x=1', '%70ayload=%7B%7D', 'payload=+%7B+%7D+'])],
      [1, () => Array.from({ length: rng.int(100, 3000) }, (_, i) => `k${i}=${urlEncode(hostileString(rng, 10))}`).join('&')],
      [1, () => `payload=${urlEncode(JSON.stringify(hostileString(rng, 100)))}`],
    ])();
  } else {
    // size: bodies at, under and just over GITBRIDGE_MAX_PAYLOAD_BYTES, with and without Content-Length
    event = rng.pick(['ping', 'push', 'zz_unknown']);
    const size = rng.pick([MAX_PAYLOAD, MAX_PAYLOAD - 1, MAX_PAYLOAD + 1, MAX_PAYLOAD + rng.int(2, 4096), rng.int(1, MAX_PAYLOAD), 2 * MAX_PAYLOAD]);
    const shell = `{"zen":"Keep it logically awesome.","hook_id":1,"pad":""}`;
    text = `${shell.slice(0, -2)}${'p'.repeat(Math.max(0, size - shell.length))}"}`;
    payload = 'valid';
  }
  const body = Buffer.from(wrapInForm ? `payload=${urlEncode(text)}` : text, 'utf8');
  const ev = kind === 'headers' ? eventName(rng, event) : { value: event, plain: true };
  const id = kind === 'headers' || rng.chance(0.15) ? deliveryId(rng, pools) : { value: uuid(rng), plain: true };
  if (id.plain) pools.sentDeliveries.push(id.value);
  let contentType = rng.pick(type === 'json' ? JSON_TYPES : FORM_TYPES);
  if (kind === 'headers' && rng.chance(0.3)) {
    contentType = rng.pick(BAD_TYPES);
    type = 'bad';
  }
  const src = source(rng);
  const sig = signature(rng, headerName(rng, 'x-hub-signature-256'), SECRET, body);
  const hook = kind === 'headers' ? hookId(rng) : String(rng.int(1, 999_999));
  const headers: [string, string][] = [
    [headerName(rng, 'content-type'), contentType],
    [headerName(rng, 'x-github-event'), ev.value],
    [headerName(rng, 'x-github-delivery'), id.value],
    ...(hook === undefined ? [] : [[headerName(rng, 'x-github-hook-id'), hook] as [string, string]]),
    ['user-agent', 'GitHub-Hookshot/fuzz'],
    ...sig.headers,
    ...(src.header === undefined ? [] : [['x-forwarded-for', src.header] as [string, string]]),
  ];
  let headersPlain = ev.plain && id.plain;
  if (kind === 'headers' && rng.chance(0.25)) {
    // a header sent twice, or a lone odd one
    headers.push(rng.pick<[string, string]>([
      ['x-github-event', rng.pick(['push', ev.value])],
      ['x-github-delivery', uuid(rng)],
      ['content-type', rng.pick([...JSON_TYPES, ...BAD_TYPES])],
      ['x-github-hook-id', '1'],
      ['x-github-hook-installation-target-type', hostileString(rng, 50)],
      ['x-gitbridge-replay-of', hostileString(rng, 50)],
    ]));
    headersPlain = false;
  }
  const chunked = rng.chance(kind === 'size' ? 0.4 : 0.05);
  const size = body.length;
  return {
    label: `webhook ${kind}: event ${JSON.stringify(ev.value).slice(0, 80)}, delivery ${JSON.stringify(id.value).slice(0, 80)}, ${contentType}, ${size} bytes${chunked ? ' chunked' : ''}, signature ${sig.right ? 'right' : 'not right'}, from ${src.header?.slice(0, 60) ?? 'loopback'}`,
    route: 'webhook',
    method: 'POST',
    path: rng.chance(0.03) ? rng.pick(['/webhook?x=1', '/webhook?', '/webhook?%23', '/webhook?payload=%7B%7D']) : '/webhook',
    headers,
    body,
    chunked,
    viaSocket: rng.chance(0.1),
    // (Node keeps the first of duplicated Content-Type headers: `type` still holds.)
    expect: webhookExpect({ github: src.github, type, size, headersPlain, signed: sig.right, payload }),
    // past the limit, the daemon answers 413 without reading the rest: the client may see the reset first
    mayDrop: size > MAX_PAYLOAD,
    stores: true,
  };
}

/** A request on a raw socket with broken or unusual HTTP framing. */
function framingCase(rng: Rng, pools: Pools): Case {
  const route = rng.pick<Route>(['webhook', 'webhook', 'callback']);
  const path = route === 'webhook' ? '/webhook' : '/mas/callback';
  const body = Buffer.from(JSON.stringify(examplePayload(rng, pools).payload).slice(0, rng.int(2, 20_000)) + '}', 'utf8');
  const base: [string, string][] = [
    ['Content-Type', 'application/json'],
    ['X-GitHub-Event', 'push'],
    ['X-GitHub-Delivery', uuid(rng)],
    route === 'webhook' ? ['X-Hub-Signature-256', sign(SECRET, body)] : ['X-MAS-Signature-256', sign(CALLBACK_SECRET, body)],
  ];
  const head = (lines: readonly string[], requestLine = `POST ${path} HTTP/1.1`) => Buffer.from(`${[requestLine, ...lines].join('\r\n')}\r\n\r\n`, 'latin1');
  const plain = base.map(([n, v]) => `${n}: ${v}`);
  const variant = rng.pick([
    'short-length', 'long-length-cut', 'bad-length', 'two-lengths', 'te-and-length', 'bad-chunks', 'cut-chunks', 'odd-te',
    'control-in-header', 'obs-fold', 'space-in-name', 'utf8-in-header', 'huge-header', 'request-line', 'expect', 'no-host', 'upgrade', 'many-headers',
  ] as const);
  let raw: Buffer;
  let halfClose = false;
  let mayDrop = true;
  switch (variant) {
    case 'short-length':
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${Math.max(0, body.length - rng.int(1, 10))}`]), body]);
      break;
    case 'long-length-cut':
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${body.length + rng.int(1, 1000)}`]), body]);
      halfClose = true;
      break;
    case 'bad-length':
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${rng.pick(['abc', '-1', '1e3', '+5', '0x10', ' ', '5, 5', '99999999999999999999999', '1.5', `${body.length} ${body.length}`])}`, 'Connection: close']), body]);
      break;
    case 'two-lengths': {
      const n = rng.chance(0.5) ? body.length : body.length - 1;
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${body.length}`, `Content-Length: ${n}`, 'Connection: close']), body]);
      break;
    }
    case 'te-and-length':
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${body.length}`, 'Transfer-Encoding: chunked', 'Connection: close']), chunkedBytes([body])]);
      break;
    case 'bad-chunks':
      raw = Buffer.concat([head(['Host: x', ...plain, 'Transfer-Encoding: chunked', 'Connection: close']), Buffer.from(rng.pick(['zz\r\nab\r\n0\r\n\r\n', '-1\r\nab\r\n0\r\n\r\n', 'ffffffffffffffffff\r\nab\r\n0\r\n\r\n', '2;ext=1\r\nab\r\n0\r\n\r\n', '2\r\nabc\r\n0\r\n\r\n', '2\nab\n0\n\n', '0\r\nX-Trailer: 1\r\n\r\n']))]);
      break;
    case 'cut-chunks':
      raw = Buffer.concat([head(['Host: x', ...plain, 'Transfer-Encoding: chunked']), Buffer.from(`${body.length.toString(16)}\r\n`), body.subarray(0, Math.floor(body.length / 2))]);
      halfClose = true;
      break;
    case 'odd-te':
      raw = Buffer.concat([head(['Host: x', ...plain, `Transfer-Encoding: ${rng.pick(['gzip', 'chunked, gzip', 'identity', 'Chunked', 'chunked, chunked', 'x'])}`, 'Connection: close']), chunkedBytes([body])]);
      break;
    case 'control-in-header':
      raw = Buffer.concat([head(['Host: x', ...plain, `X-GitHub-Hook-ID: 1${rng.pick(['\u0000', '\u0001', '\u007f', '\r', '\u001b[31m'])}2`, `Content-Length: ${body.length}`, 'Connection: close']), body]);
      break;
    case 'obs-fold':
      raw = Buffer.concat([head(['Host: x', ...plain, 'X-GitHub-Hook-ID: 1', ' 2', `Content-Length: ${body.length}`, 'Connection: close']), body]);
      break;
    case 'space-in-name':
      raw = Buffer.concat([head(['Host: x', ...plain, 'X-GitHub-Event : push', `Content-Length: ${body.length}`, 'Connection: close']), body]);
      break;
    case 'utf8-in-header':
      raw = Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\n${plain.slice(0, 2).join('\r\n')}\r\nX-GitHub-Delivery: ${randomString(rng, rng.int(1, 30), ['unicode', 'latin1', 'alnum'])}\r\n${plain[3]}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 'utf8'), body]);
      mayDrop = false;
      break;
    case 'huge-header':
      raw = Buffer.concat([head(['Host: x', ...plain, `X-Pad: ${'p'.repeat(rng.pick([15_000, 17_000, 70_000]))}`, `Content-Length: ${body.length}`, 'Connection: close']), body]);
      break;
    case 'request-line':
      raw = Buffer.concat([head(['Host: x', ...plain, `Content-Length: ${body.length}`, 'Connection: close'], rng.pick([
        `POST ${path} HTTP/1.0`, `POST ${path} HTTP/2.0`, `post ${path} HTTP/1.1`, `POST  ${path} HTTP/1.1`, `POST ${path}`, `FOO ${path} HTTP/1.1`,
        `POST http://127.0.0.1${path} HTTP/1.1`, `POST ${path}\u0000 HTTP/1.1`, `POST /${'a'.repeat(20_000)} HTTP/1.1`, `POST ${path}/../${path} HTTP/1.1`, `POST * HTTP/1.1`,
        `PRI * HTTP/2.0`, `POST ${path} HTTP/1.1 extra`, `POST ${path}?\u00e9 HTTP/1.1`,
      ])), body]);
      break;
    case 'expect':
      raw = Buffer.concat([head(['Host: x', ...plain, `Expect: ${rng.pick(['100-continue', '100-Continue', 'foo', '200-ok'])}`, `Content-Length: ${body.length}`, 'Connection: close']), body]);
      mayDrop = false;
      break;
    case 'no-host':
      raw = Buffer.concat([head([...plain, `Content-Length: ${body.length}`, 'Connection: close']), body]);
      mayDrop = false;
      break;
    case 'upgrade':
      raw = Buffer.concat([head(['Host: x', ...plain, 'Upgrade: websocket', 'Connection: Upgrade', `Content-Length: ${body.length}`]), body]);
      halfClose = true;
      break;
    case 'many-headers':
      raw = Buffer.concat([head(['Host: x', ...plain, ...Array.from({ length: rng.pick([100, 2000, 3000]) }, (_, i) => `X-H${i}: ${i}`), `Content-Length: ${body.length}`, 'Connection: close']), body]);
      break;
  }
  return { label: `${route} framing ${variant}: ${JSON.stringify(raw.subarray(0, 300).toString('latin1')).slice(0, 400)}`, route, method: 'POST', path, headers: base, raw, halfClose, mayDrop };
}

/** Depth of the deepest array/object nesting of a JSON value (iterative: any depth). */
function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, depth + 1);
    for (const child of Object.values(v as object)) stack.push([child, depth + 1]);
  }
  return max;
}

/** What MAS protocol 2.1 says the daemon answers a correctly signed callback body of at most 1 MiB. */
function callbackOutcome(text: string, known: ReadonlySet<string>): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 400;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 400;
  const { task_id: taskId, status, result, error } = parsed as Record<string, unknown>;
  if ((typeof taskId !== 'string' && typeof taskId !== 'number') || String(taskId) === '') return 400;
  if (!STATUSES.includes(status as (typeof STATUSES)[number])) return 400;
  if (jsonDepth(result) > CALLBACK_MAX_DEPTH || jsonDepth(error) > CALLBACK_MAX_DEPTH) return 400;
  return known.has(String(taskId)) ? 200 : 404;
}

/** One POST /mas/callback: signed or not, known and unknown task ids, every status, results and errors of odd shapes and depths. */
function callbackCase(rng: Rng, pools: Pools, known: ReadonlySet<string>): Case {
  const taskId = rng.weighted<() => string>([
    [6, () => JSON.stringify(rng.pick(pools.masTaskIds))],
    [2, () => JSON.stringify(uuid(rng))],
    [1, () => rng.pick(['""', '0', '-0', '1e999', '12345678901234567890', '1.5', 'null', 'true', '[]', '{}', `"${'t'.repeat(10_000)}"`, '"\\ud800"', '"__proto__"', '["x"]'])],
    [1, () => JSON.stringify(hostileString(rng, 300))],
  ])();
  const status = rng.weighted<() => string>([
    [8, () => JSON.stringify(rng.pick(STATUSES))],
    [2, () => rng.pick(['"pending"', '"queued"', '"dead"', '"RUNNING"', '" running"', '"completed "', '""', 'null', '1', 'true', '["running"]', '{}', '"runn\\u0069ng"'])],
  ])();
  const detail = () => rng.weighted<() => string>([
    [4, () => hostileJson(rng, 3, 80)],
    [3, () => nestedJson(rng.pick([1, 2, 32, 63, 64, 65, 66, 100, 1000, 10_000, 100_000]), rng.pick(['array', 'object', 'mixed'] as const), hostileJson(rng, 0, 0))],
    [1, () => `{"summary":${JSON.stringify(hostileString(rng, 2000))},"comments":[${Array.from({ length: rng.int(0, 50) }, () => hostileJson(rng, 1, 5)).join(',')}]}`],
  ])();
  const fields = [`"task_id":${taskId}`, `"status":${status}`];
  if (rng.chance(0.6)) fields.push(`"result":${detail()}`);
  if (rng.chance(0.3)) fields.push(`"error":${detail()}`);
  if (rng.chance(0.5)) fields.push(`"updated_at":${rng.chance(0.7) ? JSON.stringify(new Date(Date.UTC(2025, 0, 1) + rng.int(0, 1e9)).toISOString()) : hostileJson(rng, 1, 5)}`);
  if (rng.chance(0.1)) fields.push(`"task_id":${JSON.stringify(rng.pick(pools.masTaskIds))}`);
  for (let i = fields.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [fields[i], fields[j]] = [fields[j]!, fields[i]!];
  }
  let text = rng.weighted<() => string>([
    [12, () => `{${fields.join(',')}}`],
    [2, () => rng.pick([hostileJson(rng, 3, 100), `[{${fields.join(',')}}]`, '', 'null', '"x"', '42', 'true', '[]'])],
    [1, () => brokenJson(rng, `{${fields.join(',')}}`)],
  ])();
  if (rng.chance(0.03)) {
    // at and just past the 1 MiB limit
    const size = rng.pick([CALLBACK_MAX, CALLBACK_MAX + 1, CALLBACK_MAX - rng.int(1, 100), 2 * CALLBACK_MAX]);
    const shell = `{"task_id":${JSON.stringify(rng.pick(pools.masTaskIds))},"status":"running","pad":""}`;
    text = `${shell.slice(0, -2)}${'p'.repeat(Math.max(0, size - shell.length))}"}`;
  }
  const body = Buffer.from(text, 'utf8');
  const sig = signature(rng, headerName(rng, 'x-mas-signature-256'), CALLBACK_SECRET, body);
  const contentType = rng.weighted<() => string | undefined>([[10, () => 'application/json'], [1, () => rng.pick([...JSON_TYPES, ...BAD_TYPES])], [1, () => undefined]])();
  const headers: [string, string][] = [...(contentType === undefined ? [] : [['content-type', contentType] as [string, string]]), ...sig.headers];
  const src = source(rng);
  if (src.header !== undefined && rng.chance(0.3)) headers.push(['x-forwarded-for', src.header]);
  const plainType = contentType !== undefined && JSON_TYPES.includes(contentType);
  // fastify reads the content type before the size
  const expect = !plainType ? undefined : body.length > CALLBACK_MAX ? [413] : !sig.right ? [401] : [callbackOutcome(text, known)];
  return {
    label: `callback: ${body.length} bytes, signature ${sig.right ? 'right' : 'not right'}, content type ${contentType}, body ${JSON.stringify(text.slice(0, 300))}`,
    route: 'callback',
    method: 'POST',
    path: '/mas/callback',
    headers,
    body,
    chunked: rng.chance(0.05),
    viaSocket: rng.chance(0.05),
    expect,
    mayDrop: body.length > CALLBACK_MAX,
  };
}

/** Percent-encodes `s` as UTF-8 like encodeURIComponent, but never throws (a lone surrogate becomes U+FFFD). */
function urlEncode(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) && b < 128 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** Percent-encodes every byte of `s` (UTF-8), in upper- or lower-case hex: both decode the same. */
function encodeAll(rng: Rng, s: string): string {
  const upper = rng.chance(0.5);
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).map((e) => (upper ? e.toUpperCase() : e)).join('');
}

/** One /admin/* request: right and wrong tokens, known, unknown and odd delivery ids, unknown routes, other methods. */
function adminCase(rng: Rng, pools: Pools): Case {
  const right = `Bearer ${ADMIN_TOKEN}`;
  const auth = rng.weighted<() => { headers: [string, string][]; ok: boolean | undefined }>([
    [10, () => ({ headers: [['authorization', right]], ok: true })],
    [1, () => ({ headers: [[headerName(rng, 'authorization'), right]], ok: true })],
    [1, () => ({ headers: [['authorization', `Bearer ${ADMIN_TOKEN.slice(0, -1)}x`]], ok: false })],
    [1, () => ({ headers: [['authorization', rng.pick([`bearer ${ADMIN_TOKEN}`, `Bearer  ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}x`, `Bearer${ADMIN_TOKEN}`, `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`, 'Bearer ', 'Bearer', '', `Token ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN.toUpperCase()}`])]], ok: false })],
    [1, () => ({ headers: [['authorization', `Bearer ${hostileString(rng, 200).replace(/[^\x20-\x7e]/g, 'x')}`]], ok: false })],
    [2, () => ({ headers: [], ok: false })],
    // Node keeps the first of duplicated Authorization headers: no certain outcome
    [1, () => ({ headers: [['authorization', rng.chance(0.5) ? right : 'Bearer wrong'], ['authorization', rng.chance(0.5) ? right : 'Bearer wrong']], ok: undefined })],
  ])();
  const method = rng.weighted<() => string>([[17, () => 'POST'], [3, () => rng.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'])]])();
  const id = rng.weighted<() => { path: string; known: 'yes' | 'maybe' | 'no' | 'odd' }>([
    [5, () => ({ path: urlEncode(rng.pick(pools.storedDeliveries)), known: 'yes' })],
    [1, () => ({ path: encodeAll(rng, rng.pick(pools.storedDeliveries)), known: 'yes' })],
    [1, () => ({ path: `${urlEncode(rng.pick(pools.storedDeliveries))}?x=${rng.int(0, 9)}`, known: 'yes' })],
    [3, () => ({ path: urlEncode(rng.pick(pools.sentDeliveries.length ? pools.sentDeliveries : pools.storedDeliveries)), known: 'maybe' })],
    [3, () => ({ path: uuid(rng), known: 'no' })],
    [1, () => ({ path: urlEncode(`${rng.pick(pools.storedDeliveries)}:replay:${rng.int(1, 5)}`), known: 'maybe' })],
    [4, () => ({ path: rng.pick(['%2F', 'a%2Fb', '%2F..%2F..%2Fetc%2Fpasswd', '..', '.', '%2e%2e', '%2E', '%00', 'a%00b', '%zz', '%E0%A4%A', '%', '%25', 'a;b', 'a,b', '%C3%A9', '%F0%9F%98%80', '%ED%A0%80', '%FF', '~', "'", '*']), known: 'odd' })],
    [1, () => ({ path: urlEncode(randomString(rng, rng.int(1, 60))), known: 'odd' })],
    [1, () => ({ path: 'a'.repeat(rng.pick([128, 129, 2000, 8000, 20_000])), known: 'odd' })],
  ])();
  const route = rng.weighted<() => { path: string; replay: boolean }>([
    [12, () => ({ path: `/admin/replay/${id.path}`, replay: true })],
    [1, () => ({ path: rng.pick(['/admin', '/admin/', '/admin/replay', '/admin/replay/', '/admin/deliveries', `/admin/replay/${id.path}/x`, `/admin/replay/${id.path}/`, '/ADMIN/replay/x', '/admin/replay//x', '/admin/../webhook', '/admin/%2e%2e/webhook', '/admin/replay/x/../y']), replay: false })],
  ])();
  const body = rng.weighted<() => Buffer | undefined>([
    [14, () => undefined],
    [2, () => Buffer.from(hostileJson(rng, 2, 20))],
    [1, () => Buffer.alloc(rng.pick([1024, 1025, 5000]), 'a')],
  ])();
  const headers: [string, string][] = [...auth.headers];
  if (body) headers.push(['content-type', rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded'])]);
  const src = source(rng);
  if (src.header !== undefined && rng.chance(0.3)) headers.push(['x-forwarded-for', src.header]);
  let expect: number[] | undefined;
  if (route.replay && id.known !== 'odd' && body === undefined) {
    if (method !== 'POST') expect = [404];
    else if (auth.ok === undefined) expect = undefined;
    else if (!auth.ok) expect = [401];
    else expect = id.known === 'yes' ? [202] : id.known === 'no' ? [404] : [202, 404];
  }
  return {
    label: `admin: ${method} ${route.path.slice(0, 200)}, token ${auth.ok ? 'right' : JSON.stringify(auth.headers.map(([, v]) => v.slice(0, 30)))}${body ? `, ${body.length} bytes` : ''}`,
    route: 'admin',
    method,
    path: route.path,
    headers,
    ...(body ? { body } : {}),
    viaSocket: rng.chance(0.05),
    ...(expect ? { expect } : {}),
    stores: true,
  };
}

/** Any other request: health, readiness, metrics, unknown routes, other methods on the three routes. */
function otherCase(rng: Rng): Case {
  const method = rng.pick(['GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
  const path = rng.pick(['/healthz', '/readyz', '/metrics', '/webhook', '/mas/callback', '/', '/favicon.ico', '/healthz/', '/HEALTHZ', '//webhook', '/webhook/', '/mas', '/mas/', '/mas/callback/x', '/%2e%2e/etc/passwd', '/%E0%A4%A', '/%', '/\u00e9', '/a b', `/${'x'.repeat(3000)}`, '/metrics?x=%zz']);
  const body = method === 'GET' || method === 'HEAD' || rng.chance(0.5) ? undefined : Buffer.from(hostileJson(rng, 2, 20));
  return {
    label: `other: ${method} ${JSON.stringify(path).slice(0, 100)}`,
    route: 'other',
    method,
    path,
    headers: body ? [['content-type', 'application/json']] : [],
    ...(body ? { body } : {}),
    ...(method === 'GET' && ['/healthz', '/readyz', '/metrics'].includes(path) ? { expect: [200] } : {}),
  };
}

// ------------------------------------------------------------- checking

/** Everything wrong with one answer (empty when it is fine). */
function problemsOf(c: Case, a: Answer, first: boolean): string[] {
  const problems: string[] = [];
  if (a.status >= 500) problems.push(`status ${a.status}`);
  // A control character in a header value is malformed HTTP: Node's parser refuses the request (400) before any route decides.
  const certain = c.expect && !c.headers.some(([, v]) => /[\x00-\x08\x0a-\x1f\x7f]/.test(v));
  if (first && certain && !c.expect!.includes(a.status)) problems.push(`status ${a.status}, expected ${c.expect.join(' or ')}`);
  const text = a.body.toString('utf8');
  const headerText = Object.entries(a.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('\n');
  for (const s of SECRETS) if (text.includes(s) || headerText.includes(s)) problems.push(`the answer holds a secret (${s.slice(0, 6)}…)`);
  const head = c.method === 'HEAD';
  if (a.status >= 400 && !head) {
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) problems.push('error answer is not a JSON object');
    else {
      const keys = Object.keys(body).sort().join(',');
      if (keys !== 'code,error,message,statusCode') problems.push(`error answer keys are ${keys}`);
      const code = body.code as string;
      const entry = (ERROR_CATALOGUE as Record<string, { status: number } | undefined>)[code];
      if (!entry) problems.push(`code ${JSON.stringify(code)} is not in ERROR_CATALOGUE`);
      else if (entry.status !== a.status) problems.push(`code ${code} has status ${entry.status} in the catalogue, answered ${a.status}`);
      if (body.statusCode !== a.status) problems.push(`statusCode ${JSON.stringify(body.statusCode)} is not the HTTP status ${a.status}`);
      if (body.error !== STATUS_CODES[a.status]) problems.push(`error ${JSON.stringify(body.error)} is not the reason phrase of ${a.status}`);
      if (typeof body.message !== 'string' || body.message === '') problems.push('message is not a non-empty string');
    }
  }
  return problems;
}

/** A delivery the store must hold after a 2xx, and what the answer said about it. */
interface Stored {
  readonly caseIndex: number;
  readonly deliveryId: string;
  readonly replayOf?: string;
}

/** The deliveries a 2xx answer says were stored, and the problems of a 2xx body's shape. */
function storedBy(c: Case, a: Answer, caseIndex: number): { stored: Stored[]; problems: string[] } {
  if (!c.stores || a.status >= 300 || a.status < 200) return { stored: [], problems: [] };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { stored: [], problems: [`a ${a.status} answer that is not JSON`] };
  }
  const id = body.delivery_id;
  if (typeof id !== 'string' || id === '') return { stored: [], problems: [`a ${a.status} answer without delivery_id`] };
  const problems: string[] = [];
  if (c.route === 'webhook') {
    const want = a.status === 202 ? ['accepted'] : ['duplicate', 'ping'];
    if (!want.includes(body.status as string)) problems.push(`a ${a.status} webhook answer with status ${JSON.stringify(body.status)}`);
    return { stored: [{ caseIndex, deliveryId: id }], problems };
  }
  if (a.status !== 202 || typeof body.replay_of !== 'string' || !id.startsWith(`${body.replay_of}:replay:`)) problems.push(`an admin answer ${a.status} ${a.body.toString('utf8').slice(0, 200)}`);
  return { stored: [{ caseIndex, deliveryId: id, replayOf: body.replay_of as string }], problems };
}

// ------------------------------------------------------------------ test

/**
 * The fuzz against one daemon on SQLite, or on a fresh PostgreSQL database:
 * the same cases, since what one engine stores without a second thought
 * (U+0000 in a string) another may refuse.
 */
function describeFuzz(store: 'SQLite' | 'PostgreSQL'): void {
  describe(`fuzz of /webhook, /mas/callback and /admin/* on ${store} (${TAG})`, () => {
    const tmp = tempDir('gitbridge-fuzz-');
    let mas: ReferenceMas;
    let daemon: Daemon;
    let db: TestDatabase | undefined;
    let agent: Agent;
    const storedDeliveries: string[] = [];
    const masTaskIds: string[] = [];
    const pools: Pools = { examples: githubExamples(), storedDeliveries, masTaskIds, sentDeliveries: [] };
    /** Hex digests of every signature header sent, with the first case that sent each. */
    const sentDigests = new Map<string, string>();
    /** 64-hex-digit runs in the answers, with the case that got each. */
    const answerHex = new Map<string, number>();
    const stored: Stored[] = [];
    const violations: string[] = [];
    const statuses = new Map<string, number>();

    beforeAll(async () => {
      // The MAS accepts tasks and never calls back by itself: only the fuzz moves tasks.
      mas = await startReferenceMas({ callbackSecret: CALLBACK_SECRET, callbackDelayMs: 600_000, completeAfterMs: 600_000 });
      if (store === 'PostgreSQL') db = await createTestDatabase('gitbridge_fuzz');
      ({ daemon } = await startCallbackDaemon(tmp.dir, {
        ...(db ? { GITBRIDGE_DATABASE_URL: db.url, GITBRIDGE_DATABASE_POOL_MAX: '4' } : {}),
        GITBRIDGE_MAS_URL: mas.url,
        GITBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
        GITBRIDGE_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
        GITBRIDGE_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
        GITBRIDGE_TRUST_PROXY: '127.0.0.1',
        GITBRIDGE_IP_ALLOWLIST: 'github,loopback,203.0.113.0/24',
        // Low budgets, so that both rate limits are reached: failed signatures per address, verified deliveries per repository.
        GITBRIDGE_RATE_LIMIT_UNAUTHENTICATED: '20',
        GITBRIDGE_RATE_LIMIT: '60',
      }));
      agent = new Agent({ connections: 4, headersTimeout: 30_000, bodyTimeout: 30_000 });
      // Tasks that the MAS holds, so that callbacks can name real task ids.
      const warm = createRng(SEED ^ 0x5eed);
      for (const [event, action] of [['pull_request', 'opened'], ['issues', 'opened'], ['issue_comment', 'created'], ['pull_request', 'synchronize'], ['pull_request', 'reopened'], ['issues', 'opened']] as const) {
        const body = JSON.stringify(githubExample(event, action));
        sentDigests.set(sign(SECRET, body).slice(7), 'warm-up');
        const res = await postDelivery(daemon.url, event, body, { deliveryId: uuid(warm), headers: { 'x-forwarded-for': '140.82.112.1' } });
        expect(res.status, `${TAG}: warm-up delivery ${event}.${action}: ${res.text}`).toBe(202);
        storedDeliveries.push(res.deliveryId);
      }
      const tasks = await waitFor(async () => {
        const all = await daemon.store.listTasks();
        return all.length >= pools.storedDeliveries.length && all.every((t) => t.taskId) ? all : undefined;
      }, 20_000, 'the warm-up tasks accepted by the MAS');
      // In the order of the deliveries: the same seed draws the same tasks (the MAS picks their ids).
      masTaskIds.push(...storedDeliveries.map((id) => tasks.find((t) => t.deliveryId === id)!.taskId!));
    }, 60_000);

    afterAll(async () => {
      await agent?.close();
      await daemon?.stop(1000);
      await mas?.close();
      await db?.drop();
      tmp.cleanup();
    });

    it(`answers ${CASES} valid and hostile requests without a 5xx, every error in the common shape with a catalogued code (${TAG})`, async () => {
      const rng = createRng(SEED);
      const known = new Set(pools.masTaskIds);
      const started = performance.now();
      let dropped = 0;
      // A few bodies that stall: Node drops them after GITBRIDGE_BODY_TIMEOUT_MS (408) while the fuzz goes on.
      const stalls = Array.from({ length: 3 }, (_, i) => {
        const body = Buffer.from(JSON.stringify(examplePayload(rng, pools).payload));
        const path = i === 2 ? '/mas/callback' : '/webhook';
        const headers: HeaderList = [['content-type', 'application/json'], ['x-github-event', 'push'], ['x-github-delivery', uuid(rng)], ['x-hub-signature-256', sign(SECRET, body)], ['content-length', String(body.length)]];
        const raw = httpBytes({ method: 'POST', path, headers, body: body.subarray(0, rng.int(0, body.length - 1)) }, []);
        return exchange(daemon.port, raw, false).then(({ data }) => ({ i, answers: parseAnswers(data, false).answers }));
      });
      for (let i = 0; i < CASES; i++) {
        const route = rng.weighted<Route>([[50, 'webhook'], [28, 'callback'], [16, 'admin'], [6, 'other']]);
        const c = route === 'webhook' ? webhookCase(rng, pools) : route === 'callback' ? callbackCase(rng, pools, known) : route === 'admin' ? adminCase(rng, pools) : otherCase(rng);
        for (const [name, value] of c.headers) {
          if (/^x-(hub|mas)-signature-256$/i.test(name)) for (const d of hexDigestsIn(value)) if (!sentDigests.has(d)) sentDigests.set(d, `case #${i}`);
        }
        const { answers, error } = await send(c, daemon.url, daemon.port, agent);
        const where = `[${TAG}] case #${i} ${c.label}, headers ${JSON.stringify(c.headers).slice(0, 600)}`;
        if (answers.length === 0) dropped++;
        if (answers.length === 0 && !c.mayDrop) violations.push(`${where}: no answer${error ? ` (${error})` : ''}`);
        if (error && answers.length > 0 && !c.mayDrop && !/ECONNRESET|EPIPE/.test(error)) violations.push(`${where}: ${error}`);
        answers.forEach((a, n) => {
          const key = `${c.route} ${a.status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          const problems = problemsOf(c, a, n === 0);
          if (n === 0) {
            const s = storedBy(c, a, i);
            stored.push(...s.stored);
            problems.push(...s.problems);
          }
          for (const p of problems) violations.push(`${where}: ${p}; answer ${a.status} ${a.body.toString('utf8').slice(0, 300)}`);
          const text = `${a.body.toString('utf8')}\n${JSON.stringify(a.headers)}`;
          for (const d of hexDigestsIn(text)) if (!answerHex.has(d)) answerHex.set(d, i);
        });
      }
      for (const { i, answers } of await Promise.all(stalls)) {
        for (const a of answers) {
          const c: Case = { label: `stalled body ${i}`, route: 'webhook', method: 'POST', path: '/webhook', headers: [] };
          for (const p of problemsOf(c, a, true)) violations.push(`[${TAG}] stalled body #${i}: ${p}`);
          if (a.status !== 408) violations.push(`[${TAG}] stalled body #${i}: status ${a.status}, expected 408`);
        }
      }
      const ms = Math.round(performance.now() - started);
      const summary = [...statuses].sort().map(([k, n]) => `${k}: ${n}`).join(', ');
      console.info(`fuzz ${TAG}\n${CASES} cases in ${ms} ms, ${dropped} closed without an answer; answers by route and status: ${summary}`);
      expect(violations.length, `${TAG}: ${violations.length} violations:\n${violations.slice(0, 30).join('\n')}`).toBe(0);
    }, FUZZ_TIMEOUT_MS);

    it(`stores every delivery it answered 2xx for (${TAG})`, async () => {
      expect(stored.length, `${TAG}: no delivery was accepted at all`).toBeGreaterThan(50);
      const missing: string[] = [];
      for (const s of stored) {
        const d = await daemon.store.getDelivery(s.deliveryId);
        if (!d) missing.push(`case #${s.caseIndex}: ${s.deliveryId} is not in the store`);
        else if (s.replayOf !== undefined && d.replayOf !== s.replayOf) missing.push(`case #${s.caseIndex}: ${s.deliveryId} is not stored as a replay of ${s.replayOf}`);
      }
      expect(missing, `${TAG}: ${missing.slice(0, 20).join('\n')}`).toEqual([]);
      // Nothing accepted is lost afterwards either: every delivery is processed or ignored, none dead.
      const settled = await waitFor(async () => {
        const all = await Promise.all(stored.map(async (s) => ({ s, d: await daemon.store.getDelivery(s.deliveryId) })));
        return all.every(({ d }) => d?.state !== 'queued') ? all : null;
      }, 60_000, 'every accepted delivery processed');
      const dead = settled.filter(({ d }) => d?.state === 'dead').map(({ s, d }) => `case #${s.caseIndex}: ${s.deliveryId} is dead: ${d?.lastError ?? ''}`);
      expect(dead, `${TAG}: ${dead.slice(0, 20).join('\n')}`).toEqual([]);
    }, 90_000);

    it(`puts no secret and no signature sent in any answer or log line (${TAG})`, async () => {
      const leaks: string[] = [];
      for (const [digest, caseIndex] of answerHex) {
        if (sentDigests.has(digest)) leaks.push(`the answer to case #${caseIndex} holds the signature digest ${digest} sent in ${sentDigests.get(digest)}`);
      }
      for (const file of ['webhook.log', 'security.log']) {
        const lines = readFileSync(join(tmp.dir, 'logs', file), 'utf8').split('\n').filter(Boolean);
        expect(lines.length, `${TAG}: ${file} is empty`).toBeGreaterThan(0);
        lines.forEach((line, n) => {
          const where = `${file}:${n + 1}`;
          try {
            JSON.parse(line);
          } catch {
            leaks.push(`${where} is not one JSON object: ${line.slice(0, 200)}`);
          }
          for (const s of SECRETS) if (line.includes(s)) leaks.push(`${where} holds a secret (${s.slice(0, 6)}…)`);
          for (const d of hexDigestsIn(line)) if (sentDigests.has(d)) leaks.push(`${where} holds the signature digest ${d} sent in ${sentDigests.get(d)}`);
        });
      }
      expect(sentDigests.size, `${TAG}: no signature was sent`).toBeGreaterThan(100);
      expect(leaks, `${TAG}: ${leaks.slice(0, 20).join('\n')}`).toEqual([]);
    });

    it(`still answers /healthz and /readyz with 200 (${TAG})`, async () => {
      for (const path of ['/healthz', '/readyz']) {
        const res = await request(`${daemon.url}${path}`, { dispatcher: agent });
        const text = await res.body.text();
        expect(res.statusCode, `${TAG}: GET ${path} answered ${res.statusCode} ${text}`).toBe(200);
      }
    });
  });
}

describeFuzz('SQLite');
describeFuzz('PostgreSQL');
