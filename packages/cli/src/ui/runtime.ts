import type * as ReactModule from 'react';
import type * as InkModule from 'ink';

/**
 * React and ink for the components in `ui/`, loaded when the first of them is
 * imported. Nothing outside `ui/` imports this module statically: `gitbridge
 * logs` reaches it through `await import('../ui/LogsApp.js')` only when it
 * draws the TUI, so every other command (and `logs` when stdout is not a
 * terminal) starts without loading either library.
 *
 * `test/logs.command.test.ts` checks that `dist/main.js` loads neither
 * statically, and that `--help` and piped `logs` run with both refused.
 */

// react is CommonJS: the namespace's `default` is its `module.exports`.
const reactNamespace = (await import('react')) as typeof ReactModule & { default?: typeof ReactModule };

/** The React module. */
export const React: typeof ReactModule = reactNamespace.default ?? reactNamespace;

/** The ink module. */
export const Ink: typeof InkModule = await import('ink');

/** `React.createElement`, short: `h(Text, { color: 'red' }, 'text')`. */
export const h: typeof ReactModule.createElement = React.createElement;

/** A React element (what components return). */
export type Element = ReactModule.ReactElement;
