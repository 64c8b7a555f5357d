import { createRequire } from 'node:module';

/** GitBridge's version, from `@gitbridge/core`'s package.json (one place for every package). */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The `User-Agent` of every request GitBridge makes (MAS, chat service, GitHub's API). */
export const USER_AGENT = `GitBridge/${VERSION}`;
