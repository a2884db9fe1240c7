/**
 * A StoreBridge over a recording store, driven through the native test driver as Paho drives
 * it (test/native/operation-log.test.ts, store-outage.test.ts).
 */
import assert from 'node:assert/strict';
import type { PersistenceError } from '../../src';
import { StoreBridge, type StoreBridgeOptions } from '../../src/persistence/bridge/store-bridge';
import { testDriver, type DriverStepSpec } from './test-driver';
import { recordingStore, type RecordingStore } from './recording-store';

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
