import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, createMetrics } from '@gitbridge/core';

// Docker is not available on these machines, so examples/docker-compose.yml is
// checked for structure and for the files it mounts, not run. The Prometheus
// configuration and the dashboard's queries run for real in
// test/prometheus.e2e.test.ts.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');
const DASHBOARD_TITLE = 'GitBridge Webhook Flow';
const DASHBOARD_UID = 'gitbridge-webhook-flow';

type Yaml = null | string | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

/**
 * A parser for the block-style YAML subset these files use (maps, sequences,
 * `- key: value` items, plain and quoted scalars, JSON-style flow sequences,
 * comments). Scalars stay strings. Anything else is an error, so a file that
 * outgrows it fails loudly instead of being misread.
 */
function parseYaml(text: string, name = 'yaml'): Yaml {
  const lines = text
    .split(/\r?\n/)
    .map((raw, n) => ({ n: n + 1, raw: stripComment(raw) }))
    .filter((l) => l.raw.trim() !== '' && l.raw.trim() !== '---')
    .map((l) => {
      if (/^\s*\t/.test(l.raw)) throw new Error(`${name}:${l.n}: tab indentation`);
      return { n: l.n, indent: l.raw.length - l.raw.trimStart().length, text: l.raw.trim() };
    });
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${name}:${lines[i]?.n ?? 'end'}: ${msg}`);
  };
  const isItem = (t: string) => t === '-' || t.startsWith('- ');
  const KEY = /^([A-Za-z0-9_.\/${}-]+|"[^"]*"|'[^']*'):(?:\s+(.*))?$/;

  const block = (indent: number): Yaml => (isItem(lines[i]!.text) ? seq(indent) : map(indent));

  const map = (indent: number): YamlMap => {
    const out: YamlMap = {};
    while (i < lines.length && lines[i]!.indent === indent && !isItem(lines[i]!.text)) {
      const m = KEY.exec(lines[i]!.text) ?? fail(`not a "key: value" line: ${lines[i]!.text}`);
      const key = scalar(m[1]!) as string;
      if (key in out) fail(`duplicate key ${key}`);
      i++;
      if (m[2] !== undefined && m[2] !== '') out[key] = scalar(m[2]);
      else if (i < lines.length && (lines[i]!.indent > indent || (lines[i]!.indent === indent && isItem(lines[i]!.text)))) out[key] = block(lines[i]!.indent);
      else out[key] = null;
    }
    if (i < lines.length && lines[i]!.indent > indent) fail('unexpected indentation');
    return out;
  };

  const seq = (indent: number): Yaml[] => {
    const out: Yaml[] = [];
    while (i < lines.length && lines[i]!.indent === indent && isItem(lines[i]!.text)) {
      const line = lines[i]!;
      const item = line.text.slice(1).trimStart();
      if (item === '') {
        i++;
        out.push(i < lines.length && lines[i]!.indent > indent ? block(lines[i]!.indent) : null);
      } else if (KEY.test(item)) {
        // "- key: value": a map whose keys line up with "key".
        lines[i] = { n: line.n, indent: indent + (line.text.length - item.length), text: item };
        out.push(map(lines[i]!.indent));
      } else {
        out.push(scalar(item));
        i++;
      }
    }
    return out;
  };

  const scalar = (s: string): Yaml => {
    if (s.startsWith('"')) return JSON.parse(s) as string;
    if (s.startsWith("'")) {
      if (!s.endsWith("'") || s.length < 2) fail(`unterminated string ${s}`);
      return s.slice(1, -1).replace(/''/g, "'");
    }
    if (s.startsWith('[') || s.startsWith('{')) {
      try {
        return JSON.parse(s) as Yaml;
      } catch {
        return fail(`flow collection this parser does not read: ${s}`);
      }
    }
    if (/^[|>&*!]/.test(s)) fail(`unsupported YAML syntax: ${s}`);
    return s;
  };

  if (lines.length === 0) return null;
  const doc = block(lines[0]!.indent);
  if (i < lines.length) fail('unexpected content');
  return doc;
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quote) {
      if (c === '\\' && quote === '"') k++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      if (k === 0 || /[\s:\-\[,{]/.test(line[k - 1]!)) quote = c;
    } else if (c === '#' && (k === 0 || /\s/.test(line[k - 1]!))) {
      return line.slice(0, k).trimEnd();
    }
  }
  return line.trimEnd();
}

const asMap = (v: Yaml | undefined, what: string): YamlMap => {
  expect(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is a map`).toBe(true);
  return v as YamlMap;
};
const asList = (v: Yaml | undefined, what: string): Yaml[] => {
  expect(Array.isArray(v), `${what} is a list`).toBe(true);
  return v as Yaml[];
};
const readYaml = (path: string) => parseYaml(readFileSync(path, 'utf8'), path);

/** A compose volume entry: host path (bind mounts) or named volume, container path, mode. */
function volume(spec: Yaml): { source: string; target: string; mode?: string; bind: boolean } {
  expect(typeof spec, `volume ${JSON.stringify(spec)} in short syntax`).toBe('string');
  const [source, target, mode] = (spec as string).split(':') as [string, string, string | undefined];
  expect(target, `volume ${String(spec)} has a container path`).toMatch(/^\//);
  return { source, target, mode, bind: /^[./~]/.test(source) };
}

/** Host directory of `containerPath` in a service's bind mounts (the longest mount prefix). */
function hostPath(service: YamlMap, containerPath: string): string | undefined {
  let best: { target: string; host: string } | undefined;
  for (const v of asList(service.volumes, 'volumes').map(volume)) {
    if (!v.bind) continue;
    if (containerPath === v.target || containerPath.startsWith(`${v.target}/`)) {
      if (!best || v.target.length > best.target.length) best = { target: v.target, host: resolve(EXAMPLES, v.source) };
    }
  }
  return best && join(best.host, posix.relative(best.target, containerPath));
}

const compose = asMap(readYaml(join(EXAMPLES, 'docker-compose.yml')), 'docker-compose.yml');
const services = asMap(compose.services, 'services');
const service = (name: string) => asMap(services[name], `service ${name}`);

describe('examples/docker-compose.yml', () => {
  it('has the services redis, prometheus and grafana by default, and PostgreSQL, two daemons and a proxy in the profile "ha"; official images with pinned tags', () => {
    const inProfile = (p: string | null) => Object.keys(services).filter((name) => {
      const profiles = service(name).profiles;
      return p === null ? profiles === undefined : Array.isArray(profiles) && profiles.includes(p);
    }).sort();
    expect(inProfile(null)).toEqual(['grafana', 'prometheus', 'redis']);
    expect(inProfile('ha')).toEqual(['gitbridged-a', 'gitbridged-b', 'postgres', 'proxy']);
    expect(Object.keys(services)).toHaveLength(7);
    const images: Record<string, RegExp> = { redis: /^redis:/, prometheus: /^prom\/prometheus:/, grafana: /^grafana\/grafana(-oss)?:/, postgres: /^postgres:/, proxy: /^haproxy:/ };
    for (const [name, repo] of Object.entries(images)) {
      const image = service(name).image as string;
      expect(image).toMatch(repo);
      const tag = image.split(':')[1]!;
      // PostgreSQL's versions have two parts since 10 (major.minor); the others three.
      expect(tag, `${name} image tag`).toMatch(name === 'postgres' ? /^\d+\.\d+(-|$)/ : /^v?\d+\.\d+\.\d+/);
      expect(tag).not.toBe('latest');
    }
    expect(compose.version, 'the obsolete top-level version key').toBeUndefined();
  });

  it('every host path it mounts exists in the repository; named volumes are declared', () => {
    const declared = Object.keys(compose.volumes ? asMap(compose.volumes, 'volumes') : {});
    const mounts: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      for (const v of asList(asMap(s, name).volumes ?? [], `${name}.volumes`).map(volume)) {
        if (v.mode !== undefined) expect(['ro', 'rw']).toContain(v.mode);
        if (!v.bind) {
          expect(declared, `named volume ${v.source} of ${name}`).toContain(v.source);
          continue;
        }
        expect(v.source, 'host paths are relative to examples/').toMatch(/^\.\//);
        const host = resolve(EXAMPLES, v.source);
        expect(host.startsWith(`${ROOT}`), `${v.source} stays inside the repository`).toBe(true);
        expect(existsSync(host), `${name} mounts ${v.source} (${host}), which must exist`).toBe(true);
        mounts.push(`${name}:${v.source}`);
      }
    }
    expect(mounts).toEqual(expect.arrayContaining(['prometheus:./prometheus/prometheus.yml', 'grafana:./grafana/provisioning', 'grafana:./grafana/dashboards']));
    expect(statSync(join(EXAMPLES, 'prometheus/prometheus.yml')).isFile()).toBe(true);
    expect(statSync(join(EXAMPLES, 'grafana/provisioning')).isDirectory()).toBe(true);
    expect(statSync(join(EXAMPLES, 'grafana/dashboards')).isDirectory()).toBe(true);
  });

  it('Prometheus reads the mounted prometheus.yml and reaches the host as host.docker.internal', () => {
    const prom = service('prometheus');
    const command = asList(prom.command, 'prometheus.command') as string[];
    const configFlag = command.find((a) => a.startsWith('--config.file='));
    expect(configFlag).toBeDefined();
    const containerConfig = configFlag!.slice('--config.file='.length);
    expect(hostPath(prom, containerConfig)).toBe(join(EXAMPLES, 'prometheus/prometheus.yml'));
    expect(asList(prom.extra_hosts, 'prometheus.extra_hosts')).toContain('host.docker.internal:host-gateway');
  });

  it('publishes every port on loopback only; Grafana does not take gitbridged\'s port 3000 on the host', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of asList(asMap(s, name).ports ?? [], `${name}.ports`)) expect(p, `${name} port`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
    const grafanaHostPorts = asList(service('grafana').ports, 'grafana.ports').map((p) => (p as string).split(':')[1]);
    expect(grafanaHostPorts).not.toContain('3000');
  });

  it('Grafana: anonymous access off by default, admin password from GRAFANA_ADMIN_PASSWORD with a local default', () => {
    const env = asMap(service('grafana').environment, 'grafana.environment');
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toMatch(/^(false|\$\{GRAFANA_ANONYMOUS_ENABLED:-false\})$/);
    expect(env.GF_AUTH_ANONYMOUS_ORG_ROLE ?? 'Viewer').toBe('Viewer');
    const password = env.GF_SECURITY_ADMIN_PASSWORD as string;
    expect(password).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:-[^}]+\}$/);
    const fallback = /:-([^}]+)\}/.exec(password)![1]!;
    expect(readFileSync(join(EXAMPLES, 'README.md'), 'utf8')).toContain(fallback);
    expect(env.GF_USERS_ALLOW_SIGN_UP).toBe('false');
  });

  it('the Grafana dashboard provisioning points at the directory that holds the dashboard JSON', () => {
    const grafana = service('grafana');
    const provisioning = hostPath(grafana, '/etc/grafana/provisioning');
    expect(provisioning).toBe(join(EXAMPLES, 'grafana/provisioning'));
    const files = readdirSync(join(provisioning!, 'dashboards')).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const dirs: string[] = [];
    for (const f of files) {
      const doc = asMap(readYaml(join(provisioning!, 'dashboards', f)), f);
      expect(doc.apiVersion).toBe('1');
      for (const p of asList(doc.providers, `${f} providers`)) {
        const provider = asMap(p, 'provider');
        expect(provider.type).toBe('file');
        const path = asMap(provider.options, 'provider options').path as string;
        const host = hostPath(grafana, path);
        expect(host, `provider path ${path} is a bind mount of the grafana service`).toBeDefined();
        dirs.push(host!);
      }
    }
    expect(dirs).toContain(join(EXAMPLES, 'grafana/dashboards'));
    const jsonFile = join(EXAMPLES, 'grafana/dashboards/gitbridge-webhook-flow.json');
    expect(existsSync(jsonFile)).toBe(true);
    const dash = JSON.parse(readFileSync(jsonFile, 'utf8')) as { title: string; uid: string };
    expect(dash.title).toBe(DASHBOARD_TITLE);
    expect(dash.uid).toBe(DASHBOARD_UID);
    // The home dashboard, when set, is that file inside the container.
    const home = asMap(grafana.environment, 'grafana.environment').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string | undefined;
    if (home) expect(hostPath(grafana, home)).toBe(jsonFile);
  });

  it('the provisioned datasource is the compose Prometheus, with the uid the dashboard uses', () => {
    const provisioning = hostPath(service('grafana'), '/etc/grafana/provisioning')!;
    const files = readdirSync(join(provisioning, 'datasources')).filter((f) => /\.ya?ml$/.test(f));
    const sources = files.flatMap((f) => asList(asMap(readYaml(join(provisioning, 'datasources', f)), f).datasources, `${f} datasources`).map((d) => asMap(d, 'datasource')));
    const prom = sources.filter((d) => d.type === 'prometheus');
    expect(prom).toHaveLength(1);
    const url = new URL(prom[0]!.url as string);
    expect(Object.keys(services)).toContain(url.hostname);
    expect(url.port).toBe('9090');

    const dash = JSON.parse(readFileSync(join(EXAMPLES, 'grafana/dashboards/gitbridge-webhook-flow.json'), 'utf8')) as { panels: Record<string, any>[] };
    const uids = new Set<string>();
    const walk = (panels: Record<string, any>[]) => {
      for (const p of panels) {
        if (p.type !== 'row') {
          expect(p.datasource, `panel ${p.title} datasource`).toEqual({ type: 'prometheus', uid: prom[0]!.uid });
          for (const t of p.targets ?? []) if (t.datasource) uids.add(t.datasource.uid);
        }
        if (p.panels) walk(p.panels);
      }
    };
    walk(dash.panels);
    expect([...uids]).toEqual([prom[0]!.uid]);
  });
});

describe('examples/docker-compose.yml, profile "ha": several daemons on one PostgreSQL store', () => {
  const daemons = ['gitbridged-a', 'gitbridged-b'];
  const env = (name: string) => asMap(service(name).environment, `${name}.environment`) as Record<string, string>;
  const dockerfile = readFileSync(join(EXAMPLES, 'Dockerfile'), 'utf8');

  it('the daemons are built from this checkout by examples/Dockerfile, which runs gitbridged on port 3000', () => {
    const build = asMap(service('gitbridged-a').build, 'gitbridged-a.build');
    expect(resolve(EXAMPLES, build.context as string)).toBe(resolve(ROOT));
    expect(resolve(ROOT, build.dockerfile as string)).toBe(join(EXAMPLES, 'Dockerfile'));
    // Both daemons run the one image the first builds.
    expect(service('gitbridged-b').image).toBe(service('gitbridged-a').image);
    expect(dockerfile).toMatch(/^FROM node:20\.\d+\.\d+/m);
    expect(dockerfile).toContain('pnpm install --frozen-lockfile');
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/gitbridged", "serve"\]$/m);
    expect(dockerfile).toMatch(/GITBRIDGE_PORT=3000/);
    expect(existsSync(join(ROOT, '.dockerignore'))).toBe(true);
  });

  it('every daemon has the same configuration: the compose PostgreSQL and Redis, the proxy as public URL, proxy trust', () => {
    const pg = env('postgres');
    for (const name of daemons) {
      const e = env(name);
      expect(e).toEqual(env('gitbridged-a'));
      const db = new URL(e.GITBRIDGE_DATABASE_URL!.replace('${POSTGRES_PASSWORD:-gitbridge-local}', 'x'));
      expect(db.protocol).toBe('postgres:');
      expect(db.hostname).toBe('postgres');
      expect(db.username).toBe(pg.POSTGRES_USER);
      expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
      expect(e.GITBRIDGE_DATABASE_URL).toContain(':${POSTGRES_PASSWORD:-gitbridge-local}@');
      expect(pg.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD:-gitbridge-local}');
      expect(new URL(e.GITBRIDGE_REDIS_URL!).hostname).toBe('redis');
      // The proxy's published port, unless GITBRIDGE_PUBLIC_URL says otherwise.
      const publicUrl = new URL(/^\$\{GITBRIDGE_PUBLIC_URL:-([^}]+)\}$/.exec(e.GITBRIDGE_PUBLIC_URL!)![1]!);
      expect(publicUrl.hostname).toBe('127.0.0.1');
      expect((asList(service('proxy').ports, 'proxy.ports') as string[]).map((p) => p.split(':')[2])).toContain(publicUrl.port);
      expect(e.GITBRIDGE_TRUST_PROXY).toBe('1');
      const deps = asMap(service(name).depends_on, `${name}.depends_on`);
      expect(asMap(deps.postgres, 'depends_on.postgres').condition).toBe('service_healthy');
    }
    expect(asList(asMap(service('postgres').healthcheck, 'postgres.healthcheck').test, 'healthcheck.test')).toContain('pg_isready');
  });

  it('the proxy checks /readyz on each daemon and keeps /metrics and /admin internal', () => {
    const proxy = service('proxy');
    const config = hostPath(proxy, '/usr/local/etc/haproxy/haproxy.cfg');
    expect(config).toBe(join(EXAMPLES, 'haproxy/haproxy.cfg'));
    const cfg = readFileSync(config!, 'utf8');
    expect(cfg).toMatch(/^\s*option httpchk GET \/readyz$/m);
    expect(cfg).toMatch(/^\s*http-check expect status 200$/m);
    expect(cfg).toMatch(/^\s*option forwardfor$/m);
    expect(cfg).toMatch(/http-request deny if \{ path_beg \/metrics \} \|\| \{ path_beg \/admin \}/);
    const servers = [...cfg.matchAll(/^\s*server \S+ (\S+):(\d+) check$/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(servers.sort()).toEqual(daemons.map((d) => `${d}:3000`));
    const bind = /^\s*bind :(\d+)$/m.exec(cfg)![1];
    expect(asList(proxy.ports, 'proxy.ports')).toEqual([`127.0.0.1:${bind}:${bind}`]);
    expect(asList(proxy.depends_on, 'proxy.depends_on')).toEqual(daemons);
  });

  it('Prometheus scrapes each daemon directly', () => {
    const config = asMap(readYaml(join(EXAMPLES, 'prometheus/prometheus.yml')), 'prometheus.yml');
    const job = asList(config.scrape_configs, 'scrape_configs').map((j) => asMap(j, 'scrape config')).find((j) => j.job_name === 'gitbridged-ha');
    const targets = asList(job!.static_configs, 'static_configs').flatMap((c) => asList(asMap(c, 'static config').targets, 'targets'));
    expect(targets).toEqual(daemons.map((d) => `${d}:3000`));
  });
});

describe('examples/prometheus/prometheus.yml', () => {
  it('scrapes gitbridged on the host at port 3000, the daemon default', () => {
    const daemonDefault = CONFIG_SCHEMA.find((s) => s.key === 'port')!.default;
    expect(daemonDefault).toBe('3000');
    const config = asMap(readYaml(join(EXAMPLES, 'prometheus/prometheus.yml')), 'prometheus.yml');
    const jobs = asList(config.scrape_configs, 'scrape_configs').map((j) => asMap(j, 'scrape config'));
    const job = jobs.find((j) => j.job_name === 'gitbridged');
    expect(job).toBeDefined();
    expect(job!.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = asList(job!.static_configs, 'static_configs').flatMap((s) => asList(asMap(s, 'static config').targets, 'targets')) as string[];
    expect(targets).toEqual([`host.docker.internal:${daemonDefault}`]);
  });
});

describe('examples/grafana/dashboards/gitbridge-webhook-flow.json', () => {
  const dash = JSON.parse(readFileSync(join(EXAMPLES, 'grafana/dashboards/gitbridge-webhook-flow.json'), 'utf8')) as Record<string, any>;
  const panels: Record<string, any>[] = [];
  const walk = (list: Record<string, any>[]) => {
    for (const p of list) {
      panels.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(dash.panels);
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t: { expr: string }) => t.expr));

  it('is a provisionable Grafana dashboard: title, uid, no fixed id, unique panel ids', () => {
    expect(dash.title).toBe(DASHBOARD_TITLE);
    expect(dash.uid).toBe(DASHBOARD_UID);
    expect(dash.id ?? null).toBeNull();
    expect(typeof dash.schemaVersion).toBe('number');
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) expect(p.gridPos, `${p.title} gridPos`).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
  });

  it('queries only metrics gitbridged exposes, and covers the flow', () => {
    const registry = createMetrics({ defaultMetrics: false }).registry;
    const known = new Set<string>();
    for (const m of registry.getMetricsAsArray()) {
      const name = (m as unknown as { name: string; constructor: { name: string } }).name;
      known.add(name);
      if ((m as object).constructor.name === 'Histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(name + s);
    }
    const used = new Set(exprs.flatMap((e) => e.match(/\bgitbridge_[a-z_]+/g) ?? []));
    for (const name of used) expect(known, `metric ${name}`).toContain(name);
    for (const name of [
      'gitbridge_webhook_request_duration_seconds_count',
      'gitbridge_webhook_request_duration_seconds_bucket',
      'gitbridge_event_queue_depth',
      'gitbridge_webhook_events_total',
      'gitbridge_mas_submissions_total',
      'gitbridge_mas_submission_duration_seconds_bucket',
      'gitbridge_tasks',
      'gitbridge_webhook_rejections_total',
    ]) expect(used, `a panel over ${name}`).toContain(name);
    expect(exprs).toContain('sum by (status_code) (rate(gitbridge_webhook_request_duration_seconds_count{route="/webhook"}[$__rate_interval]))');
    for (const q of ['0.5', '0.95', '0.99']) expect(exprs.some((e) => e.startsWith(`histogram_quantile(${q},`) && e.includes('gitbridge_webhook_request_duration_seconds_bucket'))).toBe(true);
  });
});

describe('examples/README.md', () => {
  it('explains how to start the stack and where the dashboard is', () => {
    const readme = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
    expect(readme).toContain('docker compose -f examples/docker-compose.yml up redis prometheus grafana');
    expect(readme).toContain(DASHBOARD_TITLE);
    expect(readme).toContain('GRAFANA_ADMIN_PASSWORD');
  });
});

describe('the YAML subset parser of this test', () => {
  it('reads maps, sequences, item maps, quoted scalars and comments', () => {
    expect(parseYaml('a: 1 # c\nb:\n  - x\n  - "y: #z"\n  - k: v\n    l: \'it\'\'s\'\nc:\nd: [1, "2"]\n')).toEqual({ a: '1', b: ['x', 'y: #z', { k: 'v', l: "it's" }], c: null, d: [1, '2'] });
  });
  it('refuses what it does not read', () => {
    expect(() => parseYaml('a: |\n  text\n')).toThrow(/unsupported/);
    expect(() => parseYaml('a: 1\n  b: 2\n')).toThrow(/indentation/);
  });
});
