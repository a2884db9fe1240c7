/**
 * How the outbox pump takes a failed hand-over, against a store and a Paho stand-in the test
 * controls: a refusal of the publish call leaves the entry in the outbox (handed over again); a
 * failure after Paho accepted the message (acceptedByPaho: its move took the entry out) drops
 * it, unless the move failed and the entry is still stored; an incomplete one (Paho destroyed) stays
 * with Paho's records, without an event.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../src/client/outbox';
import { checkLimitOptions } from '../../src/client/outbox-limits';
import { encodeOutboxEntry } from '../../src/client/outbox-entry';
import { PahoError } from '../../src/errors';
import { MemoryPersistence } from '../../src/persistence/memory';

const settled = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 150)); // past the pump's retry

interface Handed {
  id: string;
  deliver(): void;
  fail(error: Error): void;
}

async function outboxUnderTest(messages: number, moves: boolean) {
  const store = new MemoryPersistence();
  store.open('handover-test', 'tcp://127.0.0.1:1');
  store.outboxAppend(
    Array.from({ length: messages }, (_, i) => ({
      id: String(i + 1),
      data: encodeOutboxEntry({ topic: `t/${i + 1}`, payload: Buffer.alloc(4), qos: 1, retained: false }),
    })),
  );
  const handed: Handed[] = [];
  const delivered: string[] = [];
  const dropped: { id: string; error: unknown }[] = [];
  const outbox = new Outbox({
    store,
    window: 2,
    limits: checkLimitOptions(undefined),
    timeoutMs: 5000,
    canSend: () => true,
    send: async (_message, id) => {
      // Paho's c-N put moves the entry out of the outbox (`moves` false: it failed, or none was made).
      if (moves) store.outboxRemove([id!]);
      return new Promise<void>((deliver, fail) => handed.push({ id: id!, deliver, fail }));
    },
    flush: () => Promise.resolve(),
    delivered: (info) => delivered.push(info.id),
    dropped: (info) => dropped.push({ id: info.id, error: info.error }),
    failed: (error) => assert.fail(error),
  });
  await outbox.start();
  outbox.release();
  await settled();
  return { outbox, store, handed, delivered, dropped };
}

/** Delivers whatever is handed over until nothing more comes. */
async function deliverAll(handed: Handed[], from: number): Promise<void> {
  for (let next = from; next < handed.length; next++) {
    handed[next].deliver();
    await settled();
  }
}

const refused = new PahoError('ERR_PAHO_DISCONNECTED', -3, 'publish failed: disconnected');
const acceptedThenFailed = new PahoError('ERR_PAHO_FAILURE', -1, 'publish failed after Paho accepted it', {
  acceptedByPaho: true,
});

const destroyed = new PahoError('ERR_PAHO_OPERATION_INCOMPLETE', -11, 'publish failed after Paho accepted it', {
  acceptedByPaho: true,
});

describe('a failed hand-over', () => {
  it('refused by the publish call: the entry stays and is handed over again, then delivered once', async () => {
    const t = await outboxUnderTest(3, false); // a refused call puts no c-N: nothing moves
    assert.deepEqual(
      t.handed.map((h) => h.id),
      ['1', '2'],
    );
    t.handed[0].fail(refused);
    await settled();
    t.handed[1].deliver();
    await settled();
    await deliverAll(t.handed, 2);
    assert.deepEqual(t.dropped, [], 'nothing dropped');
    assert.deepEqual([...t.delivered].sort(), ['1', '2', '3'], "one 'delivered' per id");
    assert.equal(t.handed.filter((h) => h.id === '1').length, 2, 'the refused entry was handed over again');
  });

  it('failed after Paho accepted it (moved out): dropped with the error, never handed over again', async () => {
    const t = await outboxUnderTest(3, true);
    t.handed[0].fail(acceptedThenFailed);
    await settled();
    await deliverAll(t.handed, 1);
    assert.deepEqual(t.dropped, [{ id: '1', error: acceptedThenFailed }]);
    assert.deepEqual(t.delivered, ['2', '3']);
    assert.equal(t.handed.filter((h) => h.id === '1').length, 1, 'handed over once');
    assert.equal(t.store.outboxStats().length, 0, 'the outbox is empty');
  });

  it('failed after Paho accepted it while its move failed: still stored, handed over again, delivered once', async () => {
    const t = await outboxUnderTest(2, false);
    t.outbox.movesFailed(['1']);
    t.handed[0].fail(acceptedThenFailed);
    await settled();
    await deliverAll(t.handed, 1);
    assert.deepEqual(t.dropped, []);
    assert.deepEqual([...t.delivered].sort(), ['1', '2']);
    assert.equal(t.handed.filter((h) => h.id === '1').length, 2, 'handed over again from the outbox');
  });

  it("failed as incomplete after Paho accepted it (Paho's destroy): no event, its record stays with Paho", async () => {
    const t = await outboxUnderTest(3, true);
    t.handed[0].fail(destroyed);
    await settled();
    await deliverAll(t.handed, 1);
    assert.deepEqual(t.dropped, [], 'not dropped: the next Paho client restores it');
    assert.deepEqual(t.delivered, ['2', '3'], 'the pump went on');
    assert.equal(t.handed.filter((h) => h.id === '1').length, 1, 'not handed over again');
  });
});
