import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/index.js';
import { createGitHubClient, gitHubError, parseHookPath } from '../src/github/index.js';

describe('errors of GitHub API calls', () => {
  const hook = parseHookPath('repos/octo/repo/hooks/1')!;
  it('name the call and the answer, with anything that looks like a credential masked', () => {
    const token = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0'.repeat(2);
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJl';
    const err = gitHubError(Object.assign(new Error(`Bad credentials: token ${token}, jwt ${jwt}`), { status: 401, response: { headers: {} } }), 'listing deliveries', hook);
    expect(err.code).toBe('GB_GITHUB_AUTH_FAILED');
    expect(err.message).toBe('listing deliveries: GitHub answered 401 (Bad credentials: token [redacted], jwt [redacted])');
  });
});

describe('the list of a hook\'s deliveries', () => {
  /** An API on loopback that answers every GET with `body`: not GitHub (a proxy, a wrong URL). */
  async function answering(body: string): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
  }
  async function firstPage(apiUrl: string): Promise<unknown> {
    const client = createGitHubClient({ apiUrl, token: 'ghp_test', clock: systemClock, retryBaseMs: 1 });
    for await (const page of client.deliveryPages(parseHookPath('repos/octo/repo/hooks/1')!)) return page;
    return null;
  }
  it('an answer that is not JSON (a web page where the API should be, found or not) is an error that points at the API URL', async () => {
    for (const status of [200, 404]) {
      const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'text/html' }).end('<html>not the API</html>'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        await expect(firstPage(url), String(status)).rejects.toMatchObject({ code: 'GB_GITHUB_API_FAILED', hint: expect.stringContaining('GITBRIDGE_GITHUB_API_URL') });
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
  });
  it('an empty list is no deliveries; a list of things that are not delivery summaries is an error, not "nothing missing"', async () => {
    const empty = await answering('[]');
    const junk = await answering('[{"junk":1},[[[]]],"x"]');
    try {
      expect(await firstPage(empty.url)).toEqual([]);
      await expect(firstPage(junk.url)).rejects.toMatchObject({ code: 'GB_GITHUB_API_FAILED', message: expect.stringContaining('not delivery summaries') });
    } finally {
      await empty.close();
      await junk.close();
    }
  });
});
