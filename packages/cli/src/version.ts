import { createRequire } from 'node:module';

/** The CLI's version: GitBridge's, from `@gitbridge/core` (read without loading the core library). */
export const VERSION: string = (createRequire(import.meta.url)('@gitbridge/core/package.json') as { version: string }).version;
