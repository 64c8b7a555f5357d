import { Command } from 'commander';
import { storeConfig } from '../config.js';
import { formatTable, printJson, shortTime } from '../format.js';
import { parsePositiveInt, dataDirOption, databaseUrlOption } from '../options.js';
import { withStore } from '../store-access.js';

/** The `journal` command: `ls`. */
export function journalCommand(): Command {
  const journal = new Command('journal')
    .description('Read the event journal: one entry {type, repo, number, timestamp} per processed delivery')
    .addHelpText('after', `
Examples:
  $ gitbridge journal ls
  $ gitbridge journal ls --json --limit 1000 > journal.json`);

  journal
    .command('ls')
    .description('List journal entries, newest first')
    .option('--json', 'print a JSON array')
    .option('--limit <n>', 'at most this many entries', parsePositiveInt, 100)
    .addOption(dataDirOption())
    .addOption(databaseUrlOption())
    .addHelpText('after', `
"timestamp" is the event's own time from the payload; "recorded_at" is when GitBridge wrote the entry.

Examples:
  $ gitbridge journal ls --limit 20
  $ gitbridge journal ls --json | jq '.[] | select(.type == "pull_request")'`)
    .action(async (opts: { json?: boolean; limit: number; dataDir?: string; databaseUrl?: string }) => {
      const rows = await withStore(await storeConfig(opts), {}, (store) => store.listJournal({ limit: opts.limit }));
      if (opts.json) {
        printJson(rows.map((j) => ({ delivery_id: j.deliveryId, type: j.type, action: j.action, repo: j.repo, number: j.number, timestamp: j.timestamp, recorded_at: j.recordedAt })));
        return;
      }
      process.stdout.write(
        rows.length === 0
          ? 'No journal entries.\n'
          : formatTable(rows, [
              { header: 'TIMESTAMP', value: (j) => shortTime(j.timestamp) },
              { header: 'TYPE', value: (j) => (j.action ? `${j.type}.${j.action}` : j.type) },
              { header: 'REPO', value: (j) => j.repo },
              { header: 'NUMBER', value: (j) => j.number, right: true },
              { header: 'DELIVERY', value: (j) => j.deliveryId },
              { header: 'RECORDED', value: (j) => shortTime(j.recordedAt) },
            ]),
      );
    });

  return journal;
}
