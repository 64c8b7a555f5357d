import { configWarnings, defaultRules, displayValue, ruleProblems, type ResolvedConfig, type ResolvedOption } from '@gitbridge/core';

/** What `gitbridged config check` found: every option with its source, the warnings and the problems. */
export interface ConfigCheck {
  /** True when the daemon would start with this configuration. */
  readonly valid: boolean;
  readonly options: readonly ResolvedOption[];
  /** How many routing rules, and where they come from. */
  readonly rules: { readonly count: number; readonly source: string };
  readonly warnings: readonly string[];
  readonly problems: readonly string[];
}

/**
 * Checks a resolved configuration the way start-up would: its own problems,
 * the routing rules' problems, and (when it is valid) the warnings of
 * {@link configWarnings}.
 */
export function checkConfig(resolved: ResolvedConfig): ConfigCheck {
  const { config } = resolved;
  const rules = config.rules ?? defaultRules();
  const problems = [...resolved.problems, ...ruleProblems(rules)];
  return {
    valid: problems.length === 0,
    options: resolved.options,
    rules: { count: rules.length, source: config.rules ? `file ${config.configFile ?? ''}` : 'shipped defaults' },
    warnings: resolved.problems.length === 0 ? configWarnings(config) : [],
    problems,
  };
}

/** Where an option came from, for people: `env GITBRIDGE_PORT`, `flag --port`, `file /etc/gitbridge.json`, `default`, `unset`. */
function sourceText(o: ResolvedOption): string {
  return o.origin ? `${o.source} ${o.origin}` : o.source;
}

/** Left-aligned columns, two spaces apart, the last one unpadded. */
function columns(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** The text report of `gitbridged config check`: every option (secrets redacted) with its source, then the warnings and the problems. */
export function formatConfigCheck(check: ConfigCheck): string {
  const rows = [
    ['OPTION', 'VALUE', 'SOURCE', 'ENVIRONMENT'],
    ...check.options.map((o) => [o.spec.key, displayValue(o.spec, o.value), sourceText(o), o.spec.env]),
    ['rules', `${check.rules.count} rules`, check.rules.source, '-'],
  ];
  const out = ['Configuration of gitbridged (flags > environment > config file > defaults; secrets redacted)', '', columns(rows), ''];
  if (check.warnings.length > 0) out.push(`Warnings (${check.warnings.length})`, ...check.warnings.map((w) => `  - ${w}`), '');
  if (check.problems.length > 0) out.push(`Problems (${check.problems.length})`, ...check.problems.map((p) => `  - ${p}`), '');
  out.push(check.valid ? 'The configuration is valid.' : `The configuration is not valid (${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}): gitbridged would not start.`);
  return `${out.join('\n')}\n`;
}

/** The JSON report of `gitbridged config check --json` (values as printed: secrets redacted). */
export function configCheckJson(check: ConfigCheck): Record<string, unknown> {
  return {
    valid: check.valid,
    options: check.options.map((o) => ({ key: o.spec.key, env: o.spec.env, flag: o.spec.flag, value: displayValue(o.spec, o.value), source: o.source, origin: o.origin || null })),
    rules: check.rules,
    warnings: check.warnings,
    problems: check.problems,
  };
}
