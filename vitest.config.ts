import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// The subpath exports of @gitbridge/core (packages/core/package.json#exports) and their sources.
const CORE_SUBPATHS: Record<string, string> = {
  store: 'store/index',
  signature: 'webhook/signature',
  meta: 'github/meta',
  github: 'github/index',
  config: 'config/config',
  errors: 'errors/errors',
  util: 'util',
  'stored-delivery': 'ingest/stored-delivery',
};

export default defineConfig({
  resolve: {
    // In-process tests run the TypeScript sources; end-to-end tests spawn the
    // built binaries (bin/), which `pnpm test` builds first.
    alias: [
      ...Object.entries(CORE_SUBPATHS).map(([sub, file]) => ({
        find: new RegExp(`^@gitbridge/core/${sub}$`),
        replacement: fileURLToPath(new URL(`./packages/core/src/${file}.ts`, import.meta.url)),
      })),
      { find: /^@gitbridge\/core$/, replacement: src('core') },
      { find: /^@gitbridge\/daemon$/, replacement: src('daemon') },
      { find: /^@gitbridge\/mas-reference$/, replacement: src('mas-reference') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time: most end-to-end files wait on sockets, child
    // processes and databases rather than compute, so two share the 2-core
    // CI machines well (vitest's default there is one). Outage and backoff
    // tests run on a ManualClock, not by sleeping (test/helpers/clock.ts).
    maxWorkers: 2,
  },
});
