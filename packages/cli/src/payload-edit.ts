import { usageError } from './exit.js';
import type { JsonObject } from './webhook-examples.js';

/** A parsed `--set path=value`. */
export interface Assignment {
  /** The dot path, split (`pull_request.user.login` → 3 segments). */
  readonly path: readonly string[];
  /** The value: the JSON it parses as, else the text itself. */
  readonly value: unknown;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parses `--set a.b.c=value`. The value is parsed as JSON when it parses
 * (`42`, `true`, `null`, `{"x":1}`, `"quoted"`), else taken as a string.
 *
 * @throws CliError (usage) for a missing `=`, an empty path segment, or a forbidden key
 */
export function parseAssignment(arg: string): Assignment {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw usageError(`--set expects path=value, got "${arg}"`);
  const path = arg.slice(0, eq).split('.');
  if (path.some((s) => s === '')) throw usageError(`--set: empty segment in path "${arg.slice(0, eq)}"`);
  const bad = path.find((s) => FORBIDDEN_KEYS.has(s));
  if (bad !== undefined) throw usageError(`--set: "${bad}" is not allowed in a path`);
  const raw = arg.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw) as unknown;
  } catch {
    // not JSON: a string
  }
  return { path, value };
}

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => v !== null && typeof v === 'object';

/**
 * Sets the value at a dot path, creating missing (or null) intermediate
 * objects. A numeric segment indexes into an array.
 *
 * @throws CliError (usage) when an intermediate value is a string, number or boolean
 */
export function setPath(target: JsonObject, path: readonly string[], value: unknown): void {
  let cur: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const container = cur as Record<string, unknown>;
    if (Array.isArray(cur) && !/^\d+$/.test(key)) {
      throw usageError(`--set ${path.join('.')}: ${path.slice(0, i).join('.')} is an array; use a numeric index`);
    }
    if (i === path.length - 1) {
      container[key] = value;
      return;
    }
    let next = container[key];
    if (next === undefined || next === null) {
      next = {};
      container[key] = next;
    }
    if (!isContainer(next)) {
      throw usageError(`--set ${path.join('.')}: ${path.slice(0, i + 1).join('.')} is a ${typeof next}, not an object`);
    }
    cur = next;
  }
}

/** The object at `payload[key]`, created when missing or not an object. */
function objectAt(payload: JsonObject, key: string): JsonObject {
  const v = payload[key];
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as JsonObject;
  const created: JsonObject = {};
  payload[key] = created;
  return created;
}

/**
 * `--repo owner/name`: sets `repository.full_name`, `repository.name` and
 * `repository.owner.login` (creating the objects when the payload has none).
 *
 * @throws CliError (usage) when `fullName` is not `owner/name`
 */
export function setRepository(payload: JsonObject, fullName: string): void {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(fullName);
  if (!m) throw usageError(`--repo expects owner/name, got "${fullName}"`);
  const repository = objectAt(payload, 'repository');
  repository.full_name = fullName;
  repository.name = m[2];
  objectAt(repository, 'owner').login = m[1];
}

/**
 * `--sender login`: sets `sender.login`.
 *
 * @throws CliError (usage) for an empty login
 */
export function setSender(payload: JsonObject, login: string): void {
  if (login.trim() === '') throw usageError('--sender must not be empty');
  objectAt(payload, 'sender').login = login;
}
