import { describe, expect, it } from 'vitest';
import { formatTable, tableWidth, TABLE_WIDTH, type Column } from '../src/format.js';

interface Row { readonly id: string; readonly type: string; readonly repo: string }
const columns: Column<Row>[] = [
  { header: 'ID', value: (r) => r.id, id: true },
  { header: 'TYPE', value: (r) => r.type, flex: true },
  { header: 'REPO', value: (r) => r.repo, flex: true },
];
const row: Row = { id: 'gbt_0123456789abcdef', type: 'review_pull_request'.repeat(3), repo: 'octocat/Hello-World-with-a-long-name'.repeat(2) };

describe('tables', () => {
  it('fit the terminal when it is wider than the default, the default otherwise (piped output does not depend on who runs it)', () => {
    expect(tableWidth({ isTTY: true, columns: 180 })).toBe(180);
    expect(tableWidth({ isTTY: true, columns: 80 })).toBe(TABLE_WIDTH);
    expect(tableWidth({ isTTY: false, columns: 180 })).toBe(TABLE_WIDTH);
    expect(tableWidth({})).toBe(TABLE_WIDTH);
  });

  it('truncate free text to fit the width, and show it whole when it fits', () => {
    const narrow = formatTable([row], columns, { width: TABLE_WIDTH }).split('\n');
    expect(Math.max(...narrow.map((l) => l.length))).toBeLessThanOrEqual(TABLE_WIDTH);
    expect(narrow[1]).toContain('…');
    const roomy = formatTable([row], columns, { width: 200 }).split('\n');
    expect(roomy[1]).toContain(row.type);
    expect(roomy[1]).toContain(row.repo);
    expect(roomy[1]).not.toContain('…');
  });
});
