import { describe, expect, it } from 'vitest';
import { gitHubError, parseHookPath } from '../src/github/index.js';

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
