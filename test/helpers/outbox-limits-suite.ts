/**
 * The outbox limits part of the store contract (OutboxStore.outboxLimits: the bytes account,
 * caps applied by outboxAppend, the clock checkpoint), run by outboxSuite for every store that
 * declares outboxLimits.
 */
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientPersistence, OutboxAppendResult, OutboxStore } from '../../src/persistence/client-persistence';

type WithOutbox = (
  t: TestContext,
  tag: string,
  body: (s: ClientPersistence & OutboxStore, clientId: string) => Promise<void>,
) => Promise<void>;

const call = <T>(fn: () => T | Promise<T>): Promise<T> => Promise.resolve().then(fn);
/** Entries of the same size: with an encrypting store each is stored at the same (sealed) size too. */
const entry = (id: number) => ({ id: String(id), data: Buffer.from(`message-${String(id).padStart(4, '0')}`) });

async function bytesOf(s: OutboxStore): Promise<number> {
  const { bytes } = await call(() => s.outboxStats());
  assert.equal(typeof bytes, 'number', 'a store with outboxLimits reports bytes');
  return bytes!;
}

async function ids(s: OutboxStore): Promise<string[]> {
  return (await call(() => s.outboxRead(undefined, 100))).map((e) => e.id);
}

export function outboxLimitsSuite(withOutbox: WithOutbox): void {
  const withLimits: WithOutbox = (t, tag, body) =>
    withOutbox(t, tag, async (s, clientId) => {
      if (s.outboxLimits !== true) return t.skip('the store has no outboxLimits');
      await body(s, clientId);
    });

  it('outbox limits: the bytes account follows appends, removals (once each) and moves, and survives reopening', async (t) => {
    await withLimits(t, 'limits-account', async (s, clientId) => {
      assert.equal(await bytesOf(s), 0);
      await call(() => s.outboxAppend([entry(1), entry(2), entry(3)]));
      const three = await bytesOf(s);
      assert.ok(three >= 3 * entry(1).data.length, `bytes ${three}`);
      const one = three / 3;
      await call(() => s.outboxRemove(['2']));
      assert.equal(await bytesOf(s), 2 * one);
      await call(() => s.outboxRemove(['2', '99']));
      assert.equal(await bytesOf(s), 2 * one, 'an entry removed twice counts once');
      await call(() => s.batch!([{ key: 'c-1', data: Buffer.from('command'), outboxRemove: '1' }]));
      assert.equal(await bytesOf(s), one, "a move's removal leaves the account with it");
      await call(() => s.close());
      await call(() => s.open(clientId, 'tcp://127.0.0.1:1883'));
      assert.deepEqual(await call(() => s.outboxStats()), { length: 1, bytes: one });
      await call(() => s.clear());
      assert.deepEqual(await call(() => s.outboxStats()), { length: 0, bytes: 0 });
    });
  });

  it("outbox limits: 'rejectNew' appends what fits and answers the rest as rejected", async (t) => {
    await withLimits(t, 'limits-reject', async (s) => {
      const keep: string[] = [];
      let result = (await call(() =>
        s.outboxAppend([entry(1), entry(2), entry(3)], { maxMessages: 2, onFull: 'rejectNew', keep }),
      )) as OutboxAppendResult;
      assert.deepEqual(result.rejected, ['3']);
      assert.deepEqual(result.dropped, []);
      assert.equal(result.length, 2);
      assert.equal(result.bytes, await bytesOf(s));
      assert.deepEqual(await ids(s), ['1', '2']);
      const one = result.bytes / 2;
      result = (await call(() =>
        s.outboxAppend([entry(4)], { maxBytes: Math.floor(2.5 * one), onFull: 'rejectNew', keep }),
      )) as OutboxAppendResult;
      assert.deepEqual(result.rejected, ['4'], 'maxBytes caps too');
      assert.deepEqual(await ids(s), ['1', '2']);
    });
  });

  it("outbox limits: 'dropOldest' removes the oldest entries not kept, and answers them", async (t) => {
    await withLimits(t, 'limits-drop', async (s) => {
      await call(() => s.outboxAppend([entry(1), entry(2), entry(3)]));
      const result = (await call(() =>
        s.outboxAppend([entry(4), entry(5)], { maxMessages: 3, onFull: 'dropOldest', keep: ['1'] }),
      )) as OutboxAppendResult;
      assert.deepEqual(result.rejected, []);
      assert.deepEqual(
        result.dropped.map((e) => e.id),
        ['2', '3'],
        'the oldest, the kept one excepted',
      );
      assert.ok(result.dropped[0].data.equals(entry(2).data), 'dropped entries come back with their data');
      assert.deepEqual(await ids(s), ['1', '4', '5']);
      assert.equal(result.length, 3);
      assert.equal(result.bytes, await bytesOf(s));
      // Larger than maxBytes on its own: nothing is dropped for it.
      const huge = { id: '6', data: Buffer.alloc(10_000) };
      const refused = (await call(() =>
        s.outboxAppend([huge], { maxBytes: 1000, onFull: 'dropOldest', keep: [] }),
      )) as OutboxAppendResult;
      assert.deepEqual(refused.rejected, ['6']);
      assert.deepEqual(refused.dropped, []);
      assert.deepEqual(await ids(s), ['1', '4', '5']);
      // Only kept entries left: the new one cannot get room.
      const full = (await call(() =>
        s.outboxAppend([entry(7)], { maxMessages: 3, onFull: 'dropOldest', keep: ['1', '4', '5'] }),
      )) as OutboxAppendResult;
      assert.deepEqual(full.rejected, ['7']);
      assert.deepEqual(await ids(s), ['1', '4', '5']);
    });
  });

  // Kept while the outbox holds entries (their times are on this clock); with an empty outbox a
  // store may drop it at close (RedisPersistence does: the next open starts as a fresh client).
  it('outbox limits: the clock checkpoint is kept across reopening while the outbox holds entries', async (t) => {
    await withLimits(t, 'limits-clock', async (s, clientId) => {
      assert.equal(await call(() => s.outboxReadClock!()), undefined);
      await call(() => s.outboxAppend([entry(1)]));
      await call(() => s.outboxWriteClock!({ outboxMs: 12_345.5, wallMs: 1_800_000_000_000 }));
      await call(() => s.close());
      await call(() => s.open(clientId, 'tcp://127.0.0.1:1883'));
      assert.deepEqual(await call(() => s.outboxReadClock!()), { outboxMs: 12_345.5, wallMs: 1_800_000_000_000 });
      await call(() => s.clear());
    });
  });
}
