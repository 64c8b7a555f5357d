import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitBridgeError, createLoggers } from '../src/index.js';

describe('errors in log lines', () => {
  it('an expected, classified failure (503, 4xx) has its code and cause but no stack; a possible bug keeps its stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-log-'));
    try {
      const loggers = createLoggers({ logDir: dir, sync: true });
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      loggers.log.error({ err: new GitBridgeError('GB_STORE_UNAVAILABLE', { message: 'the database cannot be reached', cause: refused }) }, 'worker tick failed');
      loggers.log.error({ err: new GitBridgeError('GB_INTERNAL', { message: 'a bug' }) }, 'request failed');
      loggers.log.error({ err: new TypeError('x is undefined') }, 'request failed');
      loggers.log.error({ err: { message: 'already plain' } }, 'plain');
      loggers.close();
      const [outage, internal, plain, object] = readFileSync(join(dir, 'webhook.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).err);
      expect(outage).toEqual({
        type: 'GitBridgeError', code: 'GB_STORE_UNAVAILABLE', message: 'the database cannot be reached',
        cause: { message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED' },
      });
      expect(internal).toMatchObject({ code: 'GB_INTERNAL', message: 'a bug', stack: expect.stringContaining('logging.test.ts') });
      expect(plain).toMatchObject({ type: 'TypeError', message: 'x is undefined', stack: expect.stringContaining('logging.test.ts') });
      expect(object).toEqual({ message: 'already plain' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
