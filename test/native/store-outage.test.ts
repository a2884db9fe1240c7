/**
 * A store that stops answering (an outage), as the bridge sees it: after one timeout, or a
 * failed batch whose probe fails too, the batch is held, no Paho thread waits for the store, a
 * full log refuses writes, flush() rejects; once the store answers, the held batch is applied
 * again and the log drains. Driven as Paho drives the bridge (see operation-log.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError } from '../../src';
import { recordingStore, type AsyncBatch } from '../helpers/recording-store';
import { fixture, put, remove, started } from '../helpers/log-fixture';
import { sleep, waitFor } from '../helpers/wait';

describe('store outages', () => {
  it('a store that never answers: after operationTimeoutMs its batch is held (an outage), waits end at once, and it is retried once the store answers', async () => {
    const f = fixture({ maxQueuedOps: 2, operationTimeoutMs: 300 });
    await started(f);
    f.rec.hold(); // the store stops answering
    assert.deepEqual(await f.run([put('c-1')]), [0], 'not a barrier: answered at once');
    const flushing = f.bridge.flush();
    flushing.catch(() => undefined); // checked below
    // A barrier waits until c-1's batch times out (a little before the barrier's own deadline);
    // then the store counts as unavailable. The batch's timeout runs from when the store got
    // it; the barrier starts 100 ms later, so that its own 300 ms end after the batch's.
    await waitFor(() => f.rec.held() === 1, "c-1's batch at the store");
    await sleep(100);
    assert.deepEqual(await f.run([put('r-2')]), [-2]);
    await assert.rejects(
      flushing,
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_UNAVAILABLE',
    );
    await assert.rejects(
      f.bridge.flush(),
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_UNAVAILABLE',
    );
    // During the outage no thread waits: a barrier fails at once and stays logged; a full log
    // (c-1 held, r-2: two ops) refuses the next write.
    const started3 = performance.now();
    assert.deepEqual(await f.run([put('r-3')]), [-2]);
    assert.ok(performance.now() - started3 < 250, 'a write waited during the outage');
    const stats = f.bridge.stats();
    assert.equal(stats.outages, 1);
    assert.equal(stats.writesRefused, 1);
    assert.deepEqual(
      f.failures.map((e) => [e.code, e.op, e.key]),
      [
        ['ERR_PERSISTENCE_UNAVAILABLE', 'batch', undefined],
        ['ERR_PERSISTENCE_UNAVAILABLE', 'put', 'r-3'],
      ],
    );
    assert.match(f.failures[0].message, /within 300 ms/);
    assert.match(f.failures[1].message, /log is full .* not logged/);
    // The store answers again: the held batch is applied, then what was logged after it.
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    // r-3 was never logged: every flush says so until r-3 is written again.
    for (const attempt of [1, 2]) {
      await assert.rejects(
        f.bridge.flush(),
        (e: unknown) =>
          e instanceof PersistenceError && e.key === 'r-3' && /refused .* has not been written since/.test(e.message),
        `flush ${attempt}`,
      );
    }
    assert.deepEqual(f.rec.store.keys(), ['c-1', 'r-2']);
    assert.equal(f.bridge.stats().queueDepth, 0);
    assert.deepEqual(await f.run([put('r-3')]), [0], 'barriers wait for the store again');
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys(), ['c-1', 'r-2', 'r-3']);
    assert.deepEqual(await f.run([put('r-4')]), [0]);
    assert.equal(f.failures.length, 2, 'recovery is not an error');
    f.bridge.close();
  });

  it("a failed batch is an outage only when the store's probe fails too; then it is held and retried (3 times once the probe answers)", async () => {
    const rec = recordingStore();
    let refusing = false;
    let unreachable = false;
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) =>
      refusing || unreachable ? Promise.reject(new Error('no thanks')) : apply(writes);
    const probed: boolean[] = [];
    (rec.store as { probe?: () => Promise<void> }).probe = () => {
      probed.push(!unreachable);
      return unreachable ? Promise.reject(new Error('connection refused')) : Promise.resolve();
    };
    const f = fixture({}, rec);
    await started(f);
    // The store answers its probe: a refusal, failed as before.
    refusing = true;
    assert.deepEqual(await f.run([put('r-1')]), [-2]);
    await waitFor(() => f.failures.length === 1, 'the refusal reported');
    assert.equal(f.failures[0].code, 'ERR_PERSISTENCE_STORE');
    assert.equal(f.bridge.stats().outages, 0);
    await assert.rejects(f.bridge.flush(), /no thanks/);
    refusing = false;
    assert.deepEqual(await f.run([remove('r-1')]), [0]);
    await f.bridge.flush(); // r-1 removed: nothing logged is missing from the store any more
    // The probe fails too: an outage; the batch is held and written once the store is back.
    unreachable = true;
    assert.deepEqual(await f.run([put('c-2')]), [0]);
    await waitFor(() => f.failures.length === 2, 'the outage reported');
    assert.equal(f.failures[1].code, 'ERR_PERSISTENCE_UNAVAILABLE');
    assert.match(f.failures[1].message, /no thanks/);
    assert.deepEqual(await f.run([put('r-3')]), [-2], 'no wait during the outage');
    await waitFor(() => probed.length >= 2, 'probes while unreachable');
    unreachable = false;
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys(), ['c-2', 'r-3']);
    assert.equal(f.bridge.stats().outages, 1);
    assert.equal(f.failures.length, 2);
    // A held batch the store answers for but keeps refusing fails like any refused batch.
    unreachable = true;
    assert.deepEqual(await f.run([put('c-4')]), [0]);
    await waitFor(() => f.failures.length === 3, 'the second outage reported');
    refusing = true;
    unreachable = false;
    await waitFor(() => f.failures.length === 4, 'the held batch failed at last', 5000);
    assert.equal(f.failures[3].code, 'ERR_PERSISTENCE_STORE');
    assert.equal(f.failures[3].key, 'c-4');
    await assert.rejects(f.bridge.flush(), /no thanks/);
    assert.equal(f.bridge.stats().outages, 2);
    f.bridge.close();
  });
});
