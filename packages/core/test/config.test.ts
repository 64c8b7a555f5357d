import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, configWarnings, displayValue, loadConfig, resolveConfig, withoutPassword } from '../src/index.js';

const required = { GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' };
const spec = (key: string) => CONFIG_SCHEMA.find((o) => o.key === key)!;

describe('resolveConfig', () => {
  it('says where each value came from, and loadConfig builds the same configuration', () => {
    const r = resolveConfig({ env: { ...required, GITBRIDGE_PORT: '1' }, flags: { host: '127.0.0.1' } });
    const by = (key: string) => r.options.find((o) => o.spec.key === key)!;
    expect(r.problems).toEqual([]);
    expect(by('port')).toMatchObject({ value: 1, source: 'env', origin: 'GITBRIDGE_PORT' });
    expect(by('host')).toMatchObject({ value: '127.0.0.1', source: 'flag', origin: '--host' });
    expect(by('logLevel')).toMatchObject({ value: 'info', source: 'default', origin: '' });
    expect(by('masToken')).toMatchObject({ value: undefined, source: 'unset' });
    expect(r.options.map((o) => o.spec.key)).toEqual(CONFIG_SCHEMA.map((o) => o.key));
    expect(loadConfig({ env: { ...required, GITBRIDGE_PORT: '1' }, flags: { host: '127.0.0.1' } })).toEqual(r.config);
  });

  it('reports problems instead of throwing; loadConfig throws them', () => {
    const r = resolveConfig({ env: { GITBRIDGE_PORT: 'x' } });
    expect(r.problems).toHaveLength(3);
    expect(() => loadConfig({ env: { GITBRIDGE_PORT: 'x' } })).toThrow(expect.objectContaining({ code: 'GB_CONFIG_INVALID', hint: expect.stringContaining('gitbridged config check') }));
  });

  it('refuses a management port equal to the webhook port', () => {
    expect(resolveConfig({ env: { ...required, GITBRIDGE_PORT: '3000', GITBRIDGE_ADMIN_PORT: '3000' } }).problems).toEqual([
      'GITBRIDGE_ADMIN_PORT must differ from GITBRIDGE_PORT (3000): the management listener is a second one',
    ]);
  });
});

describe('displayValue', () => {
  it('redacts credentials and URL passwords', () => {
    expect(displayValue(spec('webhookSecrets'), ['a', 'b'])).toBe('[redacted] (2 secrets)');
    expect(displayValue(spec('adminToken'), 'tok')).toBe('[redacted]');
    expect(displayValue(spec('notifyUrl'), 'https://hooks.example.com/services/T/B/x')).toBe('https://hooks.example.com/[redacted]');
    expect(displayValue(spec('redisUrl'), 'redis://:pw@h:6379')).toBe('redis://:[redacted]@h:6379');
    expect(displayValue(spec('ipAllowlist'), ['github', 'loopback'])).toBe('github,loopback');
    expect(displayValue(spec('masToken'), undefined)).toBe('-');
    expect(displayValue(spec('recoverHooks'), [])).toBe('-');
    expect(withoutPassword('postgres://u:secret@db:5432/gitbridge')).toBe('postgres://u:[redacted]@db:5432/gitbridge');
    // A password with an unencoded / or @ makes the value no URL at all: still nothing of it shows.
    expect(withoutPassword('postgres://u:Pa5/5w0rd@XYZ@127.0.0.1:5432/x')).toBe('postgres://u:[redacted]@127.0.0.1:5432/x');
    // libpq's sslpassword (a client key's passphrase) is a secret too.
    expect(withoutPassword('postgres://u@db/x?sslpassword=k3y&sslmode=verify-full')).toBe('postgres://u@db/x?sslpassword=[redacted]&sslmode=verify-full');
    expect(withoutPassword('http://127.0.0.1:3000/webhook')).toBe('http://127.0.0.1:3000/webhook');
    // The database URL is a URL too (its own kind): its password, in either place libpq reads it, never shows.
    expect(displayValue(spec('databaseUrl'), 'postgres://u:secret@db:5432/gitbridge')).toBe('postgres://u:[redacted]@db:5432/gitbridge');
    expect(displayValue(spec('databaseUrl'), 'postgres://u@db/gitbridge?password=secret&sslmode=require')).toBe('postgres://u@db/gitbridge?password=[redacted]&sslmode=require');
  });
  it('a config file: an unknown key is a problem with the nearest known one; a bad value is named by its key in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitbridge-config-'));
    const file = join(dir, 'gitbridge.json');
    writeFileSync(file, JSON.stringify({ $schema: 'x', '// note': 'comments pass', ipAllowList: ['github'], port: 'abc', rules: [] }));
    const { problems } = resolveConfig({ env: { ...required, GITBRIDGE_CONFIG: file } });
    rmSync(dir, { recursive: true, force: true });
    expect(problems).toContain(`${file}: unknown option "ipAllowList" (did you mean "ipAllowlist"?)`);
    expect(problems.join('\n')).toContain(`"port" in ${file} must be a non-negative integer, got "abc"`);
    expect(problems).toHaveLength(2);
  });
  it('a token read from a file says where that file was named: flag, environment or config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitbridge-config-'));
    const token = join(dir, 'token');
    writeFileSync(token, 'ghp_x\n');
    const file = join(dir, 'gitbridge.json');
    writeFileSync(file, JSON.stringify({ githubTokenFile: token }));
    const origin = (sources: Parameters<typeof resolveConfig>[0]) => {
      const o = resolveConfig(sources).options.find((x) => x.spec.key === 'githubToken')!;
      return [o.value, o.source, o.origin];
    };
    expect(origin({ env: required, flags: { githubTokenFile: token } })).toEqual(['ghp_x', 'flag', '--github-token-file']);
    expect(origin({ env: { ...required, GITBRIDGE_GITHUB_TOKEN_FILE: token } })).toEqual(['ghp_x', 'env', 'GITBRIDGE_GITHUB_TOKEN_FILE']);
    expect(origin({ env: { ...required, GITBRIDGE_CONFIG: file } })).toEqual(['ghp_x', 'file', file]);
    rmSync(dir, { recursive: true, force: true });
  });
  it('URLs without the whitespace around them', () => {
    const { config } = resolveConfig({ env: { ...required, GITBRIDGE_DATABASE_URL: ' postgres://u@db/gitbridge\n', GITBRIDGE_MAS_URL: ' http://mas:8081/ ' } });
    expect([config.databaseUrl, config.masUrl]).toEqual(['postgres://u@db/gitbridge', 'http://mas:8081']);
  });
  it('a log level in any case is the level', () => {
    expect(resolveConfig({ env: { ...required, GITBRIDGE_LOG_LEVEL: 'DEBUG' } }).config.logLevel).toBe('debug');
    expect(resolveConfig({ env: { ...required, GITBRIDGE_LOG_LEVEL: 'Loud' } }).problems.join('\n')).toMatch(/GITBRIDGE_LOG_LEVEL[^\n]*"loud"/);
  });
  it('a derived default is shown as a default', () => {
    const meta = resolveConfig({ env: required }).options.find((o) => o.spec.key === 'metaUrl')!;
    expect([meta.value, meta.source]).toEqual(['https://api.github.com/meta', 'default']);
  });
});

describe('configWarnings', () => {
  const warnings = (env: Record<string, string>) => configWarnings(loadConfig({ env: { ...required, ...env } }));
  it('none for the defaults', () => {
    expect(warnings({})).toEqual([]);
  });
  it('an https public URL without proxy trust: the reverse-proxy trap', () => {
    expect(warnings({ GITBRIDGE_PUBLIC_URL: 'https://gitbridge.example.com' })).toEqual([expect.stringContaining('GITBRIDGE_TRUST_PROXY')]);
  });
  it('proxy trust while binding every address; a hop count says that X-Forwarded-For can be forged', () => {
    expect(warnings({ GITBRIDGE_TRUST_PROXY: '127.0.0.1' })).toEqual([expect.stringContaining('bind 127.0.0.1')]);
    expect(warnings({ GITBRIDGE_TRUST_PROXY: '1' })).toEqual([expect.stringContaining('forge X-Forwarded-For')]);
    expect(warnings({ GITBRIDGE_TRUST_PROXY: '127.0.0.1', GITBRIDGE_HOST: '127.0.0.1' })).toEqual([]);
  });
  it('an admin token without a management listener; a management listener on every interface', () => {
    expect(warnings({ GITBRIDGE_ADMIN_TOKEN: 't' })).toEqual([expect.stringContaining('GITBRIDGE_ADMIN_PORT')]);
    expect(warnings({ GITBRIDGE_ADMIN_TOKEN: 't', GITBRIDGE_ADMIN_PORT: '3001' })).toEqual([]);
    expect(warnings({ GITBRIDGE_ADMIN_PORT: '3001', GITBRIDGE_ADMIN_HOST: '0.0.0.0' })).toEqual([expect.stringContaining('every interface')]);
  });
});
