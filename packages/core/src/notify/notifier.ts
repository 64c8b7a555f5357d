import { request } from 'undici';
import { GitBridgeError } from '../errors/errors.js';
import { USER_AGENT } from '../version.js';
import { describeNetworkError } from '../errors/network.js';

/** A chat message for a Slack-compatible incoming webhook (DESIGN §7). */
export interface ChatMessage {
  readonly channel: string;
  readonly text: string;
  readonly url: string | null;
}

/**
 * Posts one message as Slack-compatible JSON `{channel, text, url}`; Slack
 * ignores the extra `url` field, other chat bridges use it. `text` is sent
 * exactly as the rule rendered it.
 *
 * @param timeoutMs per-attempt timeout
 * @returns the HTTP status
 * @throws GitBridgeError `GB_NOTIFY_FAILED` on a connection failure, a timeout, or a non-2xx answer (the message says which)
 */
export async function postChatMessage(url: string, message: ChatMessage, timeoutMs = 5000): Promise<number> {
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: JSON.stringify({ channel: message.channel, text: message.text, ...(message.url ? { url: message.url } : {}) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body.dump();
  } catch (err) {
    throw new GitBridgeError('GB_NOTIFY_FAILED', { message: `chat service unreachable: ${describeNetworkError(err, timeoutMs)}`, cause: err });
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw new GitBridgeError('GB_NOTIFY_FAILED', { message: `chat service answered ${res.statusCode}` });
  return res.statusCode;
}
