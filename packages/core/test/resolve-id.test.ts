import { describe, expect, it } from 'vitest';
import { resolveDeliveryId, resolveTaskId, type Task } from '../src/index.js';

/** A store holding only ids, answering the lookups as the contract says (sorted, limited, no replays in findDeliveryIds). */
function idStore(deliveries: string[], tasks: { id: string; taskId: string | null }[]) {
  return {
    getDelivery: async (id: string) => (deliveries.includes(id) ? ({ deliveryId: id } as never) : undefined),
    findDeliveryIds: async (p: string, limit: number) => deliveries.filter((d) => d.startsWith(p) && !/:replay:\d+$/.test(d)).sort().slice(0, limit),
    getTask: async (ref: string) => tasks.find((t) => t.id === ref || t.taskId === ref) as Task | undefined,
    findTaskIds: async (p: string, limit: number) => tasks.filter((t) => t.id.startsWith(p) || t.taskId?.startsWith(p)).map((t) => t.id).sort().slice(0, limit),
  };
}

describe('resolveDeliveryId', () => {
  const store = idStore(['72d3162e-aaaa', '72d3162e-aaaa:replay:1', '72d3162e-aaaa:replay:2', '5f1e-1', '5f1e-2', 'abc'], []);
  it('a stored id as it is, even a short one; a unique prefix; replays do not make a prefix ambiguous', async () => {
    expect(await resolveDeliveryId(store, 'abc')).toBe('abc');
    expect(await resolveDeliveryId(store, '72d3162e')).toBe('72d3162e-aaaa');
    expect(await resolveDeliveryId(store, '72d3162e-aaaa:replay:2')).toBe('72d3162e-aaaa:replay:2');
    expect(await resolveDeliveryId(store, '72d3162e:replay:1')).toBe('72d3162e-aaaa:replay:1');
  });
  it('says what is wrong, by code', async () => {
    await expect(resolveDeliveryId(store, '72d3162e:replay:9')).rejects.toMatchObject({ code: 'GB_DELIVERY_NOT_FOUND', message: 'no delivery 72d3162e-aaaa:replay:9' });
    await expect(resolveDeliveryId(store, '5f1e')).rejects.toMatchObject({ code: 'GB_ID_AMBIGUOUS', message: 'delivery id prefix 5f1e is ambiguous: 5f1e-1, 5f1e-2', exitCode: 1 });
    await expect(resolveDeliveryId(store, '5f1')).rejects.toMatchObject({ code: 'GB_ID_PREFIX_TOO_SHORT', exitCode: 2 });
    await expect(resolveDeliveryId(store, 'ffff')).rejects.toMatchObject({ code: 'GB_DELIVERY_NOT_FOUND' });
  });
});

describe('resolveTaskId', () => {
  const tasks = Array.from({ length: 7 }, (_, i) => ({ id: `gbt_${i}0000000`, taskId: i < 2 ? `mas-${i}` : null }));
  const store = idStore([], tasks);
  it('the GitBridge id of a task named by either id, in full or by a unique prefix', async () => {
    expect(await resolveTaskId(store, 'mas-1')).toBe('gbt_10000000');
    expect(await resolveTaskId(store, 'gbt_3')).toBe('gbt_30000000');
  });
  it('an ambiguous prefix names five matches (by both ids when the MAS id matched), and says there are more', async () => {
    await expect(resolveTaskId(store, 'mas-')).rejects.toMatchObject({ message: 'task id prefix mas- is ambiguous: gbt_00000000 (MAS task mas-0), gbt_10000000 (MAS task mas-1)' });
    await expect(resolveTaskId(store, 'gbt_')).rejects.toMatchObject({ message: 'task id prefix gbt_ is ambiguous: gbt_00000000, gbt_10000000, gbt_20000000, gbt_30000000, gbt_40000000, …' });
    await expect(resolveTaskId(store, 'gbt')).rejects.toMatchObject({ code: 'GB_ID_PREFIX_TOO_SHORT' });
  });
  it('a delivery id given as a task id: not found, with a hint to deliveries show', async () => {
    const both = idStore(['a72f0e1c-delivery'], tasks);
    await expect(resolveTaskId(both, 'a72f')).rejects.toMatchObject({ code: 'GB_TASK_NOT_FOUND', message: 'no task a72f', hint: '`a72f` is a delivery id: `gitbridge deliveries show a72f` lists its tasks' });
    await expect(resolveTaskId(both, 'ffff')).rejects.toMatchObject({ code: 'GB_TASK_NOT_FOUND', hint: expect.stringContaining('gitbridge tasks ls') });
  });
});
