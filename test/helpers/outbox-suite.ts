/**
 * The outbox part of the store contract (OutboxStore, see client-persistence.ts), run by
 * persistenceSuite for every store that has the outbox methods.
 */
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientPersistence, OutboxStore } from '../../src/persistence/client-persistence';
import { outboxLimitsSuite } from './outbox-limits-suite';

type WithOpen = (tag: string, body: (s: ClientPersistence, clientId: string) => Promise<void>) => Promise<void>;

const call = <T>(fn: () => T | Promise<T>): Promise<T> => Promise.resolve().then(fn);
const entry = (id: number, text = `m${id}`) => ({ id: String(id), data: Buffer.from(text) });

/** Removes what a test left in the outbox. */
async function emptied(s: OutboxStore): Promise<void> {
  const left = await call(() => s.outboxRead(undefined, 10_000));
  await call(() => s.outboxRemove(left.map((e) => e.id)));
}

/** `supported()`: whether the store under test has the outbox methods (else each test is skipped). */
export function outboxSuite(withOpen: WithOpen, supported: () => boolean): void {
  const withOutbox = (
    t: TestContext,
    tag: string,
    body: (s: ClientPersistence & OutboxStore, clientId: string) => Promise<void>,
  ): Promise<void> => {
    if (!supported()) {
      t.skip('the store has no outbox methods');
      return Promise.resolve();
    }
    return withOpen(tag, async (s, clientId) => {
      const outbox = s as ClientPersistence & OutboxStore;
      try {
        await body(outbox, clientId);
      } finally {
        await emptied(outbox).catch(() => undefined);
      }
    });
  };

  it('outbox: empty at first (no last id, no entries)', async (t) => {
    await withOutbox(t, 'outbox-empty', async (s) => {
      assert.equal(await call(() => s.outboxLastId()), undefined);
      assert.deepEqual(await call(() => s.outboxRead(undefined, 10)), []);
      assert.equal((await call(() => s.outboxStats())).length, 0);
    });
  });

  it('outbox: appends in order, reads with a cursor and a count, bytes round-trip', async (t) => {
    await withOutbox(t, 'outbox-read', async (s) => {
      const binary = Buffer.from([0, 1, 2, 255, 254, 0]);
      await call(() => s.outboxAppend([entry(1), entry(2), { id: '3', data: binary }]));
      await call(() => s.outboxAppend([entry(10)]));
      const all = await call(() => s.outboxRead(undefined, 100));
      assert.deepEqual(
        all.map((e) => e.id),
        ['1', '2', '3', '10'],
      );
      assert.ok(all[2].data.equals(binary), 'binary data comes back as given');
      assert.deepEqual(
        (await call(() => s.outboxRead('2', 1))).map((e) => e.id),
        ['3'],
        'after id 2, one entry',
      );
      assert.deepEqual(
        (await call(() => s.outboxRead('3', 10))).map((e) => e.id),
        ['10'],
      );
      assert.equal((await call(() => s.outboxStats())).length, 4);
      assert.equal(await call(() => s.outboxLastId()), '10');
    });
  });

  it('outbox: removed entries are gone; the last id stays, also once empty and after reopening', async (t) => {
    await withOutbox(t, 'outbox-remove', async (s, clientId) => {
      await call(() => s.outboxAppend([entry(1), entry(2), entry(3)]));
      await call(() => s.outboxRemove(['2', '99']));
      assert.deepEqual(
        (await call(() => s.outboxRead(undefined, 10))).map((e) => e.id),
        ['1', '3'],
      );
      await call(() => s.outboxRemove(['1', '3']));
      assert.equal((await call(() => s.outboxStats())).length, 0);
      await call(() => s.close());
      await call(() => s.open(clientId, 'tcp://127.0.0.1:1883'));
      assert.equal(await call(() => s.outboxLastId()), '3', 'ids never repeat, even after the outbox emptied');
    });
  });

  it('outbox: an id not above the last one is refused', async (t) => {
    await withOutbox(t, 'outbox-order', async (s) => {
      await call(() => s.outboxAppend([entry(5)]));
      await assert.rejects(call(() => s.outboxAppend([entry(5)])));
      assert.equal((await call(() => s.outboxStats())).length, 1);
    });
  });

  it("outbox: batch() removes a moved entry with its write, and keys() never lists the outbox's entries", async (t) => {
    await withOutbox(t, 'outbox-move', async (s) => {
      await call(() => s.outboxAppend([entry(1), entry(2)]));
      await call(() => s.batch!([{ key: 'c-1', data: Buffer.from('command'), outboxRemove: '1' }]));
      assert.deepEqual(await call(() => s.keys()), ['c-1']);
      assert.deepEqual(
        (await call(() => s.outboxRead(undefined, 10))).map((e) => e.id),
        ['2'],
      );
      // A move whose c- put a remove cancelled before it was stored: the remove carries it.
      await call(() => s.batch!([{ key: 'c-2', data: undefined, outboxRemove: '2' }]));
      assert.equal((await call(() => s.outboxStats())).length, 0);
    });
  });

  it("outbox: clear() empties the outbox with Paho's records", async (t) => {
    await withOutbox(t, 'outbox-clear', async (s) => {
      await call(() => s.outboxAppend([entry(1), entry(2)]));
      await call(() => s.put('c-1', Buffer.from('command')));
      await call(() => s.clear());
      assert.deepEqual(await call(() => s.keys()), []);
      assert.equal((await call(() => s.outboxStats())).length, 0);
      assert.deepEqual(await call(() => s.outboxRead(undefined, 10)), []);
    });
  });

  outboxLimitsSuite(withOutbox);
}
