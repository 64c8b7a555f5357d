import { Command } from 'commander';
import type { HookRef, HookReport, MissingDelivery, RecoveryProgress, RecoveryReport } from '@gitbridge/core/github';
import { GitBridgeError } from '@gitbridge/core/errors';
import { storeConfig } from '../config.js';
import { usageError } from '../exit.js';
import { formatTable, printJson, sanitize, shortTime } from '../format.js';
import { collect, databaseUrlOption, dataDirOption, parseDuration } from '../options.js';
import { withStore } from '../store-access.js';

interface RecoverOptions {
  readonly since?: number;
  readonly hook: string[];
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly dataDir?: string;
}

/** How a missing delivery's outcome reads in the table. */
function outcomeText(m: MissingDelivery, max: number): string {
  switch (m.outcome) {
    case 'requested':
      return `redelivery requested (${m.requests} of ${max})`;
    case 'would_request':
      return 'would request a redelivery (dry run)';
    case 'request_failed':
      return `request failed: ${m.detail ?? 'unknown error'}`;
    case 'not_requested':
      return `not requested: ${m.detail ?? 'the hook stopped'}`;
    case 'waiting':
      return `requested before (${m.requests} of ${max}); waiting for GitHub's new attempt`;
    case 'gave_up':
      return `not requested: asked ${m.requests} times already, never arrived`;
    case 'skipped_ping':
      return 'not requested: ping (the hook\'s creation)';
  }
}

/** The report of one hook, for people. */
function hookText(h: HookReport, max: number): string {
  const lines = [`hook ${h.hook}: ${h.deliveries} deliveries since ${shortTime(h.from)} (${h.attempts} attempts, ${h.pages} page${h.pages === 1 ? '' : 's'})`];
  if (h.error) lines.push(`  not examined: ${h.error.message}${h.error.hint ? `\n  hint: ${h.error.hint}` : ''}`);
  else lines.push(`  ${h.stored} stored here${h.lateAnswers > 0 ? ` (${h.lateAnswers} of them failed at GitHub: GitBridge answered too late)` : ''}, ${h.missing.length} missing`);
  if (h.gap) lines.push(`  GAP: deliveries from ${h.gap.start} to ${h.gap.end} are older than GitHub's window and cannot be recovered`);
  const body = lines.join('\n') + '\n';
  if (h.missing.length === 0) return body;
  return body + formatTable(h.missing, [
    { header: 'MISSING', value: (m) => m.guid },
    { header: 'EVENT', value: (m) => (m.action ? `${m.event}.${m.action}` : m.event) },
    { header: 'LAST ATTEMPT', value: (m) => shortTime(m.deliveredAt) },
    { header: 'WHY', value: (m) => (m.reason === 'answered_elsewhere' ? 'answered elsewhere' : m.reason === 'failed' ? 'failed at GitHub' : '-') },
    { header: 'DONE', value: (m) => outcomeText(m, max) },
  ]);
}

/** One progress line on stderr. */
function progressLine(p: RecoveryProgress): string | null {
  switch (p.kind) {
    case 'hook':
      return `${p.hook}: listing deliveries since ${shortTime(p.from)}…`;
    case 'page':
      return `${p.hook}: page ${p.page}, ${p.attempts} attempts${p.oldest ? `, back to ${shortTime(p.oldest)}` : ''}`;
    case 'redelivery':
      return p.outcome === 'requested' ? `${p.hook}: redelivery requested for ${p.guid}` : null;
  }
}

/** The `recover` command: one recovery pass now. */
export function recoverCommand(): Command {
  return new Command('recover')
    .description("Recover deliveries GitHub could not deliver: one pass over the watched hooks through GitHub's REST API, now")
    .option('--since <duration>', 'look back this far (30m, 2h, 3d) instead of from the checkpoint; at most GitHub\'s window (3d on github.com, 7d on GHES)', parseDuration)
    .option('--hook <path>', 'only this hook (repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app); repeatable (default $GITBRIDGE_RECOVER_HOOKS)', collect, [])
    .option('--dry-run', 'show what is missing, request nothing, write nothing')
    .option('--json', 'print the report as JSON')
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
Runs the pass gitbridged runs every GITBRIDGE_RECOVER_INTERVAL_S, with the same
configuration and store: for each hook it lists the deliveries GitHub attempted
(newest first, following GitHub's cursor) and, for each one GitBridge has not
stored, asks GitHub to redeliver it; GitHub re-sends it, signed, to gitbridged's
POST /webhook. A delivery is requested at most 3 times, ever, and every request
is recorded in the store, so neither a later pass nor another node repeats it.
Progress goes to stderr, the report to stdout. One pass runs at a time: while
gitbridged runs one, this exits 1 (GB_RECOVERY_BUSY).

Credentials: GITBRIDGE_GITHUB_TOKEN (or _FILE) for repository and organization
hooks, GITBRIDGE_GITHUB_APP_ID and GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE for the
App's hook; GITBRIDGE_GITHUB_API_URL for GitHub Enterprise Server (docs/recovery.md).

Exit status: 0 when the pass succeeded, 1 when a redelivery request failed or a
pass was already running, 2 for configuration or credentials, 3 when GitHub's API
could not be reached or its rate limit holds, 4 for the store.

Examples:
  $ gitbridge recover
  $ gitbridge recover --dry-run --since 3d
  $ gitbridge recover --hook repos/octocat/Hello-World/hooks/12345678 --json`)
    .action(async (opts: RecoverOptions) => {
      const config = await storeConfig(opts);
      const github = await import('@gitbridge/core/github');
      const hooks: HookRef[] = [];
      for (const raw of opts.hook.length > 0 ? opts.hook : config.recoverHooks) {
        const hook = github.parseHookPath(raw);
        if (!hook) throw usageError(`not a hook path: "${raw}"`, 'write it as repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app');
        hooks.push(hook);
      }
      if (hooks.length === 0) {
        throw new GitBridgeError('GB_RECOVERY_NOT_CONFIGURED', { message: 'no hook to recover: set GITBRIDGE_RECOVER_HOOKS or pass --hook', hint: 'see docs/recovery.md' });
      }
      for (const hook of hooks) {
        const missing = github.credentialFor(hook) === 'app'
          ? (config.githubAppId === undefined || config.githubAppPrivateKeyFile === undefined) && 'GITBRIDGE_GITHUB_APP_ID and GITBRIDGE_GITHUB_APP_PRIVATE_KEY_FILE'
          : config.githubToken === undefined && 'GITBRIDGE_GITHUB_TOKEN (or GITBRIDGE_GITHUB_TOKEN_FILE)';
        if (missing) throw new GitBridgeError('GB_RECOVERY_NOT_CONFIGURED', { message: `${hook.path} needs ${missing}`, hint: 'see docs/recovery.md' });
      }
      const windowMs = github.deliveriesWindowMs(config.githubApiUrl);
      if (opts.since !== undefined && opts.since > windowMs) {
        throw usageError(`--since goes back beyond GitHub's window: ${config.githubApiUrl} keeps deliveries ${windowMs / 86_400_000} days`);
      }

      const core = await import('@gitbridge/core');
      const loggers = core.createLoggers({ logDir: config.logDir, level: config.logLevel, stdout: false, sync: true });
      const progress = (line: string | null) => {
        if (line !== null) process.stderr.write(`${sanitize(line)}\n`);
      };
      let report: RecoveryReport;
      try {
        const client = github.gitHubClientFromConfig(config, {
          clock: core.systemClock,
          log: loggers.log,
          onRateLimitWait: (ms, what) => progress(`GitHub's rate limit: waiting ${Math.ceil(ms / 1000)} s before ${what}`),
        });
        report = await withStore(config, { writable: opts.dryRun !== true }, async (store) => {
          const deps = {
            store, client, clock: core.systemClock, log: loggers.log, security: loggers.security,
            policy: { apiUrl: config.githubApiUrl, lookbackMs: config.recoverLookbackS * 1000 },
          };
          const lastAlive = await store.lastHeartbeat();
          // GitHub re-sends to gitbridged: without a daemon, every redelivery fails (and counts as a request).
          if (!opts.dryRun && (lastAlive === null || Date.now() - Date.parse(lastAlive) > 3 * 60_000)) {
            progress(`note: gitbridged shows no sign of life since ${lastAlive ?? 'ever'}: GitHub's redeliveries reach it only while it runs`);
          }
          const pass = {
            hooks,
            lastAlive,
            dryRun: opts.dryRun === true,
            onProgress: (p: RecoveryProgress) => progress(progressLine(p)),
            ...(opts.since !== undefined ? { sinceMs: opts.since } : {}),
          };
          if (opts.dryRun) return github.runRecoveryPass(deps, pass);
          const outcome = await store.runExclusive('recovery', () => github.runRecoveryPass(deps, pass));
          if (!outcome.ran) {
            throw new GitBridgeError('GB_RECOVERY_BUSY', { message: 'a recovery pass is running already (gitbridged, or another gitbridge recover)', hint: 'try again in a moment' });
          }
          return outcome.value;
        });
      } finally {
        loggers.close();
      }

      const max = github.MAX_REDELIVERY_REQUESTS;
      if (opts.json) printJson(report);
      else {
        const requested = report.hooks.flatMap((h) => h.missing).filter((m) => m.outcome === 'requested').length;
        process.stdout.write(report.hooks.map((h) => hookText(h, max)).join('\n'));
        if (report.arrived.length > 0) process.stdout.write(`\n${report.arrived.length} delivery(ies) requested by an earlier pass arrived since.\n`);
        process.stdout.write(report.dryRun
          ? '\nDry run: nothing was requested.\n'
          : `\n${requested} redelivery(ies) requested; GitHub re-sends them to gitbridged's POST /webhook.\n`);
      }
      if (report.ok) return;
      const failed = report.hooks.find((h) => h.error !== null)?.error;
      if (failed) throw new GitBridgeError(failed.code, { message: failed.message, ...(failed.hint !== undefined ? { hint: failed.hint } : {}) });
      throw new GitBridgeError('GB_RECOVERY_INCOMPLETE', { message: 'some redeliveries could not be requested (see the report)', hint: 'the next pass asks again (at most 3 requests per delivery)' });
    });
}
