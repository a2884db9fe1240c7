/**
 * The batch the addon hands to JS (NativeBatch: bytes, decoded by decodeBatch): every write
 * reaches the store's batch() as Paho made it, whatever its key or value, and the values are
 * Buffers the store may keep. A held first batch makes the next script's writes one batch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPersistence } from '../../src/persistence/memory';
import type { ClientPersistence, PersistenceWrite } from '../../src/persistence/client-persistence';
import { delegatingTo, harness, rcs, waitFor } from '../helpers/bridge-harness';
import type { DriverStepSpec } from '../helpers/test-driver';

const URI = 'tcp://127.0.0.1:1883';

/** A MemoryPersistence whose batch() records what it receives and holds one batch on request. */
function recordingStore(): {
  store: ClientPersistence;
  memory: MemoryPersistence;
  batches: { writes: PersistenceWrite[]; distinctKeys: boolean | undefined }[];
  holdNext: () => () => void;
} {
  const memory = new MemoryPersistence();
  const batches: { writes: PersistenceWrite[]; distinctKeys: boolean | undefined }[] = [];
  let gate: Promise<void> | undefined;
  const store: ClientPersistence = {
    ...delegatingTo(memory),
    batch: (writes, shape) => {
      batches.push({ writes: [...writes], distinctKeys: shape?.distinctKeys });
      const held = gate;
      gate = undefined;
      if (held === undefined) return memory.batch(writes);
      return held.then(() => memory.batch(writes));
    },
  };
  const holdNext = (): (() => void) => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    return release;
  };
  return { store, memory, batches, holdNext };
}

/** `length` bytes that differ from key to key and from byte to byte. */
function valueOf(seed: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (seed * 31 + i * 7) % 256));
}

describe('the batch handed to JS', () => {
  it('hands over every write as Paho made it: keys of each family and odd ones, values of any size', async () => {
    const { store, memory, batches, holdNext } = recordingStore();
    const h = harness(store);
    try {
      const release = holdNext();
      assert.deepEqual(
        rcs(
          await h.run([
            { op: 'open', clientId: 'native-batch', serverURI: URI },
            { op: 'put', key: 'c-1', buffers: [Buffer.from('held')] },
          ]),
        ),
        [0, 0],
      );
      await waitFor(() => batches.length === 1, 'the first batch in the store');
      // Spelled as family and number, and spelled out: leading zero, beyond 2^27, no family,
      // no number, not ASCII.
      const keys = ['c-0', 'c5-999999', 's-65535', 's5-7', 'q-134217727', 'q5-134217728', 'c-007', 'x', 'c-', 'ä-1'];
      // Empty, small, one chunk's worth, more than a chunk, and enough to span several chunks.
      const sizes = [0, 3, 8192, 9000, 20_000, 1, 0];
      for (let i = 0; i < 150; i++) sizes.push(100 + (i % 7));
      const expected: [string, Buffer][] = [];
      keys.forEach((key, i) => expected.push([key, valueOf(i, 10 + i)]));
      sizes.forEach((size, i) => expected.push([`s-${1000 + i}`, valueOf(i + 50, size)]));
      // s- records whose first byte says QoS 0 or 1: not barriers, so the script does not wait.
      for (const [, value] of expected) if (value.length > 0) value[0] &= ~0x04;
      const steps: DriverStepSpec[] = expected.map(([key, value]) => ({ op: 'put', key, buffers: [value] }));
      assert.ok((await h.run(steps)).every((r) => r.rc === 0));
      release();
      await waitFor(() => batches.length === 2, 'the second batch in the store');

      const { writes, distinctKeys } = batches[1];
      assert.deepEqual(
        writes.map((w) => w.key),
        expected.map(([key]) => key),
      );
      writes.forEach((write, i) => {
        assert.ok(Buffer.isBuffer(write.data), `${write.key}: a Buffer`);
        assert.ok(write.data.equals(expected[i][1]), `${write.key}: its value`);
        assert.equal(write.outboxRemove, undefined);
      });
      assert.equal(distinctKeys, false, 'keys spelled out: not known to be distinct');
      // No value overlaps another's memory, and a kept value holds at most a chunk of others alive.
      const byMemory = new Map<ArrayBufferLike, [number, number][]>();
      for (const { data } of writes) {
        const ranges = byMemory.get(data!.buffer) ?? [];
        ranges.push([data!.byteOffset, data!.byteOffset + data!.length]);
        byMemory.set(data!.buffer, ranges);
      }
      assert.ok(byMemory.size >= 4, `values in ${byMemory.size} ArrayBuffers`);
      for (const [memoryOf, ranges] of byMemory) {
        ranges.sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i][0] >= ranges[i - 1][1], 'values overlap');
        const values = ranges.reduce((n, [from, to]) => n + to - from, 0);
        assert.ok(values <= 8192 || ranges.length === 1, `${values} bytes of values in one ArrayBuffer`);
        assert.ok(memoryOf.byteLength <= values + 8192, `an ArrayBuffer of ${memoryOf.byteLength} bytes`);
      }

      // The store kept the Buffers it was given: later batches leave them as they were.
      const later = await h.run([
        { op: 'put', key: 'c-0', buffers: [Buffer.from('replaced')] },
        { op: 'remove', key: 'x' },
        { op: 'remove', key: 'c5-999999' },
        { op: 'remove', key: 'ä-1' },
      ]);
      assert.deepEqual(rcs(later), [0, 0, 0, 0]);
      await h.bridge.flush();
      const removed = new Set(['x', 'c5-999999', 'ä-1', 'c-0']);
      for (const [key, value] of expected) {
        if (!removed.has(key)) assert.ok(memory.get(key).equals(value), `${key} kept as it was`);
      }
      assert.equal(memory.get('c-0').toString(), 'replaced');
      assert.ok(!memory.containsKey('x') && !memory.containsKey('ä-1') && !memory.containsKey('c5-999999'));
      assert.deepEqual(
        batches.slice(2).flatMap((b) => b.writes.map((w) => [w.key, w.data === undefined])),
        [
          ['c-0', false],
          ['x', true],
          ['c5-999999', true],
          ['ä-1', true],
        ],
      );
      assert.deepEqual(h.failures, []);
    } finally {
      h.bridge.close();
    }
  });

  it('says whether a key occurs twice in a batch', async () => {
    const { store, batches, holdNext } = recordingStore();
    const h = harness(store);
    try {
      assert.deepEqual(
        rcs(
          await h.run([
            { op: 'open', clientId: 'native-batch-twice', serverURI: URI },
            { op: 'put', key: 's-5', buffers: [Buffer.from([0x32, 1])] },
          ]),
        ),
        [0, 0],
      );
      await h.bridge.flush();
      const release = holdNext();
      assert.deepEqual(rcs(await h.run([{ op: 'put', key: 'c-1', buffers: [Buffer.from('held')] }])), [0]);
      await waitFor(() => batches.length === 2, 'the held batch in the store');
      // The packet id used again: its remove and the new record share one batch.
      const twice = await h.run([
        { op: 'put', key: 'c-2', buffers: [Buffer.from('two')] },
        { op: 'remove', key: 's-5' },
        { op: 'put', key: 's-5', buffers: [Buffer.from([0x32, 2])] },
      ]);
      assert.deepEqual(rcs(twice), [0, 0, 0]);
      release();
      await h.bridge.flush();
      const once = await h.run([
        { op: 'remove', key: 'c-2' },
        { op: 'put', key: 's-6', buffers: [Buffer.from([0x32, 3])] },
      ]);
      assert.deepEqual(rcs(once), [0, 0]);
      await h.bridge.flush();
      const shapes = batches.map((b) => [b.writes.map((w) => w.key).join(' '), b.distinctKeys]);
      assert.deepEqual(shapes, [
        ['s-5', true],
        ['c-1', true],
        ['c-2 s-5 s-5', false],
        ['c-2 s-6', true],
      ]);
      assert.deepEqual(h.failures, []);
    } finally {
      h.bridge.close();
    }
  });
});
