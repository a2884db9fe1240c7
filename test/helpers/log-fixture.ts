/**
 * A StoreBridge over a recording store, driven through the native test driver as Paho drives
 * it (test/native/operation-log*.test.ts, store-outage.test.ts), and what the store saw.
 */
import assert from 'node:assert/strict';
import type { PersistenceError } from '../../src';
import { StoreBridge, type StoreBridgeOptions } from '../../src/persistence/bridge/store-bridge';
import { testDriver, type DriverStepSpec } from './test-driver';
import { recordingStore, type RecordingStore } from './recording-store';
import { waitFor } from './wait';

export const open: DriverStepSpec = { op: 'open', clientId: 'log', serverURI: 'tcp://127.0.0.1:1883' };
export const put = (key: string, bytes: number[] = [1, 2, 3]): DriverStepSpec => ({
  op: 'put',
  key,
  buffers: [Buffer.from(bytes)],
});
export const remove = (key: string): DriverStepSpec => ({ op: 'remove', key });
/** The first buffer of an s- put is the PUBLISH fixed header: 0x32 is QoS 1, 0x34 QoS 2. */
export const sentPublish = (key: string, qos: 1 | 2): DriverStepSpec => put(key, [0x30 | (qos << 1), 5, 0, 1]);

export interface Fixture {
  rec: RecordingStore;
  bridge: StoreBridge;
  failures: PersistenceError[];
  run(steps: DriverStepSpec[]): Promise<number[]>;
}

export function fixture(options: Partial<StoreBridgeOptions> = {}, store?: RecordingStore): Fixture {
  const rec = store ?? recordingStore();
  const failures: PersistenceError[] = [];
  const bridge = new StoreBridge(rec.store, { durability: 'batched', ...options, onFailure: (e) => failures.push(e) });
  return {
    rec,
    bridge,
    failures,
    run: async (steps) => (await testDriver.runScript(bridge.native, steps)).map((r) => r.rc),
  };
}

/** Opens the store and lists its keys (as Paho does at create), then forgets that in the log. */
export async function started(f: Fixture): Promise<void> {
  assert.deepEqual(await f.run([open, { op: 'keys' }]), [0, 0]);
  f.rec.log.length = 0;
}

/** The store's writes grouped by batch, as "put k" / "remove k". */
export function batchesOf(rec: RecordingStore): string[][] {
  const writes = rec.log.filter(([op]) => op === 'put' || op === 'remove').map(([op, key]) => `${op} ${key}`);
  const out: string[][] = [];
  let at = 0;
  for (const size of rec.batches) {
    out.push(writes.slice(at, at + size));
    at += size;
  }
  return out;
}

/** `barrier` is stored with or after `before`, and `after` only in a later batch. */
export function assertOrder(rec: RecordingStore, before: string, barrier: string, after: string): void {
  const batches = batchesOf(rec);
  const batchOf = (write: string): number => batches.findIndex((b) => b.includes(write));
  assert.ok(batchOf(before) >= 0 && batchOf(before) <= batchOf(barrier), JSON.stringify(batches));
  assert.ok(batchOf(after) > batchOf(barrier), `${after} was stored with its barrier: ${JSON.stringify(batches)}`);
}

/** Holds the store, and puts `key` into a batch the store holds: what follows is unsent. */
export async function inFlight(f: Fixture, key: string): Promise<void> {
  f.rec.hold();
  assert.deepEqual(await f.run([put(key)]), [0]);
  await waitFor(() => f.rec.held() === 1, `the batch of ${key} held by the store`);
}
