// Generates docs/examples/webhook_post_example.json, the seed's example
// delivery: the real `pull_request.opened` payload from
// @octokit/webhooks-examples re-pointed at octocat/Hello-World (repository id
// 1296269), PR #1 "Amazing new feature" by octocat, created 2011-01-26T19:01:12Z.
// Run: node scripts/make-seed-example.mjs
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples');
const source = examples.find((e) => e.name === 'pull_request').examples.find((p) => p.action === 'opened');
const text = JSON.stringify(source)
  .replaceAll('Codertocat/Hello-World', 'octocat/Hello-World')
  .replaceAll('Codertocat', 'octocat')
  .replaceAll('"id":21031067', '"id":583231')
  .replaceAll('MDQ6VXNlcjIxMDMxMDY3', 'MDQ6VXNlcjU4MzIzMQ==')
  .replaceAll('/u/21031067', '/u/583231')
  .replaceAll('/pull/2', '/pull/1')
  .replaceAll('/pulls/2', '/pulls/1')
  .replaceAll('/issues/2', '/issues/1');
const p = JSON.parse(text);
const created = '2011-01-26T19:01:12Z';
p.number = 1;
Object.assign(p.pull_request, {
  number: 1,
  title: 'Amazing new feature',
  body: 'Please pull these awesome changes in!',
  created_at: created,
  updated_at: created,
});
for (const repo of [p.repository, p.pull_request.head.repo, p.pull_request.base.repo]) {
  Object.assign(repo, { id: 1296269, node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5', created_at: '2011-01-26T19:01:12Z', pushed_at: '2011-01-26T19:06:43Z', updated_at: '2011-01-26T19:14:43Z' });
}
writeFileSync(new URL('../docs/examples/webhook_post_example.json', import.meta.url), `${JSON.stringify(p, null, 2)}\n`);
