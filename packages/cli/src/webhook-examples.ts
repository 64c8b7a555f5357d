import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { GitBridgeError } from '@gitbridge/core/errors';
import { usageError } from './exit.js';
import { didYouMean } from '@gitbridge/core/util';

/** A JSON object payload. */
export type JsonObject = Record<string, unknown>;

/** One event of `@octokit/webhooks-examples` (only the fields the CLI uses). */
interface WebhookDefinition {
  readonly name: string;
  readonly description: string;
  readonly actions: readonly string[];
  readonly examples: readonly JsonObject[];
}

/** An event with example payloads, and the actions those examples cover. */
export interface ExampleEvent {
  /** `X-GitHub-Event`, e.g. `pull_request`. */
  readonly event: string;
  /** Distinct `payload.action` values of the examples, in the package's order; empty for events without actions (`push`). */
  readonly actions: readonly string[];
  /** GitHub's description of the event. */
  readonly description: string;
}

let definitions: readonly WebhookDefinition[] | undefined;

/**
 * Reads the api.github.com examples of `@octokit/webhooks-examples`. The JSON
 * is read from disk (resolved through the package's `main`) rather than
 * imported, which avoids ESM JSON import attributes.
 */
function loadDefinitions(): readonly WebhookDefinition[] {
  if (!definitions) {
    const path = createRequire(import.meta.url).resolve('@octokit/webhooks-examples');
    definitions = JSON.parse(readFileSync(path, 'utf8')) as WebhookDefinition[];
  }
  return definitions;
}

const actionOf = (payload: JsonObject): string | null => (typeof payload.action === 'string' ? payload.action : null);
const actionsOf = (examples: readonly JsonObject[]): string[] => [...new Set(examples.map(actionOf).filter((a): a is string => a !== null))];

/** Every event with at least one example payload, sorted by name. */
export function listExampleEvents(): ExampleEvent[] {
  return loadDefinitions()
    .filter((d) => d.examples.length > 0)
    .map((d) => ({
      event: d.name,
      description: d.description,
      actions: actionsOf(d.examples),
    }))
    .sort((a, b) => a.event.localeCompare(b.event));
}

/** The usage error for an event without examples, suggesting the closest one (`pull_requests` → `pull_request`). */
export function unknownEvent(event: string): GitBridgeError {
  const events = listExampleEvents().map((e) => e.event);
  return usageError(`no example payload for event "${event}"${didYouMean(event, events)}`, 'run `gitbridge send-test --list` for the events, or send your own with --payload FILE');
}

/**
 * The first example payload of `event` (whose `action` is `action`, when
 * given). The object is a copy, safe to modify.
 *
 * @throws CliError (usage) naming the available events or actions when none matches
 */
export function findExample(event: string, action?: string): JsonObject {
  const def = loadDefinitions().find((d) => d.name === event && d.examples.length > 0);
  if (!def) throw unknownEvent(event);
  const found = action === undefined ? def.examples[0] : def.examples.find((p) => actionOf(p) === action);
  if (found) return structuredClone(found);
  const actions = actionsOf(def.examples);
  if (actions.length === 0) {
    throw usageError(`"${event}" payloads have no action; drop --action`);
  }
  throw usageError(
    `no "${event}" example with action "${action}" (available actions: ${actions.join(', ')})${didYouMean(action!, actions)}`,
    `to send another action, pick one of these and add --set action=${action}`,
  );
}
