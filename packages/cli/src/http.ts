import { GitBridgeError } from '@gitbridge/core/errors';
import { redactUrl } from '@gitbridge/core/util';

/** What {@link postOrFail} got back. */
export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * POSTs `body` to `url` with undici (loaded lazily), reading the whole answer.
 *
 * @param timeoutMs whole-request timeout, ms
 * @param what names the peer in the error message (e.g. "gitbridged")
 * @throws GitBridgeError `GB_DAEMON_TIMEOUT` / `GB_DAEMON_UNREACHABLE` (exit 3) when the peer does not answer within `timeoutMs` or cannot be reached
 */
export async function postOrFail(url: string, headers: Record<string, string>, body: Uint8Array | string | undefined, timeoutMs: number, what = 'gitbridged'): Promise<HttpAnswer> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connect: { timeout: timeoutMs } });
  try {
    const res = await request(url, { method: 'POST', headers, body, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.statusCode, text: await res.body.text() };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
      throw new GitBridgeError('GB_DAEMON_TIMEOUT', {
        message: `no answer from ${redactUrl(url)} within ${timeoutMs} ms`,
        hint: 'GitHub counts a delivery as failed after 10 s: gitbridged should answer in milliseconds',
        cause: err,
      });
    }
    throw new GitBridgeError('GB_DAEMON_UNREACHABLE', { message: `cannot reach ${redactUrl(url)}: is ${what} running? (${e.code ?? e.message})`, cause: err });
  } finally {
    await agent.close().catch(() => undefined);
  }
}
