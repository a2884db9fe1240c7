/**
 * The operation log and a sent PUBLISH (s-/s5- put) with its command record (c-N): the store
 * holds one of them at every moment, and a QoS 2 PUBLISH is durable once its command is.
 *
 * Timing is made deterministic by holding the store's batches (recording-store hold/release):
 * whatever a thread logs while a batch is held lands in the next batch, unless the thread waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError } from '../../src';
import { recordingStore, type AsyncBatch } from '../helpers/recording-store';
import { batchesOf, fixture, put, remove, sentPublish, started } from '../helpers/log-fixture';
import type { DriverStepSpec } from '../helpers/test-driver';
import { sleep, waitFor } from '../helpers/wait';

describe('operation log: a failed s- put', () => {
  it('keeps the command record: the store holds c-N or s-N, never neither', async () => {
    const rec = recordingStore();
    let failing = false;
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) => (failing ? Promise.reject(new Error('refused')) : apply(writes));
    const f = fixture({}, rec);
    await started(f);
    // A QoS 1 PUBLISH command: type 3, token 1, topic, payload length, payload, qos 1, retained 0.
    const int = (n: number): number[] => [n & 255, (n >> 8) & 255, 0, 0];
    assert.deepEqual(
      await f.run([put('c-1', [...int(3), ...int(1), 0x61, 0, ...int(1), 0x78, ...int(1), ...int(0)])]),
      [0],
    );
    await f.bridge.flush();
    failing = true;
    // Paho's send thread: the command's remove (deferred), then the PUBLISH record, whose batch fails.
    assert.deepEqual(await f.run([remove('c-1'), sentPublish('s-1', 1)]), [0, 0]);
    await assert.rejects(f.bridge.flush(), PersistenceError);
    failing = false;
    assert.deepEqual(rec.store.keys(), ['c-1'], 'the message is still stored, as its command');
    assert.ok(
      f.failures.some((e) => e.key === 's-1'),
      'the failed s-1 put is reported',
    );
    f.bridge.close();
  });
});

describe('operation log: a QoS 2 PUBLISH is durable once its command is', () => {
  const int = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n); // the test machines are little-endian, as Paho's ints here
    return b;
  };
  /** MQTTAsync_persistCommand's buffers for a QoS 2 PUBLISH: type, token, topic, length, payload, qos, retained. */
  const qos2Command = (key: string, token: number): DriverStepSpec => ({
    op: 'put',
    key,
    buffers: [int(3), int(token), Buffer.from('a\0'), int(1), Buffer.from('x'), int(2), int(0)],
  });

  it('its command stored: the s- put does not wait (a crash restores c-N, resent with the same packet id)', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await f.bridge.flush();
    f.rec.hold();
    // Paho's send thread: the command's remove (deferred), the PUBLISH record, then on.
    const script = f.run([remove('c-1'), sentPublish('s-7', 2), put('c-2')]);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise((resolve) => (timer = setTimeout(() => resolve('waited for the held batch'), 2000)));
    try {
      assert.deepEqual(await Promise.race([script, waited]), [0, 0, 0]);
      assert.equal(f.rec.held(), 1, 'the s-7 batch is still held by the store');
    } finally {
      clearTimeout(timer);
      f.rec.release();
    }
    await f.bridge.flush();
    const unit = batchesOf(f.rec).find((b) => b.includes('put s-7'))!;
    assert.ok(unit.includes('remove c-1'), 'c-1 removed with s-7, as one unit');
    assert.equal(f.bridge.stats().barrierWaits, 0);
    f.bridge.close();
  });

  it('its command not yet stored: the s- put waits for the command, not for itself', async () => {
    const f = fixture();
    await started(f);
    f.rec.hold();
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await waitFor(() => f.rec.held() === 1, 'the batch of c-1 held by the store');
    let done = false;
    const script = f.run([remove('c-1'), sentPublish('s-7', 2), put('c-2')]).finally(() => {
      done = true;
    });
    await sleep(100); // a put that did not wait would be done by now
    assert.equal(done, false, 'the s-7 put went on while its command was unacknowledged');
    f.rec.release(true); // c-1's batch is stored; the next one (s-7 with c-1's remove) is held
    assert.deepEqual(await script, [0, 0, 0]);
    assert.equal(f.rec.held(), 1, 'the script completed while the s-7 batch is held');
    f.rec.release();
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec)[0], ['put c-1']);
    f.bridge.close();
  });

  it('a command with another token (not this message): the s- put waits for itself', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await f.bridge.flush();
    f.rec.hold();
    let done = false;
    const script = f.run([remove('c-1'), sentPublish('s-8', 2)]).finally(() => {
      done = true;
    });
    await waitFor(() => f.rec.held() === 1, 'the s-8 batch held by the store');
    await sleep(100); // a put that did not wait would be done by now
    assert.equal(done, false, 'the s-8 put did not wait although c-1 is not its command');
    f.rec.release();
    assert.deepEqual(await script, [0, 0]);
    assert.ok(f.bridge.stats().barrierWaits > 0);
    f.bridge.close();
  });
});
