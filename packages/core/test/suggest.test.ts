import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../src/util.js';

describe('suggestions for mistyped words', () => {
  it('edit distance counts insertions, deletions, substitutions and neighbour swaps', () => {
    expect(editDistance('pull_requests', 'pull_request')).toBe(1);
    expect(editDistance('isues', 'issues')).toBe(1);
    expect(editDistance('opned', 'opened')).toBe(1);
    expect(editDistance('oepned', 'opened')).toBe(1);
    expect(editDistance('push', 'push')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('suggests the closest candidate only when it is close', () => {
    const events = ['pull_request', 'pull_request_review', 'push', 'issues', 'issue_comment'];
    expect(closest('pull_requests', events)).toBe('pull_request');
    expect(closest('PULL_REQUEST', events)).toBe('pull_request');
    expect(closest('isues', events)).toBe('issues');
    expect(closest('pus', events)).toBe('push');
    expect(closest('deployment', events)).toBeUndefined();
    expect(closest('ab', ['xy'])).toBeUndefined();
  });
});
