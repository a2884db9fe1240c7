/** The `persistence` create option: which of Paho's persistence types, and which store. */
import { invalidArg } from '../errors';
import { assertClientPersistence, type ClientPersistence } from '../persistence/client-persistence';
import type { CreateOptions, PersistenceChoice, StoreUnavailablePolicy } from './options';

export interface ChosenPersistence {
  /** Paho's MQTTCLIENT_PERSISTENCE_DEFAULT (0, its file store), _NONE (1) or _USER (2). */
  type: 0 | 1 | 2;
  dir?: string;
  store?: ClientPersistence;
}

/** Stores in use by a live client: a store instance holds one client's keyspace. */
const storesInUse = new WeakSet<object>();

export function choosePersistence(persistence: PersistenceChoice | undefined): ChosenPersistence {
  const choice: unknown = persistence ?? 'none';
  if (choice === 'none') return { type: 1 };
  if (typeof choice === 'string') {
    const hint = choice === 'redis' ? ": for Redis, pass new RedisPersistence({ url: 'redis://127.0.0.1:6379' })" : '';
    throw invalidArg(`persistence must be 'none', { dir } or a store object, got '${choice}'${hint}`);
  }
  if (
    typeof choice === 'object' &&
    choice !== null &&
    'dir' in choice &&
    typeof choice.dir === 'string' &&
    !('put' in choice)
  ) {
    if (choice.dir.length === 0) throw invalidArg('persistence.dir must be a non-empty path');
    return { type: 0, dir: choice.dir };
  }
  assertClientPersistence(choice, 'persistence');
  if (storesInUse.has(choice))
    throw invalidArg(
      'this persistence store is already used by another live client; give each client its own store instance',
    );
  return { type: 2, store: choice };
}

/** Marks a store as used by a live client (until release). */
export function claimStore(store: ClientPersistence): void {
  storesInUse.add(store);
}

export function releaseStore(store: ClientPersistence): void {
  storesInUse.delete(store);
}

/** The `onStoreUnavailable` create option, checked: only a ClientPersistence is waited for. */
export function validateStoreUnavailablePolicy(options: CreateOptions, hasStore: boolean): StoreUnavailablePolicy {
  const policy = options.onStoreUnavailable;
  if (policy === undefined) return 'continue';
  if (policy !== 'continue' && policy !== 'disconnect')
    throw invalidArg(`onStoreUnavailable must be 'continue' or 'disconnect', got ${JSON.stringify(policy)}`);
  if (policy === 'disconnect' && !hasStore)
    throw invalidArg(
      "onStoreUnavailable: 'disconnect' needs a ClientPersistence store (e.g. RedisPersistence): " +
        "with 'none' or { dir } no acknowledgement waits for a store",
    );
  return policy;
}
