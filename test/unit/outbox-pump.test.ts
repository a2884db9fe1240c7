/**
 * The outbox pump against a store and a Paho stand-in it controls: the read-ahead hands a
 * delivered message's successor over at once, without waiting for a store read, and Paho still
 * never holds more than the window.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, type OutboxHost } from '../../src/client/outbox';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { SWEEP_BATCH } from '../../src/client/outbox-expiry';
import { checkLimitOptions } from '../../src/client/outbox-limits';
import { MemoryPersistence } from '../../src/persistence/memory';
import type { OutboxEntry } from '../../src/persistence/client-persistence';

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Handed {
  id: string | undefined;
  deliver(): void;
}

function pumpUnderTest(window: number, messages: number) {
  const store = new MemoryPersistence();
  store.open('pump-test', 'tcp://127.0.0.1:1');
  store.outboxAppend(
    Array.from({ length: messages }, (_, i) => ({
      id: String(i + 1),
      data: encodeOutboxEntry({ topic: `t/${i + 1}`, payload: Buffer.alloc(4), qos: 1, retained: false }),
    })),
  );
  // Reads pass through a gate the test can close: a closed gate holds them until opened.
  let gate: Promise<void> = Promise.resolve();
  let openGate = (): void => undefined;
  const reads: number[] = [];
  const gatedStore = Object.assign(Object.create(store) as MemoryPersistence, {
    outboxRead: async (afterId: string | undefined, count: number): Promise<OutboxEntry[]> => {
      if (count !== SWEEP_BATCH && count !== 1) reads.push(count); // the pump's reads, not the expiry tick's
      await gate;
      return store.outboxRead(afterId, count);
    },
  });
  const handed: Handed[] = [];
  const delivered: string[] = [];
  const outbox: Outbox = new Outbox({
    store: gatedStore,
    window,
    limits: checkLimitOptions(undefined),
    timeoutMs: 5000,
    canSend: () => true,
    send: (_message, id) =>
      new Promise<void>((resolve) => {
        handed.push({ id, deliver: resolve });
      }),
    flush: () => Promise.resolve(),
    delivered: (info) => delivered.push(info.id),
    dropped: () => assert.fail('nothing is dropped'),
    failed: (error) => assert.fail(error),
  } satisfies OutboxHost);
  return {
    outbox,
    handed,
    delivered,
    reads,
    closeGate: (): void => {
      gate = new Promise<void>((resolve) => (openGate = resolve));
    },
    openGate: () => openGate(),
  };
}

describe('outbox pump', () => {
  it('a delivery is refilled from the read-ahead while the store read is still under way', async () => {
    const pump = pumpUnderTest(4, 20);
    await pump.outbox.start();
    pump.outbox.release();
    await settled();
    assert.equal(pump.handed.length, 4, 'Paho got a full window');
    assert.equal(pump.outbox.handedCount, 4);
    pump.closeGate(); // from now on every store read waits
    pump.handed[0].deliver();
    await settled();
    assert.equal(pump.handed.length, 5, 'the fifth message was handed over with the store read held');
    assert.equal(pump.handed[4].id, '5');
    assert.equal(pump.outbox.handedCount, 4, 'and Paho holds the window, not more');
    pump.openGate();
    for (let next = 1; next < 20; next++) {
      await settled();
      pump.handed[next].deliver();
    }
    await settled();
    assert.deepEqual(
      pump.delivered,
      Array.from({ length: 20 }, (_, i) => String(i + 1)),
      'every message delivered, in order',
    );
    assert.equal(pump.outbox.maxHanded, 4, 'Paho never held more than the window');
    assert.ok(
      pump.reads.every((count) => count <= 4),
      `no read asks for more than a window: ${pump.reads.join(',')}`,
    );
    await pump.outbox.close();
  });
});
