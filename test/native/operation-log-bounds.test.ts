/**
 * The operation log's bounds (maxQueuedOps, maxQueuedBytes) and failures: a failed batch is
 * reported once and every flush() rejects until the key is stored again; a store without
 * batch() gets the writes one by one.
 *
 * Timing is made deterministic by holding the store's batches (recording-store hold/release):
 * whatever a thread logs while a batch is held lands in the next batch, unless the thread waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError } from '../../src';
import { recordingStore, type AsyncBatch } from '../helpers/recording-store';
import { fixture, put, remove, sentPublish, started } from '../helpers/log-fixture';
import { waitFor } from '../helpers/wait';

describe('operation log: bounds and failures', () => {
  it('a full log makes the writer wait for room, and go on once a batch settles', async () => {
    const f = fixture({ maxQueuedOps: 2 });
    await started(f);
    f.rec.hold();
    const script = f.run([put('c-1'), put('c-2'), put('c-3'), put('c-4')]);
    await waitFor(() => f.bridge.stats().roomWaits === 1, 'a writer waiting for room');
    assert.ok(f.bridge.stats().queueDepth <= 2);
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys().sort(), ['c-1', 'c-2', 'c-3', 'c-4']);
    f.bridge.close();
  });

  it('maxQueuedBytes bounds the log by bytes: a writer waits while the unsent bytes would pass it', async () => {
    const f = fixture({ maxQueuedBytes: 1024 });
    await started(f);
    f.rec.hold();
    const big = (key: string) => put(key, new Array<number>(400).fill(7));
    // c-1 is taken as a batch (held by the store); c-2 fits beside it; c-3 would pass 1,024 bytes.
    const script = f.run([big('c-1'), big('c-2'), big('c-3')]);
    await waitFor(() => f.bridge.stats().roomWaits === 1, 'a writer waiting for room');
    assert.equal(f.bridge.stats().queueDepth, 2, 'c-3 is not logged while it would not fit');
    assert.ok(f.bridge.stats().queueBytes <= 1024, JSON.stringify(f.bridge.stats()));
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys().sort(), ['c-1', 'c-2', 'c-3']);
    f.bridge.close();
  });

  it('a single write larger than maxQueuedBytes is still logged and stored (alone)', async () => {
    const f = fixture({ maxQueuedBytes: 1024 });
    await started(f);
    assert.deepEqual(await f.run([put('c-1', new Array<number>(4096).fill(1))]), [0]);
    await f.bridge.flush();
    assert.equal(f.rec.store.get('c-1').length, 4096);
    f.bridge.close();
  });

  it('a failed batch is reported once with op, key and cause, and flush() rejects with it', async () => {
    const rec = recordingStore();
    const cause = new Error('disk on fire');
    let failing = true;
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) => (failing ? Promise.reject(cause) : apply(writes));
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(
      await f.run([put('r-1'), put('c-2')]),
      [-2, 0],
      'the barrier hears its failure; c-2 does not wait',
    );
    await assert.rejects(f.bridge.flush(), (e: unknown) => e instanceof PersistenceError && e.cause === cause);
    await waitFor(() => f.failures.length >= 2, 'both failed batches reported');
    for (const failure of f.failures) {
      assert.equal(failure.code, 'ERR_PERSISTENCE_STORE');
      assert.equal(failure.cause, cause);
      assert.match(failure.message, /disk on fire/);
    }
    assert.deepEqual(
      f.failures.map((e) => [e.op, e.key]),
      [
        ['put', 'r-1'],
        ['put', 'c-2'],
      ],
    );
    failing = false;
    assert.deepEqual(await f.run([put('c-3'), remove('r-1'), put('c-2')]), [0, 0, 0]);
    await f.bridge.flush(); // r-1 removed and c-2 rewritten: the store holds what the log says
    assert.equal(f.bridge.stats().failedOps, 2);
    f.bridge.close();
  });

  it('after a failed write, every flush() rejects until a later write of that key is stored', async () => {
    const rec = recordingStore();
    const cause = new Error('refused');
    let failKey: string | undefined = 'c-2';
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) =>
      writes.some((w) => w.key === failKey) ? Promise.reject(cause) : apply(writes);
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(await f.run([put('c-2')]), [0]);
    await assert.rejects(f.bridge.flush(), (e: unknown) => e instanceof PersistenceError && e.cause === cause);
    failKey = undefined;
    assert.deepEqual(await f.run([put('c-3')]), [0]);
    for (const attempt of [1, 2]) {
      await assert.rejects(
        f.bridge.flush(),
        (e: unknown) => e instanceof PersistenceError && e.cause === cause,
        `flush ${attempt} after the failure: c-2 is still not stored`,
      );
    }
    assert.equal(rec.store.containsKey('c-3'), true, 'the later write itself was stored');
    assert.deepEqual(await f.run([put('c-2')]), [0]);
    await f.bridge.flush();
    assert.equal(rec.store.containsKey('c-2'), true);
    f.bridge.close();
  });

  it('a store without batch(): writes apply one by one, in order', async () => {
    const f = fixture({}, recordingStore({ batch: false }));
    await started(f);
    f.rec.hold(); // no effect without batch(): nothing is held
    assert.deepEqual(await f.run([put('c-1'), sentPublish('s-1', 2), put('c-2'), remove('c-1')]), [0, 0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(
      f.rec.log.map(([op, key]) => `${op} ${key}`),
      ['put c-1', 'put s-1', 'put c-2', 'remove c-1'],
    );
    f.bridge.close();
  });
});
