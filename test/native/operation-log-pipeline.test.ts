/**
 * Several batches in flight (a store with batchesInFlight > 1, such as RedisPersistence): a
 * barrier's batch leaves while earlier ones are at the store, batches settle strictly in the
 * order taken, a refused batch's removes are not logged again when a later batch in flight has a
 * newer write of their key, a held batch holds every later one (all applied again, in order),
 * and close() releases every batch in flight. Driven as Paho drives the bridge (see
 * operation-log.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryPersistence, PersistenceError } from '../../src';
import { put, remove, sentPublish, started } from '../helpers/log-fixture';
import type { DriverStepSpec } from '../helpers/test-driver';
import { gatedFixture } from '../helpers/gated-store';
import { sleep, waitFor } from '../helpers/wait';
import { resolveBridgeOptions } from '../../src/persistence/bridge/options';

describe('operation log: several batches in flight', () => {
  it("a barrier's batch leaves at once; it settles only after the batch before it, whatever order the store answers in", async () => {
    const { f, pending } = gatedFixture(4);
    await started(f);
    assert.deepEqual(await f.run([put('c-1')]), [0]);
    await waitFor(() => pending.length === 1, 'the c-1 batch at the store');
    let done = false;
    const barrier = f.run([put('sc-1')]).finally(() => (done = true));
    // With one batch in flight the barrier would wait for c-1's batch before its own could leave.
    await waitFor(() => pending.length === 2, "the barrier's batch at the store beside c-1's");
    assert.deepEqual(pending[1].keys, ['put sc-1']);
    pending[1].resolve();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(done, false, 'the barrier was released before the batch before it settled');
    assert.equal(f.bridge.native.settledSeq, 0, 'a later batch settled first');
    pending[0].resolve();
    assert.deepEqual(await barrier, [0]);
    await f.bridge.flush();
    const stats = f.bridge.stats();
    assert.equal(stats.batchesInFlightPeak, 2);
    assert.equal(stats.queueDepth, 0);
    f.bridge.close();
  });

  it("a QoS 2 s- put waiting for its command, still unsent, sends the command's batch at once", async () => {
    const { f, pending } = gatedFixture(4);
    await started(f);
    assert.deepEqual(await f.run([put('c-0')]), [0]);
    await waitFor(() => pending.length === 1, 'the c-0 batch at the store');
    // MQTTAsync_persistCommand's buffers for a QoS 2 PUBLISH: type 3, token 7, topic, length, payload, qos 2, retained.
    const int = (n: number): Buffer => Buffer.from(new Int32Array([n]).buffer);
    const command: DriverStepSpec = {
      op: 'put',
      key: 'c-1',
      buffers: [int(3), int(7), Buffer.from('a\0'), int(1), Buffer.from('x'), int(2), int(0)],
    };
    assert.deepEqual(await f.run([command]), [0]);
    await sleep(50);
    assert.equal(pending.length, 1, 'a write nobody waits for left before the batch in flight settled');
    const script = f.run([remove('c-1'), sentPublish('s-7', 2)]);
    await waitFor(() => pending.length === 2, "c-1's batch at the store beside c-0's");
    assert.ok(pending[1].keys.includes('put c-1'), JSON.stringify(pending[1].keys));
    let done = false;
    void script.finally(() => (done = true));
    for (let answered = 0; !done;) {
      if (answered < pending.length) pending[answered++].resolve();
      else await sleep(10);
    }
    assert.deepEqual(await script, [0, 0]);
    f.bridge.close();
  });

  it('a store without batchesInFlight keeps one batch in flight: the barrier waits for the batch before it to leave', async () => {
    const { f, pending } = gatedFixture(1);
    await started(f);
    assert.deepEqual(await f.run([put('c-1')]), [0]);
    await waitFor(() => pending.length === 1, 'the c-1 batch at the store');
    const barrier = f.run([put('sc-1')]);
    await waitFor(() => f.bridge.stats().queueDepth === 2, 'the barrier logged');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(pending.length, 1, 'a second batch left');
    pending[0].resolve();
    await waitFor(() => pending.length === 2, "the barrier's batch");
    pending[1].resolve();
    assert.deepEqual(await barrier, [0]);
    assert.equal(f.bridge.stats().batchesInFlightPeak, 1);
    f.bridge.close();
  });

  it('a refused batch: its removes are not logged again when a later batch in flight has a newer write of their key', async () => {
    const { f, pending } = gatedFixture(4);
    await started(f);
    assert.deepEqual(await f.run([put('q-0')]), [0]);
    await waitFor(() => pending.length === 1, 'the q-0 batch');
    // Logged while q-0's batch is out (no barrier, so they wait for it and leave as one batch).
    assert.deepEqual(await f.run([put('q-1'), put('q-3')]), [0, 0]);
    pending[0].resolve();
    await waitFor(() => pending.length === 2, 'the q-1/q-3 batch');
    assert.deepEqual(await f.run([put('q-2'), remove('q-1'), remove('q-3')]), [0, 0, 0]);
    pending[1].resolve();
    await waitFor(() => pending.length === 3, 'the batch to refuse at the store');
    assert.deepEqual(pending[2].keys, ['put q-2', 'remove q-1', 'remove q-3']);
    // A newer q-1 put leaves with a barrier while that batch is out.
    const barrier = f.run([put('q-1', [9, 9]), put('r-5')]);
    await waitFor(() => pending.length === 4, 'the newer q-1 in flight');
    assert.deepEqual(pending[3].keys, ['put q-1', 'put r-5']);
    pending[2].reject(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
    pending[3].resolve();
    assert.deepEqual(await barrier, [0, 0]);
    // q-3's remove (no newer write) is logged again once; q-1's is not.
    await waitFor(() => pending.length === 5, 'the removes logged again');
    assert.deepEqual(pending[4].keys, ['remove q-3']);
    pending[4].resolve();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'everything settled');
    assert.deepEqual([...f.rec.store.get('q-1')], [9, 9], 'the newer q-1 survives');
    assert.equal(f.rec.store.containsKey('q-3'), false);
    assert.equal(f.failures.length, 1, f.failures.map((e) => e.message).join('; '));
    f.bridge.close();
  });

  it('a batch held as an outage holds every later batch in flight: all are applied again, in order, once the store answers', async () => {
    const { f, pending, applied } = gatedFixture(4);
    await started(f);
    assert.deepEqual(await f.run([put('c-1')]), [0]);
    await waitFor(() => pending.length === 1, 'the c-1 batch');
    const barrier = f.run([remove('c-1'), put('r-2')]);
    await waitFor(() => pending.length === 2, 'the r-2 batch beside it');
    // The later batch is applied, the earlier one refused for now: the store is not a prefix of the log.
    pending[1].resolve();
    pending[0].reject(
      new PersistenceError('ERR_PERSISTENCE_STORE', 'batch', undefined, 'LOADING Redis is loading', {
        transient: true,
      }),
    );
    assert.deepEqual(await barrier, [0, -2], 'the barrier ends at once when the outage starts');
    assert.equal(f.bridge.stats().outages, 1);
    // Every 250 ms the chain is applied again, both batches, in order.
    await waitFor(() => pending.length === 4, 'the held batches applied again');
    assert.deepEqual(
      pending.slice(2).map((p) => p.keys),
      [['put c-1'], ['remove c-1', 'put r-2']],
    );
    pending[2].resolve();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(f.bridge.native.settledSeq, 0, 'a held batch settled before the chain was applied');
    pending[3].resolve();
    await waitFor(() => f.bridge.native.settledSeq === 3, 'the held batches settled');
    await f.bridge.flush();
    assert.deepEqual(applied, [['c-1', 'r-2'], ['c-1'], ['c-1', 'r-2']]);
    assert.deepEqual(f.rec.store.keys(), ['r-2']);
    const after = f.run([put('r-3')]);
    await waitFor(() => pending.length === 5, 'the r-3 batch');
    pending[4].resolve();
    assert.deepEqual(await after, [0], 'barriers wait for the store again');
    f.bridge.close();
  });

  it('close() with several batches in flight fails them and releases their waiters; late answers change nothing', async () => {
    const { f, pending } = gatedFixture(4);
    await started(f);
    assert.deepEqual(await f.run([put('c-1')]), [0]);
    await waitFor(() => pending.length === 1, 'the c-1 batch');
    const barrier = f.run([put('r-2')]);
    await waitFor(() => pending.length === 2, 'the r-2 batch');
    const flushing = f.bridge.flush();
    flushing.catch(() => undefined);
    f.bridge.close();
    assert.deepEqual(await barrier, [-2]);
    await assert.rejects(
      flushing,
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_CLOSING',
    );
    const stats = f.bridge.stats();
    assert.equal(stats.queueDepth, 0);
    assert.equal(stats.failedOps, 2);
    for (const p of pending) p.resolve();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(f.bridge.stats().failedOps, 2);
  });

  it('a store without batch() keeps one batch in flight whatever its batchesInFlight (its writes go one by one)', () => {
    const store = new MemoryPersistence() as MemoryPersistence & { batchesInFlight?: number };
    store.batchesInFlight = 4;
    const options = { onFailure: () => undefined };
    assert.equal(resolveBridgeOptions(store, options).batchesInFlight, 4);
    (store as { batch?: unknown }).batch = undefined;
    assert.equal(resolveBridgeOptions(store, options).batchesInFlight, 1);
  });
});
