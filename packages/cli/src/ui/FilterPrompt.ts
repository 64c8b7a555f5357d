import { sanitize } from '../format.js';
import type { FilterField } from '../log-view.js';
import { h, Ink, type Element } from './runtime.js';

/** Props of {@link FilterPrompt}. */
export interface FilterPromptProps {
  /** The filter being typed. */
  readonly field: FilterField;
  /** Its current value (applied as it is typed). */
  readonly value: string;
}

const LABEL: Readonly<Record<FilterField, string>> = {
  text: 'text',
  event: 'event (event.action or kind)',
  repo: 'repository',
  delivery: 'delivery id',
};

/** The input line of a filter: label, the text typed so far and a cursor. */
export function FilterPrompt({ field, value }: FilterPromptProps): Element {
  return h(Ink.Text, { wrap: 'truncate-start' }, h(Ink.Text, { color: 'cyan' }, `${LABEL[field]} filter: `), sanitize(value), h(Ink.Text, { inverse: true }, ' '));
}
