/**
 * Paho's c-/q- sequence numbers wrap at 1,000,000 (src/persistence/bridge/sequence-wrap.ts): the order
 * the records were written in, the moves that renumber them, and where a crash between two
 * moves (a store without batch()) leaves them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPersistence } from '../../src';
import { renumberWrapped, renumbering, writtenOrder } from '../../src/persistence/bridge/sequence-wrap';

test('written order starts after the widest gap; numeric order needs nothing', () => {
  assert.deepEqual(writtenOrder([0, 1, 999998, 999999]), [999998, 999999, 0, 1]);
  assert.deepEqual(writtenOrder([5, 999990, 3]), [999990, 3, 5]);
  assert.equal(writtenOrder([999997, 999998, 999999]), undefined);
  assert.equal(writtenOrder([0, 1, 2, 7]), undefined);
  assert.equal(writtenOrder([4]), undefined);
  assert.equal(writtenOrder([]), undefined);
});

test('the moves: last written first, into the gap after the last one', () => {
  assert.deepEqual(renumbering([999999, 0, 1]), [
    [1, 4],
    [0, 3],
    [999999, 2],
  ]);
  assert.deepEqual(renumbering([1, 2, 3]), []);
});

/** The store's sequenced keys in the order Paho restores them (by number). */
const restoreOrder = (store: MemoryPersistence, prefix: string): string[] =>
  store
    .keys()
    .filter((k) => k.startsWith(prefix))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .map((k) => store.get(k).toString());

test('renumbered in one batch: numeric order is written order; the other prefixes and records stay', async () => {
  const store = new MemoryPersistence();
  store.open('wrap', 'h:1');
  const written = [999997, 999998, 999999, 0, 1];
  written.forEach((n, i) => store.put(`c-${n}`, Buffer.from(`m${i + 1}`)));
  store.put('q-999999', Buffer.from('q1'));
  store.put('q-0', Buffer.from('q2'));
  store.put('s-7', Buffer.from('sent'));
  const keys = await renumberWrapped(store, store.keys());
  assert.deepEqual(keys.sort(), store.keys().sort());
  assert.deepEqual(restoreOrder(store, 'c-'), ['m1', 'm2', 'm3', 'm4', 'm5']);
  assert.deepEqual(restoreOrder(store, 'q-'), ['q1', 'q2']);
  assert.deepEqual(store.keys().sort(), ['c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'q-1', 'q-2', 's-7']);
});

test('one write at a time, cut after each write: every record survives, in written order once restored again', async () => {
  const written = [999996, 999997, 999999, 0, 2];
  for (let cut = 0; cut <= 2 * written.length; cut++) {
    const store = new MemoryPersistence();
    store.open('wrap', 'h:1');
    written.forEach((n, i) => store.put(`c-${n}`, Buffer.from(`m${i + 1}`)));
    const bare: Partial<MemoryPersistence> = store;
    bare.batch = undefined;
    let writes = 0;
    const put = store.put.bind(store);
    const remove = store.remove.bind(store);
    const crash = (): void => {
      if (writes++ === cut) throw new Error('killed');
    };
    store.put = (key, data) => (crash(), put(key, data));
    store.remove = (key) => (crash(), remove(key));
    await renumberWrapped(store, store.keys()).catch(() => undefined);
    store.put = put;
    store.remove = remove;
    // The next restore finishes the job; the record being moved at the cut may be there twice.
    await renumberWrapped(store, store.keys());
    const order = restoreOrder(store, 'c-');
    const once = order.filter((m, i) => order.indexOf(m) === i);
    assert.deepEqual(once, ['m1', 'm2', 'm3', 'm4', 'm5'], `cut after ${cut} writes: ${order.join()}`);
    assert.ok(order.length <= written.length + 1, `cut after ${cut} writes: ${order.join()}`);
  }
});
