/**
 * The hooks recovery watches, written as their REST API paths, and how long
 * GitHub keeps their deliveries. Pure: no I/O.
 */

/** A hook whose deliveries GitHub's REST API lists and redelivers. */
export type HookRef =
  /** A repository hook: "REST API endpoints for repository webhooks", `/repos/{owner}/{repo}/hooks/{hook_id}/deliveries`. */
  | { readonly kind: 'repo'; readonly path: string; readonly owner: string; readonly repo: string; readonly hookId: number }
  /** An organization hook: "REST API endpoints for organization webhooks", `/orgs/{org}/hooks/{hook_id}/deliveries`. */
  | { readonly kind: 'org'; readonly path: string; readonly org: string; readonly hookId: number }
  /** A GitHub App's hook: "REST API endpoints for GitHub App webhooks", `/app/hook/deliveries` (JWT). */
  | { readonly kind: 'app'; readonly path: 'app' };

// GitHub's owner, organization and repository names: letters, digits, `-`, `_`, `.`.
const NAME = '[A-Za-z0-9][A-Za-z0-9._-]{0,99}';
const REPO_HOOK = new RegExp(`^repos/(${NAME})/(${NAME})/hooks/([1-9][0-9]{0,18})$`);
const ORG_HOOK = new RegExp(`^orgs/(${NAME})/hooks/([1-9][0-9]{0,18})$`);

/**
 * Parses a hook of `GITBRIDGE_RECOVER_HOOKS`: `repos/OWNER/REPO/hooks/ID`,
 * `orgs/ORG/hooks/ID` or `app` (a leading or trailing `/` is allowed).
 *
 * @returns the hook, or null when `raw` is none of these
 */
export function parseHookPath(raw: string): HookRef | null {
  const path = raw.trim().replace(/^\/+|\/+$/g, '');
  if (path === 'app') return { kind: 'app', path: 'app' };
  const repo = REPO_HOOK.exec(path);
  if (repo) return { kind: 'repo', path, owner: repo[1]!, repo: repo[2]!, hookId: Number(repo[3]) };
  const org = ORG_HOOK.exec(path);
  if (org) return { kind: 'org', path, org: org[1]!, hookId: Number(org[2]) };
  return null;
}

/** Default API URL: github.com. */
export const GITHUB_API_URL = 'https://api.github.com';

const DAY_MS = 86_400_000;

/**
 * How long GitHub keeps a hook's deliveries for listing and redelivery, ms:
 * 3 days on github.com (`https://api.github.com`), 7 on GitHub Enterprise
 * Server (any other API URL, `https://HOST/api/v3`). GitHub docs:
 * "Redelivering webhooks" and "Handling failed webhook deliveries".
 */
export function deliveriesWindowMs(apiUrl: string): number {
  return isGitHubDotCom(apiUrl) ? 3 * DAY_MS : 7 * DAY_MS;
}

/** True for github.com's API (`https://api.github.com`), false for GitHub Enterprise Server. */
export function isGitHubDotCom(apiUrl: string): boolean {
  return URL.canParse(apiUrl) && new URL(apiUrl).hostname.toLowerCase() === 'api.github.com';
}

/** What a hook needs to be listed: a token for repository and organization hooks, the App's id and key for `app`. */
export function credentialFor(hook: HookRef): 'token' | 'app' {
  return hook.kind === 'app' ? 'app' : 'token';
}
