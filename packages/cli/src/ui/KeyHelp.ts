import type { LogKind } from '../log-entry.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link KeyHelp}. */
export interface KeyHelpProps {
  /** What the keys act on: the list, a filter being typed, or one entry's JSON. */
  readonly mode: 'list' | 'input' | 'detail';
  /** The log shown (the `s` key switches to the other one). */
  readonly log: LogKind;
}

/** How many lines {@link KeyHelp} takes, whatever the mode. */
export const KEY_HELP_LINES = 2;

type Keys = readonly (readonly [key: string, what: string])[];

function keyLine(keys: Keys, dim: boolean): Element {
  const parts = keys.flatMap(([k, what], i) => [i > 0 ? '  ' : '', h(Ink.Text, { key: k, bold: true }, k), ` ${what}`]);
  return h(Ink.Text, { wrap: 'truncate-end', dimColor: dim }, ...parts);
}

/** The keys of the current mode, on {@link KEY_HELP_LINES} lines (each fits 80 columns). */
export function KeyHelp({ mode, log }: KeyHelpProps): Element {
  const lines: Keys[] =
    mode === 'input'
      ? [
          [
            ['enter', 'keep the filter'],
            ['esc', 'undo'],
            ['backspace', 'delete'],
          ],
          [],
        ]
      : mode === 'detail'
        ? [
            [
              ['↑↓ j k', 'scroll'],
              ['PgUp PgDn', 'page'],
              ['esc', 'back'],
              ['q', 'quit'],
            ],
            [],
          ]
        : [
            [
              ['/', 'text'],
              ['e', 'event'],
              ['r', 'repo'],
              ['d', 'delivery'],
              ['l', 'level'],
              ['c', 'clear filters'],
            ],
            [
              ['space', 'pause'],
              ['↑↓', 'select'],
              ['enter', 'JSON'],
              ['s', `${log === 'webhook' ? 'security' : 'webhook'} log`],
              ['q', 'quit'],
            ],
          ];
  return h(Ink.Box, { flexDirection: 'column', height: KEY_HELP_LINES }, ...lines.map((keys, i) => h(Ink.Box, { key: i }, keyLine(keys, mode === 'input'))));
}
