import { request, type Dispatcher } from 'undici';

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
 * @throws Error on a connection failure, timeout, or a non-2xx answer (message has the status)
 */
export async function postChatMessage(url: string, message: ChatMessage, timeoutMs = 5000, dispatcher?: Dispatcher): Promise<number> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'GitBridge/0.1' },
    body: JSON.stringify({ channel: message.channel, text: message.text, ...(message.url ? { url: message.url } : {}) }),
    signal: AbortSignal.timeout(timeoutMs),
    ...(dispatcher ? { dispatcher } : {}),
  });
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`chat service answered ${res.statusCode}`);
  return res.statusCode;
}
