import { readFileSync, readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, ERROR_CATALOGUE, EXIT_CODES, compileRules, defaultRules, loadConfig, type ErrorCode } from '@gitbridge/core';
import { tempDir } from './helpers/temp-dir.js';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

describe('docs match the code', () => {
  it('docs/errors.md documents every error code with its HTTP status and CLI exit status, and no other', () => {
    const doc = read('docs/errors.md');
    for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
      expect(row, `${code} is not documented`).toBeDefined();
      expect(row, code).toContain(`| \`${code}\` | ${status} | ${EXIT_CODES[code as ErrorCode]} |`);
    }
    for (const m of doc.matchAll(/`(GB_[A-Z_]+)`/g)) expect(Object.keys(ERROR_CATALOGUE)).toContain(m[1]);
    for (const m of read('docs/http-api.md').matchAll(/`(GB_[A-Z_]+)`/g)) expect(Object.keys(ERROR_CATALOGUE)).toContain(m[1]);
  });

  it('every error code is used by shipped code (no code without a use)', () => {
    const sources: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = `${dir}/${f}`;
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('errors/errors.ts')) sources.push(readFileSync(p, 'utf8'));
      }
    };
    for (const pkg of ['core', 'daemon', 'cli']) walk(new URL(`../packages/${pkg}/src`, import.meta.url).pathname);
    const all = sources.join('\n');
    for (const code of Object.keys(ERROR_CATALOGUE)) expect(all, `${code} is never used`).toContain(`'${code}'`);
  });

  it('docs/configuration.md documents every option with its flag, environment name and default', () => {
    const doc = read('docs/configuration.md');
    for (const o of CONFIG_SCHEMA) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${o.key}\` |`));
      expect(row, `${o.key} is not documented`).toBeDefined();
      expect(row).toContain(`\`${o.flag}\``);
      expect(row).toContain(`\`${o.env}\``);
      if (o.default !== undefined) expect(row).toContain(`\`${o.default}\``);
    }
    const documented = [...doc.matchAll(/^\| `([a-zA-Z]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(CONFIG_SCHEMA.map((o) => o.key).sort());
  });
});

describe('examples', () => {
  it('examples/nginx/gitbridge.conf: TLS, /webhook and /mas/callback with limits and timeouts, nothing else proxied, and the gitbridged settings it needs', () => {
    const conf = read('examples/nginx/gitbridge.conf');
    const code = conf.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    expect(code).toMatch(/listen 443 ssl;/);
    expect(code).toMatch(/ssl_certificate\s+\S+;/);
    expect(code).toMatch(/ssl_certificate_key\s+\S+;/);
    for (const location of ['/webhook', '/mas/callback']) {
      const block = new RegExp(`location = ${location.replace('/', '\\/')} \\{([^}]*)\\}`).exec(code)?.[1];
      expect(block, location).toBeDefined();
      expect(block).toContain('proxy_pass http://gitbridged;');
      expect(block).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
      expect(block).toMatch(/client_max_body_size \d+m;/);
      expect(block).toMatch(/proxy_read_timeout\s+10s;/);
    }
    expect(code).toMatch(/server 127\.0\.0\.1:3000;/);
    expect([...code.matchAll(/proxy_pass/g)]).toHaveLength(2);
    expect(code).toMatch(/location \/ \{\s*return 404;\s*\}/);
    for (const setting of ['GITBRIDGE_HOST=127.0.0.1', 'GITBRIDGE_TRUST_PROXY=127.0.0.1', 'GITBRIDGE_ADMIN_PORT=']) expect(conf).toContain(setting);
  });

  it('examples/gitbridge.config.json loads and holds the default rules', () => {
    const config = loadConfig({ env: { GITBRIDGE_CONFIG: 'examples/gitbridge.config.json', GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' }, cwd: new URL('..', import.meta.url).pathname });
    expect(config.ipAllowlist).toEqual(['github', 'loopback']);
    expect(compileRules(config.rules!)).toEqual(compileRules(defaultRules()));
  });
});

describe('loadConfig', () => {
  it('reports every problem at once', () => {
    expect(() => loadConfig({ env: { GITBRIDGE_PORT: 'abc', GITBRIDGE_MAS_URL: 'not a url' } })).toThrow(
      /GITBRIDGE_PORT[\s\S]*GITBRIDGE_WEBHOOK_SECRET[\s\S]*GITBRIDGE_MAS_URL[\s\S]*GITBRIDGE_MAS_CALLBACK_SECRET/,
    );
  });
  it('lets flags win over the environment', () => {
    const c = loadConfig({ env: { GITBRIDGE_PORT: '1', GITBRIDGE_WEBHOOK_SECRET: 'a,b', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' }, flags: { port: '2' } });
    expect(c.port).toBe(2);
    expect(c.webhookSecrets).toEqual(['a', 'b']);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('trims the trailing newline of a secret file', async () => {
    const { writeFileSync } = await import('node:fs');
    const { dir } = tempDir('gb-secret-');
    writeFileSync(`${dir}/secret`, 'from-file\n');
    const c = loadConfig({ env: { GITBRIDGE_WEBHOOK_SECRET_FILE: `${dir}/secret`, GITBRIDGE_MAS_CALLBACK_SECRET: 'c' } });
    expect(c.webhookSecrets).toEqual(['from-file']);
  });
  it('takes a postgres:// database URL and never repeats a password in a problem', () => {
    const base = { GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' };
    expect(loadConfig({ env: { ...base, GITBRIDGE_DATABASE_URL: 'postgres://gitbridge:pw@db:5432/gitbridge' } })).toMatchObject({ databaseUrl: 'postgres://gitbridge:pw@db:5432/gitbridge', databasePoolMax: 10 });
    expect(loadConfig({ env: base })).toMatchObject({ databaseUrl: undefined });
    let message = '';
    try {
      loadConfig({ env: { ...base, GITBRIDGE_DATABASE_URL: 'mysql://gitbridge:hunter2@db/x', GITBRIDGE_REDIS_URL: 'ftp://:hunter3@redis', GITBRIDGE_DATABASE_POOL_MAX: '0' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('GITBRIDGE_DATABASE_URL (--database-url) must be a postgres:// URL, got "mysql://gitbridge:***@db/x"');
    expect(message).toContain('GITBRIDGE_DATABASE_POOL_MAX must be at least 2, got 0');
    expect(message).not.toMatch(/hunter[23]/);
  });
  it('refuses trust proxy "true", which would trust forged X-Forwarded-For', () => {
    expect(() => loadConfig({ env: { GITBRIDGE_TRUST_PROXY: 'true', GITBRIDGE_WEBHOOK_SECRET: 's', GITBRIDGE_MAS_CALLBACK_SECRET: 'c' } })).toThrow(/hop count/);
  });
});

describe('docs/metrics.md', () => {
  it('documents every metric, with its type and labels, and no metric that does not exist', async () => {
    const { createMetrics } = await import('@gitbridge/core');
    const doc = read('docs/metrics.md');
    const metrics = await createMetrics().registry.getMetricsAsJSON();
    const ours = metrics.filter((m) => m.name.startsWith('gitbridge_'));
    for (const m of ours) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${m.name}\` |`));
      expect(row, `${m.name} is not documented`).toBeDefined();
      expect(row).toContain(`| ${m.type} |`);
    }
    const documented = [...doc.matchAll(/^\| `(gitbridge_[a-z_]+)` \|/gm)].map((x) => x[1]);
    expect(documented.sort()).toEqual(ours.map((m) => m.name).sort());
    // Node process metrics are documented by name too.
    for (const m of metrics.filter((x) => !x.name.startsWith('gitbridge_'))) expect(doc, m.name).toContain(`\`${m.name}\``);
  });

  it('documents the labels each metric has', async () => {
    const { createMetrics } = await import('@gitbridge/core');
    const doc = read('docs/metrics.md');
    const m = createMetrics({ defaultMetrics: false });
    m.requestDuration.observe({ route: '/webhook', status_code: '202' }, 0.001);
    m.events.inc({ type: 't', action: 'a', status: 'accepted' });
    for (const [name, labels] of [
      ['gitbridge_webhook_request_duration_seconds', ['route', 'status_code']],
      ['gitbridge_webhook_events_total', ['type', 'action', 'status']],
      ['gitbridge_webhook_rejections_total', ['reason']],
      ['gitbridge_tasks', ['status']],
      ['gitbridge_deliveries', ['state']],
    ] as const) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))!;
      for (const l of labels) expect(row, `${name} label ${l}`).toContain(`\`${l}\``);
    }
  });
});
