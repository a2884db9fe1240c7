/**
 * A recording store with several batches in flight whose batches wait for the test: each is
 * answered (applied, or refused) when the test says so, in any order. Used by the tests of
 * several batches in flight (test/native/operation-log-pipeline.test.ts, operation-log-outage-order.test.ts).
 */
import type { MemoryPersistence, PersistenceWrite } from '../../src';
import type { StoreBridgeOptions } from '../../src/persistence/bridge/store-bridge';
import { fixture, type Fixture } from './log-fixture';
import { recordingStore, type AsyncBatch } from './recording-store';

/** A batch at the store, answered when the test says so. */
export interface Pending {
  keys: string[];
  resolve(): void;
  reject(error: unknown): void;
}

/** A store with `depth` batches in flight whose batches wait for the test (pending). */
export function gatedFixture(
  depth: number,
  options: Partial<StoreBridgeOptions> = {},
): { f: Fixture; pending: Pending[]; applied: string[][] } {
  const rec = recordingStore();
  const apply = rec.store.batch.bind(rec.store);
  const pending: Pending[] = [];
  const applied: string[][] = [];
  (rec.store as AsyncBatch).batch = (writes: readonly PersistenceWrite[]) =>
    new Promise<void>((resolve, reject) =>
      pending.push({
        keys: writes.map((w) => `${w.data === undefined ? 'remove' : 'put'} ${w.key}`),
        resolve: () => {
          applied.push(writes.map((w) => w.key));
          apply(writes);
          resolve();
        },
        reject,
      }),
    );
  (rec.store as MemoryPersistence & { batchesInFlight?: number }).batchesInFlight = depth;
  return { f: fixture(options, rec), pending, applied };
}
