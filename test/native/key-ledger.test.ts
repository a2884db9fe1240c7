/**
 * The bridge's KeyLedger: removes of keys known absent skip the store, queued commands are
 * read from memory, and a QoS 1/2 command's remove is logged with its sent packet, after it
 * (Paho removes c-N before it writes s-N; a crash in between would lose the message).
 * Store-side order is checked in 'sync' durability, where each write reaches the store
 * before the next; 'batched' ordering and absorption are in operation-log.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AsyncClient } from '../../src';
import { recordingStore } from '../helpers/recording-store';
import { testDriver } from '../helpers/test-driver';
import { StoreBridge } from '../../src/persistence/bridge/store-bridge';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';

/** A persisted PUBLISH command as MQTTAsync_persistCommand writes it (little-endian ints). */
function publishCommand(qos: number): Buffer {
  const int = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };
  const payload = Buffer.from('payload');
  return Buffer.concat([int(3), int(1), Buffer.from('a/b\0'), int(payload.length), payload, int(qos), int(0)]);
}

describe('KeyLedger through a live client', () => {
  let broker: MosquittoServer;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: a command is removed only after its sent packet is stored, and nothing is left`, async () => {
      const { store, log } = recordingStore();
      // 'sync': every write reaches the store, in order. (In 'batched', a put and remove of
      // s-N often cancel out; operation-log.test.ts checks that order.)
      Object.assign(store, { durability: 'sync' });
      const client = await AsyncClient.create({
        serverURI: broker.url,
        clientId: `ledger-${qos}-${process.pid}`,
        persistence: store,
      });
      await client.connect({ cleanSession: true });
      log.length = 0;
      const messages = 50;
      await Promise.all(
        Array.from({ length: messages }, (_, i) => client.publish('ledger/t', Buffer.from(String(i)), { qos })),
      );
      await client.disconnect({ timeout: 1000 });
      await client.flush();

      // Every removed command had a sent packet stored after its own put.
      let sentStored = 0;
      let commandsRemoved = 0;
      for (const [op, key] of log) {
        if (op === 'put' && key.startsWith('s-')) sentStored++;
        if (op === 'remove' && key.startsWith('c-')) {
          commandsRemoved++;
          assert.ok(sentStored >= commandsRemoved, `remove ${key} came before the sent packet was stored`);
        }
      }
      assert.equal(commandsRemoved, messages);
      // No needless round trips: no gets (commands come from memory), and per message
      // QoS 1: 2 puts + 2 removes, QoS 2: 3 puts + 3 removes.
      assert.equal(log.filter(([op]) => op === 'get').length, 0);
      assert.equal(log.filter(([op]) => op === 'put').length, messages * (qos + 1));
      assert.equal(log.filter(([op]) => op === 'remove').length, messages * (qos + 1));
      assert.equal(client.stats().store!.opsAbsorbed, 0);
      assert.deepEqual(store.keys(), [], 'the store is empty once every message is acknowledged');
      await client.close();
    });
  }
});

describe('KeyLedger through the native test driver', () => {
  const open = { op: 'open' as const, clientId: 'ledger-driver', serverURI: 'tcp://127.0.0.1:1883' };

  it('skips removes of keys known absent only after the key list was read', async () => {
    const { store, log } = recordingStore();
    const bridge = new StoreBridge(store, { onFailure: () => undefined, durability: 'sync' });
    await testDriver.runScript(bridge.native, [open, { op: 'remove', key: 's-1' }]);
    assert.deepEqual(
      log.filter(([op]) => op === 'remove'),
      [['remove', 's-1']],
      'forwarded while the key list is unknown',
    );
    const results = await testDriver.runScript(bridge.native, [
      { op: 'keys' },
      { op: 'remove', key: 's-2' },
      { op: 'put', key: 's-3', buffers: [Buffer.from('x')] },
      { op: 'remove', key: 's-3' },
    ]);
    assert.deepEqual(
      results.map((r) => r.rc),
      [0, 0, 0, 0],
    );
    assert.deepEqual(
      log.filter(([op]) => op === 'remove'),
      [
        ['remove', 's-1'],
        ['remove', 's-3'],
      ],
    );
    assert.equal(bridge.native.stats().skippedRemoves, 1);
    bridge.close();
  });

  it('skips removes of families never written, yet flushes a remove it deferred first', async () => {
    const { store, log } = recordingStore();
    const bridge = new StoreBridge(store, { onFailure: () => undefined, durability: 'sync' });
    const results = await testDriver.runScript(bridge.native, [
      open,
      { op: 'keys' },
      { op: 'put', key: 'c-1', buffers: [publishCommand(1)] },
      { op: 'remove', key: 'c-1' }, // deferred
      { op: 'remove', key: 'sc5-1' }, // no sc5- written, but the deferred remove is due first
      { op: 'remove', key: 's5-1' }, // no s5- written
      { op: 'put', key: 'sc-2', buffers: [Buffer.from([0x62, 0x02, 0, 2])] },
      { op: 'remove', key: 'sc-2' }, // its family and key were written: logged
      { op: 'remove', key: 'sc-3' }, // its family was written, the key was not
    ]);
    assert.deepEqual(
      results.map((r) => r.rc),
      [0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    const order = log.filter(([op]) => op !== 'keys').map(([op, key]) => `${op} ${key}`);
    assert.deepEqual(order, ['put c-1', 'remove c-1', 'put sc-2', 'remove sc-2']);
    const stats = bridge.native.stats();
    assert.deepEqual([stats.skippedRemoves, stats.deferredRemoves], [3, 1]);
    bridge.close();
  });

  // Deferral is per thread, and each runScript runs on a pool thread: one script per case.
  it('defers the remove of a QoS 1 PUBLISH command until the next s- put, and serves its get from memory', async () => {
    const { store, log } = recordingStore();
    const bridge = new StoreBridge(store, { onFailure: () => undefined, durability: 'sync' });
    const body = publishCommand(1);
    const results = await testDriver.runScript(bridge.native, [
      open,
      { op: 'keys' },
      { op: 'put', key: 'c-1', buffers: [body.subarray(0, 8), body.subarray(8)] },
      { op: 'get', key: 'c-1' },
      { op: 'remove', key: 'c-1' },
      { op: 'put', key: 's-1', buffers: [Buffer.from([0x32, 0])] },
    ]);
    assert.deepEqual(
      results.map((r) => r.rc),
      [0, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(results[3].data, body, 'get answers the command as put');
    const order = log.filter(([op]) => op !== 'keys').map(([op, key]) => `${op} ${key}`);
    assert.deepEqual(order, ['put c-1', 'put s-1', 'remove c-1'], 'the command is removed only after s-1 is stored');
    assert.deepEqual(store.keys(), ['s-1']);
    const stats = bridge.native.stats();
    assert.deepEqual([stats.forwarded, stats.skippedRemoves, stats.cachedGets, stats.deferredRemoves], [2, 0, 1, 1]);
    assert.deepEqual(
      [stats.opsLogged, stats.batches, stats.barrierWaits],
      [3, 2, 3],
      'the s-1 put and the c-1 remove: one batch',
    );
    bridge.close();
  });

  it('removes a QoS 0 command at once, and flushes a deferred remove before any other call and at close', async () => {
    const { store, log } = recordingStore();
    const bridge = new StoreBridge(store, { onFailure: () => undefined, durability: 'sync' });
    const results = await testDriver.runScript(bridge.native, [
      open,
      { op: 'keys' },
      { op: 'put', key: 'c-1', buffers: [publishCommand(0)] },
      { op: 'remove', key: 'c-1' },
      { op: 'put', key: 'c-2', buffers: [publishCommand(2)] },
      { op: 'remove', key: 'c-2' },
      { op: 'containsKey', key: 'zz-1' },
      { op: 'put', key: 'c-3', buffers: [publishCommand(1)] },
      { op: 'remove', key: 'c-3' },
      { op: 'close' },
    ]);
    assert.deepEqual(
      results.map((r) => r.rc),
      [0, 0, 0, 0, 0, 0, -2, 0, 0, 0],
    );
    const order = log.filter(([op]) => op !== 'keys').map(([op, key]) => `${op} ${key}`);
    assert.deepEqual(order, [
      'put c-1',
      'remove c-1', // QoS 0: not deferred
      'put c-2',
      'remove c-2', // due before the thread's next call (containsKey, answered from memory)
      'put c-3',
      'remove c-3', // due at close
    ]);
    assert.equal(bridge.native.stats().answeredFromMemory, 1, 'containsKey after keys() needs no store call');
    bridge.close();
  });
});
