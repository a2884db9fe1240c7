/**
 * Several batches in flight and an outage: batches reach the store in log order at all times.
 * Once a batch failed, or a wait for the store timed out, nothing leaves beside or before the
 * batches then at the store until they are decided (held and applied again, or failed): not
 * when an earlier batch settles meanwhile (which clears the store's unavailable mark), not
 * when a barrier's batch would leave at once, with onStoreUnavailable 'continue' or
 * 'disconnect'. Driven as Paho drives the bridge (see operation-log.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError } from '../../src';
import { put, remove, started } from '../helpers/log-fixture';
import { gatedFixture } from '../helpers/gated-store';
import { sleep, waitFor } from '../helpers/wait';

const loading = (): PersistenceError =>
  new PersistenceError('ERR_PERSISTENCE_STORE', 'batch', undefined, 'LOADING Redis is loading', { transient: true });

for (const mode of ['continue', 'disconnect'] as const) {
  describe(`operation log: order through an outage (onStoreUnavailable '${mode}')`, () => {
    it('a wait that timed out keeps later batches back until the batches then at the store settled, even when an earlier one settles first', async () => {
      const timeoutMs = 1500;
      const { f, pending, applied } = gatedFixture(4, { operationTimeoutMs: timeoutMs, onStoreUnavailable: mode });
      await started(f);
      // A read the store never answers: its wait times out and marks the store unavailable
      // while batches started after it are still at the store (their own deadlines later).
      let asked = false;
      (f.rec.store as unknown as { get(key: string): unknown }).get = () => {
        asked = true;
        return new Promise(() => undefined);
      };
      const read = f.run([{ op: 'get', key: 'q-9' }]);
      await waitFor(() => asked, 'the read at the store');
      await sleep(timeoutMs / 2.5);
      assert.deepEqual(await f.run([put('c-1')]), [0]);
      await waitFor(() => pending.length === 1, 'the c-1 batch at the store');
      const barrier = f.run([put('sc-1')]);
      await waitFor(() => pending.length === 2, "the barrier's batch beside it");
      await waitFor(() => f.bridge.stats().outages === 1, 'the read timed out');
      assert.equal(pending.length, 2);
      // Written after the timed-out wait: the PUBCOMP removes and a new barrier.
      const later = f.run([remove('sc-1'), put('r-3')]);
      await waitFor(() => f.bridge.stats().queueDepth === 4, 'the later writes logged');
      await sleep(50);
      assert.equal(pending.length, 2, 'a batch left while the store did not answer');
      // The earlier batch settles: the store answered it, not the barrier's batch.
      pending[0].resolve();
      await waitFor(() => f.bridge.native.settledSeq === 1, 'the c-1 batch settled');
      await sleep(50);
      assert.equal(pending.length, 2, 'a batch left beside one the store had not answered');
      // The barrier's batch is refused for now: held, and applied again alone.
      pending[1].reject(loading());
      await waitFor(() => pending.length === 3, 'the held batch applied again');
      assert.deepEqual(pending[2].keys, ['put sc-1']);
      pending[2].resolve();
      await waitFor(() => pending.length === 4, 'the later batch, after the held one');
      assert.deepEqual(pending[3].keys, ['remove sc-1', 'put r-3']);
      pending[3].resolve();
      await waitFor(() => f.bridge.stats().queueDepth === 0, 'everything settled');
      await f.bridge.flush();
      assert.deepEqual(applied, [['c-1'], ['sc-1'], ['sc-1', 'r-3']]);
      assert.deepEqual(f.rec.store.keys().sort(), ['c-1', 'r-3']);
      const [readRc] = await read;
      assert.notEqual(readRc, 0, 'the read that timed out succeeded');
      // 'continue': the barriers ended at once during the outage; 'disconnect': they waited for their records.
      assert.deepEqual(await barrier, mode === 'continue' ? [-2] : [0]);
      assert.deepEqual(await later, mode === 'continue' ? [0, -2] : [0, 0]);
      f.bridge.close();
    });

    it('a batch the store refused for now keeps later batches back while an earlier one is still at the store', async () => {
      const { f, pending, applied } = gatedFixture(4, { onStoreUnavailable: mode });
      await started(f);
      assert.deepEqual(await f.run([put('c-1')]), [0]);
      await waitFor(() => pending.length === 1, 'the c-1 batch at the store');
      const barrier = f.run([put('sc-1')]);
      await waitFor(() => pending.length === 2, "the barrier's batch beside it");
      pending[1].reject(loading());
      await sleep(20);
      // A barrier's batch would leave at once beside those in flight; not beside a refused one.
      const later = f.run([remove('sc-1'), put('r-3')]);
      await waitFor(() => f.bridge.stats().queueDepth === 4, 'the later writes logged');
      await sleep(50);
      assert.equal(pending.length, 2, 'a batch left beside one the store refused');
      pending[0].resolve();
      // Held with the refused batch, both applied again in order.
      await waitFor(() => pending.length === 4, 'the held batches applied again');
      assert.deepEqual(
        pending.slice(2).map((p) => p.keys),
        [['put sc-1'], ['remove sc-1', 'put r-3']],
      );
      pending[2].resolve();
      pending[3].resolve();
      await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held batches settled');
      await f.bridge.flush();
      assert.deepEqual(applied, [['c-1'], ['sc-1'], ['sc-1', 'r-3']]);
      assert.deepEqual(f.rec.store.keys(), ['c-1', 'r-3']);
      assert.deepEqual(await barrier, mode === 'continue' ? [-2] : [0]);
      assert.deepEqual(await later, mode === 'continue' ? [0, -2] : [0, 0]);
      f.bridge.close();
    });

    it('a batch the store refused for good: the later batches kept back leave once it failed', async () => {
      const { f, pending, applied } = gatedFixture(4, { onStoreUnavailable: mode });
      await started(f);
      assert.deepEqual(await f.run([put('c-1')]), [0]);
      await waitFor(() => pending.length === 1, 'the c-1 batch at the store');
      const barrier = f.run([put('sc-1')]);
      await waitFor(() => pending.length === 2, "the barrier's batch beside it");
      pending[1].reject(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
      await sleep(20);
      const later = f.run([put('r-3')]);
      await waitFor(() => f.bridge.stats().queueDepth === 3, 'the later write logged');
      await sleep(50);
      assert.equal(pending.length, 2, 'a batch left beside one the store refused');
      pending[0].resolve();
      await waitFor(() => pending.length === 3, 'the later batch, once the refused one failed');
      assert.deepEqual(pending[2].keys, ['put r-3']);
      pending[2].resolve();
      assert.deepEqual(await barrier, [-2], 'the refused barrier');
      assert.deepEqual(await later, [0]);
      assert.deepEqual(applied, [['c-1'], ['r-3']]);
      assert.equal(f.failures.length, 1, f.failures.map((e) => e.message).join('; '));
      f.bridge.close();
    });
  });
}
