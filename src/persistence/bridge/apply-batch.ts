/**
 * Applying one batch of the operation log to a store: through its batch() when it has one, else
 * put/remove one by one in log order, each awaited before the next.
 */
import { PersistenceError } from '../../errors';
import type { BatchShape, ClientPersistence, PersistenceWrite } from '../client-persistence';
import type { LogBatch } from './decode-batch';

/** The shapes a store's batch() is told of (one object each: nothing is allocated per batch). */
const DISTINCT: BatchShape = Object.freeze({ distinctKeys: true });
const UNKNOWN: BatchShape = Object.freeze({ distinctKeys: false });

/** Which write of a batch applied one by one failed, and why (those before it are stored). */
export class WriteFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super(`write ${index} of the batch failed`);
  }
}

/** Which batch of a chain applied again failed first (see applyInOrder), and why. */
export class ChainFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super(`batch ${index} of the held batches failed`);
  }
}

/** The store's own error inside a batch failure. */
export function causeOf(error: unknown): unknown {
  if (error instanceof ChainFailure) return causeOf(error.error);
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
export function applyBatch(store: ClientPersistence, { writes, distinctKeys }: LogBatch): unknown {
  // Everything cancelled out while batches before it were in flight: it settles in its turn.
  if (writes.length === 0) return undefined;
  if (typeof store.batch === 'function') return store.batch(writes, distinctKeys ? DISTINCT : UNKNOWN);
  return applyOneByOne(store, writes, 0);
}

/** A failure says which write failed (those before it are stored, those after it not tried). */
function applyOneByOne(store: ClientPersistence, writes: readonly PersistenceWrite[], from: number): unknown {
  for (let i = from; i < writes.length; i++) {
    const { key, data } = writes[i];
    let result: unknown;
    try {
      result = data !== undefined ? store.put(key, data) : store.remove(key);
    } catch (error) {
      throw new WriteFailure(i, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        () => applyOneByOne(store, writes, i + 1),
        (error: unknown) => {
          throw new WriteFailure(i, error);
        },
      );
    }
  }
  return undefined;
}

/**
 * Applies held batches again, all handed to the store in order before any answer (as they were
 * the first time: the store applies them in call order). Rejects with the ChainFailure of the
 * first (in order) that failed.
 */
export function applyInOrder(store: ClientPersistence, batches: readonly LogBatch[]): Promise<void> {
  const outcomes = batches.map((batch, index): Promise<ChainFailure | undefined> => {
    try {
      return Promise.resolve(applyBatch(store, batch)).then(
        () => undefined,
        (error: unknown) => new ChainFailure(index, error ?? new Error('rejected')),
      );
    } catch (error) {
      return Promise.resolve(new ChainFailure(index, error));
    }
  });
  return Promise.all(outcomes).then((failures) => {
    const first = failures.find((failure) => failure !== undefined);
    if (first !== undefined) throw first;
  });
}

/** A batch of the operation log on its way through the store (see StoreBridge.settleReady). */
export interface InFlightBatch {
  batch: LogBatch;
  /** Handed to the store (not while the batches before it are held). */
  started: boolean;
  /** The store's call ended, with `error` when it failed. */
  done: boolean;
  error: unknown;
}

/**
 * Hands `entry` to the store and notes its end: at once for a synchronous store, else when its
 * promise settles or after `timeoutMs` (ERR_PERSISTENCE_TIMEOUT), whichever comes first; then
 * `ended` runs (not for a synchronous end: the caller looks at `done` itself).
 */
export function startBatch(store: ClientPersistence, entry: InFlightBatch, timeoutMs: number, ended: () => void): void {
  entry.started = true;
  let result: unknown;
  try {
    result = applyBatch(store, entry.batch);
  } catch (error) {
    entry.done = true;
    entry.error = error ?? new Error('threw');
    return;
  }
  if (!isThenable(result)) {
    entry.done = true;
    return;
  }
  const end = (error?: unknown): void => {
    if (entry.done) return;
    entry.done = true;
    entry.error = error;
    clearTimeout(timer);
    ended();
  };
  const timer = setTimeout(
    () =>
      end(
        new PersistenceError(
          'ERR_PERSISTENCE_TIMEOUT',
          'batch',
          undefined,
          `the store did not apply a batch of writes within ${timeoutMs} ms`,
        ),
      ),
    timeoutMs,
  );
  result.then(
    () => end(),
    (error: unknown) => end(error ?? new Error('rejected')),
  );
}
