/**
 * Ids a person can type: a delivery id or a task id given in full or as a
 * unique prefix, as git takes a commit. The CLI and the daemon's admin API
 * resolve what an operator typed through here, with the store's indexed
 * prefix lookups ({@link Store.findDeliveryIds}, {@link Store.findTaskIds}).
 */
import { GitBridgeError } from '../errors/errors.js';
import type { Store } from './contract.js';

/** The shortest prefix looked up: shorter ones match too much to mean anything (and `gbt_` is every task). */
export const MIN_ID_PREFIX = 4;

/** How many matching ids an ambiguity error names. */
const NAMED = 5;

/** `<delivery id>:replay:<n>`: an operator's replay, whose id extends the original's. */
const REPLAY_SUFFIX = /^(.+)(:replay:\d+)$/;

/** What a prefix lookup needs to know about one kind of id. */
interface IdKind {
  /** `delivery`, `task`. */
  readonly noun: string;
  readonly notFound: GitBridgeError['code'];
  readonly hint: string;
  exists(id: string): Promise<boolean>;
  find(prefix: string, limit: number): Promise<string[]>;
  /** How a matching id is named in an ambiguity error. */
  label(id: string, prefix: string): Promise<string>;
}

/**
 * `ref` itself when it is a stored id, else the one id it is a prefix of.
 *
 * @throws GitBridgeError `GB_ID_PREFIX_TOO_SHORT` (under {@link MIN_ID_PREFIX} characters),
 *   `GB_ID_AMBIGUOUS` naming the first matches, or the kind's not-found code
 */
async function resolve(kind: IdKind, ref: string): Promise<string> {
  if (ref !== '' && (await kind.exists(ref))) return ref;
  if (ref.length < MIN_ID_PREFIX) {
    throw new GitBridgeError('GB_ID_PREFIX_TOO_SHORT', {
      message: `no ${kind.noun} ${ref === '' ? 'with an empty id' : ref}, and a prefix needs at least ${MIN_ID_PREFIX} characters`,
      hint: kind.hint,
    });
  }
  const matches = await kind.find(ref, NAMED + 1);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new GitBridgeError(kind.notFound, { message: `no ${kind.noun} ${ref}`, hint: kind.hint });
  const named = await Promise.all(matches.slice(0, NAMED).map((id) => kind.label(id, ref)));
  throw new GitBridgeError('GB_ID_AMBIGUOUS', {
    message: `${kind.noun} id prefix ${ref} is ambiguous: ${named.join(', ')}${matches.length > NAMED ? ', …' : ''}`,
    hint: 'give more characters of the id (`--wide` tables show them in full)',
  });
}

/**
 * Resolves what an operator typed as a delivery id: a stored delivery id, a
 * unique prefix of one (at least {@link MIN_ID_PREFIX} characters; replays
 * are left out, so the 8 characters the log view shows mean the original),
 * or `<id or prefix>:replay:<n>` for a replay (as tables show it).
 *
 * @returns the full delivery id
 * @throws GitBridgeError `GB_DELIVERY_NOT_FOUND`, `GB_ID_AMBIGUOUS`, `GB_ID_PREFIX_TOO_SHORT`
 */
export async function resolveDeliveryId(store: Pick<Store, 'getDelivery' | 'findDeliveryIds'>, ref: string): Promise<string> {
  const kind: IdKind = {
    noun: 'delivery',
    notFound: 'GB_DELIVERY_NOT_FOUND',
    hint: 'see `gitbridge deliveries ls`; stored deliveries follow the retention setting',
    exists: async (id) => (await store.getDelivery(id)) !== undefined,
    find: (prefix, limit) => store.findDeliveryIds(prefix, limit),
    label: async (id) => id,
  };
  const replay = REPLAY_SUFFIX.exec(ref);
  if (replay && !(await kind.exists(ref))) {
    const id = (await resolve(kind, replay[1]!)) + replay[2]!;
    if (!(await kind.exists(id))) throw new GitBridgeError('GB_DELIVERY_NOT_FOUND', { message: `no delivery ${id}`, hint: kind.hint });
    return id;
  }
  return resolve(kind, ref);
}

/**
 * Resolves what an operator typed as a task id: GitBridge's id (`gbt_…`) or
 * the MAS's task id, in full or as a unique prefix of either (at least
 * {@link MIN_ID_PREFIX} characters).
 *
 * @returns the task's GitBridge id
 * @throws GitBridgeError `GB_TASK_NOT_FOUND`, `GB_ID_AMBIGUOUS`, `GB_ID_PREFIX_TOO_SHORT`
 */
export async function resolveTaskId(store: Pick<Store, 'getTask' | 'findTaskIds'> & Partial<Pick<Store, 'findDeliveryIds'>>, ref: string): Promise<string> {
  if (ref !== '') {
    const exact = await store.getTask(ref);
    if (exact) return exact.id;
  }
  try {
    return await resolveTaskRef(store, ref);
  } catch (err) {
    // A delivery id where a task id was expected (both show in tables and logs): say so.
    if (err instanceof GitBridgeError && err.code === 'GB_TASK_NOT_FOUND' && store.findDeliveryIds && (await store.findDeliveryIds(ref, 1)).length > 0) {
      throw new GitBridgeError('GB_TASK_NOT_FOUND', { message: err.message, hint: `\`${ref}\` is a delivery id: \`gitbridge deliveries show ${ref}\` lists its tasks` });
    }
    throw err;
  }
}

function resolveTaskRef(store: Pick<Store, 'getTask' | 'findTaskIds'>, ref: string): Promise<string> {
  return resolve({
    noun: 'task',
    notFound: 'GB_TASK_NOT_FOUND',
    hint: 'give the GitBridge id (gbt_…) or the MAS task id, or a prefix of either; see `gitbridge tasks ls`',
    exists: async () => false,
    find: (prefix, limit) => store.findTaskIds(prefix, limit),
    // A task matched by its MAS task id is named by both.
    label: async (id, prefix) => {
      const masId = id.startsWith(prefix) ? null : (await store.getTask(id))?.taskId;
      return masId ? `${id} (MAS task ${masId})` : id;
    },
  }, ref);
}
