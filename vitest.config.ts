import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // In-process tests run the TypeScript sources; end-to-end tests spawn the
    // built binaries (bin/), which `pnpm test` builds first.
    alias: [
      { find: /^@gitbridge\/core\/store$/, replacement: fileURLToPath(new URL('./packages/core/src/store/sqlite/sqlite-store.ts', import.meta.url)) },
      { find: /^@gitbridge\/core\/signature$/, replacement: fileURLToPath(new URL('./packages/core/src/webhook/signature.ts', import.meta.url)) },
      { find: /^@gitbridge\/core\/meta$/, replacement: fileURLToPath(new URL('./packages/core/src/github/meta.ts', import.meta.url)) },
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
  },
});
