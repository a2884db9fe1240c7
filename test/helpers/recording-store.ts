/**
 * A MemoryPersistence that logs every call in order; a batch logs each of its writes (as
 * 'put'/'remove') and its size. `hold()` makes batches wait until released, so tests can
 * decide what is still unsent when the next write arrives.
 */
import { MemoryPersistence } from '../../src';
import type { PersistenceWrite } from '../../src/persistence/client-persistence';

/** A store's batch method, synchronous or not (ClientPersistence allows both). */
export type AsyncBatch = { batch(writes: readonly PersistenceWrite[]): void | Promise<void> };

export type LogEntry = [op: string, key: string];

export interface RecordingStore {
  store: MemoryPersistence;
  log: LogEntry[];
  /** Sizes of the batches applied, in order. */
  batches: number[];
  /** From now on, each batch waits until release() (which releases every held batch). */
  hold(): void;
  /** With `keepHolding`, the batches held so far run and later ones are held again. */
  release(keepHolding?: boolean): void;
  /** Batches waiting for release(). */
  held(): number;
}

export function recordingStore(options: { batch?: boolean } = {}): RecordingStore {
  const store = new MemoryPersistence();
  const log: LogEntry[] = [];
  const batches: number[] = [];
  let holding = false;
  let waiting: Array<() => void> = [];
  for (const op of ['put', 'get', 'remove', 'keys', 'clear', 'containsKey'] as const) {
    const original = (store[op] as (...args: unknown[]) => unknown).bind(store);
    (store as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      log.push([op, typeof args[0] === 'string' ? args[0] : '']);
      return original(...args);
    };
  }
  const apply = store.batch.bind(store);
  if (options.batch === false) {
    (store as unknown as Record<string, unknown>).batch = undefined;
  } else {
    // May answer with a promise (while held): the bridge accepts either.
    (store as AsyncBatch).batch = (writes: readonly PersistenceWrite[]): void | Promise<void> => {
      const run = (): void => {
        for (const w of writes) log.push([w.data === undefined ? 'remove' : 'put', w.key]);
        batches.push(writes.length);
        apply(writes);
      };
      if (!holding) return run();
      return new Promise<void>((resolve) => waiting.push(() => (run(), resolve())));
    };
  }
  return {
    store,
    log,
    batches,
    hold: () => {
      holding = true;
    },
    release: (keepHolding = false) => {
      holding = keepHolding;
      const now = waiting;
      waiting = [];
      for (const go of now) go();
    },
    held: () => waiting.length,
  };
}
