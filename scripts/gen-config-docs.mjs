// Prints the option table of docs/configuration.md from CONFIG_SCHEMA
// (packages/core/src/config/config.ts). Run after `pnpm build`:
//   node scripts/gen-config-docs.mjs
// A test (test/docs.test.ts) fails when the docs and the schema disagree.
import { CONFIG_SCHEMA } from '../packages/core/dist/index.js';

const rows = CONFIG_SCHEMA.map((o) => `| \`${o.key}\` | \`${o.flag}\` | \`${o.env}\` | ${o.default === undefined ? (o.required ? '(required)' : '(unset)') : `\`${o.default}\``} | ${o.doc.replaceAll('|', '\\|')} |`);
console.log(['| config-file key | flag | environment | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n'));
