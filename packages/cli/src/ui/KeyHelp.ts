import { levelName, type LogKind } from '../log-entry.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link KeyHelp}. */
export interface KeyHelpProps {
  /** What the keys act on: the list, a filter being typed, or one entry's JSON. */
  readonly mode: 'list' | 'input' | 'detail';
  /** The log shown (the `s` key switches to the other one). */
  readonly log: LogKind;
  /** The minimum level the next `l` sets (see `nextMinLevel`); undefined: all levels. */
  readonly nextLevel: number | undefined;
}

/** How many lines {@link KeyHelp} takes, whatever the mode. */
export const KEY_HELP_LINES = 3;

type Keys = readonly (readonly [key: string, what: string])[];

function keyLine(keys: Keys, dim: boolean): Element {
  const parts = keys.flatMap(([k, what], i) => [i > 0 ? '  ' : '', h(Ink.Text, { key: k, bold: true }, k), ` ${what}`]);
  return h(Ink.Text, { wrap: 'truncate-end', dimColor: dim }, ...parts);
}

/**
 * The keys of the current mode, on {@link KEY_HELP_LINES} lines (each fits 80
 * columns). In the list, `l` shows where it goes next (`l level→warn+`, or
 * `l level→all` when it goes back to every level).
 */
export function KeyHelp({ mode, log, nextLevel }: KeyHelpProps): Element {
  const lines: Keys[] =
    mode === 'input'
      ? [
          [
            ['enter', 'keep the filter'],
            ['esc', 'undo'],
            ['backspace', 'delete'],
          ],
        ]
      : mode === 'detail'
        ? [
            [
              ['↑↓ j k', 'scroll'],
              ['PgUp PgDn space', 'page'],
              ['g Home', 'top'],
              ['esc', 'back'],
              ['q', 'quit'],
            ],
          ]
        : [
            [
              ['/', 'text'],
              ['e', 'event'],
              ['r', 'repo'],
              ['d', 'delivery'],
              ['c', 'clear filters'],
              ['l', `level→${nextLevel === undefined ? 'all' : `${levelName(nextLevel)}+`}`],
            ],
            [
              ['↑↓ k j', 'select'],
              ['PgUp PgDn', 'page'],
              ['g Home', 'oldest'],
              ['G End esc', 'follow the newest'],
            ],
            [
              ['space', 'pause'],
              ['enter', 'JSON'],
              ['s', `${log === 'webhook' ? 'security' : 'webhook'} log`],
              ['q', 'quit'],
            ],
          ];
  return h(Ink.Box, { flexDirection: 'column', height: KEY_HELP_LINES }, ...lines.map((keys, i) => h(Ink.Box, { key: i }, keyLine(keys, mode === 'input'))));
}
