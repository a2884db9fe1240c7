/**
 * A batch the store refuses for good (not an outage: those are held and replayed) leaves the
 * store behind the log. Its removes are idempotent and, with no newer write of their key
 * pending, their key's last word: the log takes each of them again, once, so the store catches
 * up and flush() stops rejecting for keys Paho never writes again (a command record would
 * otherwise outlive its message). A remove with a newer write of its key pending is not taken
 * again (it would delete that write).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError, type PersistenceWrite } from '../../src';
import { recordingStore, type AsyncBatch } from '../helpers/recording-store';
import { fixture, put, remove, started } from '../helpers/log-fixture';
import { waitFor } from '../helpers/wait';

const refusal = new Error('OOM command not allowed when used memory > maxmemory');
const hasPut = (writes: readonly PersistenceWrite[]): boolean => writes.some((w) => w.data !== undefined);

describe('operation log: the removes of a refused batch', () => {
  it('are logged again once: the store catches up and flush() resolves once they are stored', async () => {
    const rec = recordingStore();
    const apply = rec.store.batch.bind(rec.store);
    let gate: (() => void) | undefined;
    let refusePuts = false;
    (rec.store as AsyncBatch).batch = (writes) => {
      // The q-0 batch waits at the gate, so the q-2 put and the q-1 remove go out as one batch.
      if (writes.some((w) => w.key === 'q-0'))
        return new Promise<void>((resolve) => (gate = () => resolve(apply(writes))));
      return refusePuts && hasPut(writes) ? Promise.reject(refusal) : apply(writes);
    };
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(await f.run([put('q-1')]), [0]);
    await f.bridge.flush();
    assert.deepEqual(await f.run([put('q-0')]), [0]);
    await waitFor(() => gate !== undefined, 'the q-0 batch in flight');
    refusePuts = true;
    assert.deepEqual(await f.run([put('q-2'), remove('q-1')]), [0, 0]);
    gate!();
    await waitFor(() => f.failures.length === 1, 'the refused batch reported');
    await waitFor(() => !rec.store.containsKey('q-1'), 'the q-1 remove logged again and stored');
    assert.equal(rec.store.containsKey('q-2'), false, 'the refused put is not retried');
    await assert.rejects(f.bridge.flush(), (e: unknown) => e instanceof PersistenceError && e.cause === refusal);
    refusePuts = false;
    assert.deepEqual(await f.run([remove('q-2')]), [0]);
    await f.bridge.flush(); // q-2 written again (removed): nothing unstored is left
    assert.equal(f.failures.length, 1, f.failures.map((e) => e.message).join('; '));
    f.bridge.close();
  });

  it('a remove whose key has a newer write pending is not logged again', async () => {
    const rec = recordingStore();
    const apply = rec.store.batch.bind(rec.store);
    let refuse: (() => void) | undefined;
    (rec.store as AsyncBatch).batch = (writes) =>
      hasPut(writes) && writes.some((w) => w.key === 'q-2')
        ? new Promise((_, reject) => (refuse = () => reject(refusal)))
        : apply(writes);
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(await f.run([put('q-1')]), [0]);
    await f.bridge.flush();
    assert.deepEqual(await f.run([put('q-2'), remove('q-1')]), [0, 0]);
    await waitFor(() => refuse !== undefined, 'the batch in flight');
    // A newer put of q-1 is logged while that batch is out, then the store refuses the batch.
    assert.deepEqual(await f.run([put('q-1', [9, 9])]), [0]);
    refuse!();
    await waitFor(() => f.failures.length === 1, 'the refusal reported');
    await assert.rejects(f.bridge.flush()); // q-2 was never stored
    assert.deepEqual([...rec.store.get('q-1')], [9, 9], 'the newer q-1 survives');
    f.bridge.close();
  });
});
