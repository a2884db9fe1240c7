/**
 * Applying one batch of the operation log to a store: through its batch() when it has one, else
 * put/remove one by one in log order, each awaited before the next.
 */
import type { NativeBatch } from '../../native';
import type { ClientPersistence, PersistenceWrite } from '../client-persistence';

/** Which write of a batch applied one by one failed, and why (those before it are stored). */
export class WriteFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super(`write ${index} of the batch failed`);
  }
}

/** The store's own error inside a batch failure. */
export function causeOf(error: unknown): unknown {
  return error instanceof WriteFailure ? error.error : error;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Applies `batch`: a value, or a Promise when the store answers with one. */
export function applyBatch(store: ClientPersistence, [, keys, values, , , outboxRemoves]: NativeBatch): unknown {
  if (typeof store.batch === 'function') {
    const writes = new Array<PersistenceWrite>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const outboxRemove = outboxRemoves?.[i];
      writes[i] =
        outboxRemove === undefined
          ? { key: keys[i], data: values[i] }
          : { key: keys[i], data: values[i], outboxRemove };
    }
    return store.batch(writes);
  }
  return applyOneByOne(store, keys, values, 0);
}

/** A failure says which write failed (those before it are stored, those after it not tried). */
function applyOneByOne(
  store: ClientPersistence,
  keys: string[],
  values: (Buffer | undefined)[],
  from: number,
): unknown {
  for (let i = from; i < keys.length; i++) {
    const data = values[i];
    let result: unknown;
    try {
      result = data !== undefined ? store.put(keys[i], data) : store.remove(keys[i]);
    } catch (error) {
      throw new WriteFailure(i, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        () => applyOneByOne(store, keys, values, i + 1),
        (error: unknown) => {
          throw new WriteFailure(i, error);
        },
      );
    }
  }
  return undefined;
}
