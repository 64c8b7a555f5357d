import { Command } from 'commander';
import { storeConfig } from '../config.js';
import { formatTable, printJson, shortTime } from '../format.js';
import { filterOf, lsCommand, type ListFilterOptions } from '../options.js';
import { withStore } from '../store-access.js';

/** The `journal` command: `ls`. */
export function journalCommand(): Command {
  const journal = new Command('journal')
    .description('Read the event journal: one entry {type, repo, number, timestamp} per processed delivery')
    .addHelpText('after', `
Examples:
  $ gitbridge journal ls
  $ gitbridge journal ls --json --limit 1000 > journal.json`);

  lsCommand(journal, { noun: 'entries', when: 'recorded', description: 'List journal entries, newest first' }, (ls) => ls
    .option('--type <event>', 'only entries of this event (type), e.g. pull_request'))
    .addHelpText('after', `
"timestamp" is the event's own time from the payload; "recorded_at" is when GitBridge wrote the entry;
"replay_of" (REPLAY OF) names the delivery an operator's replay (gitbridge replay) re-ran, else null.

Examples:
  $ gitbridge journal ls --limit 20
  $ gitbridge journal ls --type pull_request --repo octocat/Hello-World --since 7d
  $ gitbridge journal ls --json | jq '.[] | select(.type == "pull_request")'`)
    .action(async (opts: ListFilterOptions & { json?: boolean; wide?: boolean; type?: string; dataDir?: string }) => {
      const rows = await withStore(await storeConfig(opts), {}, (store) => store.listJournal(filterOf(opts, ['type', 'repo', 'since'])));
      if (opts.json) {
        printJson(rows.map((j) => ({ delivery_id: j.deliveryId, type: j.type, action: j.action, repo: j.repo, number: j.number, timestamp: j.timestamp, recorded_at: j.recordedAt, replay_of: j.replayOf })));
        return;
      }
      process.stdout.write(
        rows.length === 0
          ? 'No journal entries.\n'
          : formatTable(rows, [
              { header: 'TIMESTAMP', value: (j) => shortTime(j.timestamp) },
              { header: 'TYPE', value: (j) => (j.action ? `${j.type}.${j.action}` : j.type), flex: true },
              { header: 'REPO', value: (j) => j.repo, flex: true },
              { header: 'NUMBER', value: (j) => j.number, right: true },
              { header: 'DELIVERY', value: (j) => j.deliveryId, id: true },
              { header: 'REPLAY OF', value: (j) => j.replayOf, id: true },
              { header: 'RECORDED', value: (j) => shortTime(j.recordedAt) },
            ], opts),
      );
    });

  return journal;
}
