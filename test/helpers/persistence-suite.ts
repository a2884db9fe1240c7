/**
 * The behavioural contract every ClientPersistence must meet, as one reusable node:test
 * `describe` block. Usage:
 *
 *   persistenceSuite('MemoryPersistence', async () => ({ store: new MemoryPersistence(), cleanup: async () => {} }));
 *
 * `make` is called once per test (twice for the two-stores test) and must return a fresh,
 * unopened store; stores made by one factory may share a backend (one Redis), so the suite
 * uses client ids unique to each test. Keyspace isolation is checked by re-opening one store
 * under other (clientId, serverURI) pairs.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientPersistence } from '../../src/persistence/client-persistence';
import { PersistenceError } from '../../src/errors';
import { missingOutboxMethods } from '../../src/persistence/client-persistence';
import { outboxSuite } from './outbox-suite';

export interface SuiteStore {
  store: ClientPersistence;
  cleanup(): Promise<void>;
}

/** Awaits an op whether it answers synchronously or with a Promise. */
export async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  return await Promise.resolve().then(fn);
}

/** Asserts that fn throws or rejects with a PersistenceError of the given code. */
export async function assertPersistenceError(fn: () => unknown, code: string): Promise<PersistenceError> {
  let caught: unknown;
  try {
    await Promise.resolve().then(fn);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a PersistenceError ${code}, but the call succeeded`);
  assert.ok(
    caught instanceof PersistenceError,
    `expected a PersistenceError, got ${caught instanceof Error ? caught.stack : JSON.stringify(caught)}`,
  );
  assert.equal(caught.code, code, `unexpected code; message: ${caught.message}`);
  return caught;
}

let seq = 0;
/** A client id unique to this process and test, so shared backends never collide. */
export function uniqueClientId(tag: string): string {
  seq += 1;
  return `t${process.pid}-${Date.now().toString(36)}-${seq}-${tag}`;
}

const SERVER = 'tcp://127.0.0.1:1883';

export function persistenceSuite(name: string, make: () => Promise<SuiteStore>): void {
  describe(`ClientPersistence contract: ${name}`, () => {
    /** Makes a store, opens it with a unique client id, runs body, always cleans up. */
    async function withOpen(
      tag: string,
      body: (s: ClientPersistence, clientId: string) => Promise<void>,
    ): Promise<void> {
      const made = await make();
      const clientId = uniqueClientId(tag);
      try {
        await call(() => made.store.open(clientId, SERVER));
        try {
          await body(made.store, clientId);
        } finally {
          await call(() => made.store.clear()).catch(() => undefined);
          await call(() => made.store.close());
        }
      } finally {
        await made.cleanup();
      }
    }

    it('put then get round-trips the bytes', async () => {
      await withOpen('roundtrip', async (s) => {
        await call(() => s.put('s-1', Buffer.from('hello paho')));
        const got = await call(() => s.get('s-1'));
        assert.ok(Buffer.isBuffer(got), 'get must answer a Buffer');
        assert.equal(got.toString(), 'hello paho');
      });
    });

    it('stores binary data exactly: zero bytes and all 256 byte values', async () => {
      await withOpen('binary', async (s) => {
        const all = Buffer.alloc(512);
        for (let i = 0; i < 256; i++) {
          all[i] = i;
          all[511 - i] = i;
        }
        const zeros = Buffer.from([0, 0, 1, 0, 0xff, 0]);
        await call(() => s.put('c-1', all));
        await call(() => s.put('c-2', zeros));
        assert.deepEqual(await call(() => s.get('c-1')), all);
        assert.deepEqual(await call(() => s.get('c-2')), zeros);
      });
    });

    it('stores an empty buffer', async () => {
      await withOpen('empty', async (s) => {
        await call(() => s.put('q-1', Buffer.alloc(0)));
        const got = await call(() => s.get('q-1'));
        assert.ok(Buffer.isBuffer(got));
        assert.equal(got.length, 0);
        assert.equal(await call(() => s.containsKey('q-1')), true);
      });
    });

    it('keeps its own copy of the data (callers may reuse their buffer)', async () => {
      await withOpen('copy', async (s) => {
        const buf = Buffer.from('original');
        await call(() => s.put('r-1', buf));
        buf.write('CHANGED!');
        assert.equal((await call(() => s.get('r-1'))).toString(), 'original');
      });
    });

    it('overwrites an existing key', async () => {
      await withOpen('overwrite', async (s) => {
        await call(() => s.put('s-7', Buffer.from('first, longer value')));
        await call(() => s.put('s-7', Buffer.from('second')));
        assert.equal((await call(() => s.get('s-7'))).toString(), 'second');
        assert.deepEqual(await call(() => s.keys()), ['s-7']);
      });
    });

    it('get of a missing key rejects with ERR_PERSISTENCE_NO_SUCH_KEY', async () => {
      await withOpen('missing', async (s) => {
        const err = await assertPersistenceError(() => s.get('sc5-9'), 'ERR_PERSISTENCE_NO_SUCH_KEY');
        assert.equal(err.op, 'get');
        assert.equal(err.key, 'sc5-9');
      });
    });

    it('remove of a missing key succeeds; remove of a present key removes it', async () => {
      await withOpen('remove', async (s) => {
        await call(() => s.remove('s5-404'));
        await call(() => s.put('s-1', Buffer.from('x')));
        await call(() => s.remove('s-1'));
        assert.equal(await call(() => s.containsKey('s-1')), false);
        await assertPersistenceError(() => s.get('s-1'), 'ERR_PERSISTENCE_NO_SUCH_KEY');
      });
    });

    it('keys lists exactly what was put, and nothing from another keyspace', async () => {
      await withOpen('keys', async (s, clientId) => {
        assert.deepEqual(await call(() => s.keys()), []);
        // The same store switches keyspaces: same clientId on another server URI, and
        // another clientId on the same URI.
        const others: Array<[string, string]> = [
          [clientId, 'ssl://127.0.0.1:8883'],
          [`${clientId}-x`, SERVER],
        ];
        try {
          await call(() => s.close());
          for (const [id, uri] of others) {
            await call(() => s.open(id, uri));
            await call(() => s.put('s-100', Buffer.from(`${id} ${uri}`)));
            await call(() => s.close());
          }
          await call(() => s.open(clientId, SERVER));
          const put = ['c-12', 's-3', 'sc5-7', 'r-1', 'q5-999999'];
          for (const k of put) await call(() => s.put(k, Buffer.from(k)));
          const got = await call(() => s.keys());
          assert.deepEqual([...got].sort(), [...put].sort());
          assert.equal(await call(() => s.containsKey('s-100')), false);
        } finally {
          await call(() => s.close());
          for (const [id, uri] of others) {
            await call(() => s.open(id, uri));
            assert.deepEqual(await call(() => s.keys()), ['s-100'], `keyspace ${id} ${uri} must be untouched`);
            await call(() => s.clear());
            await call(() => s.close());
          }
          await call(() => s.open(clientId, SERVER));
        }
      });
    });

    it('containsKey answers true for a stored key and false otherwise', async () => {
      await withOpen('contains', async (s) => {
        await call(() => s.put('c-1', Buffer.from('x')));
        assert.equal(await call(() => s.containsKey('c-1')), true);
        assert.equal(await call(() => s.containsKey('c-2')), false);
      });
    });

    it('clear empties this client only', async () => {
      await withOpen('clear', async (s, clientId) => {
        const otherId = `${clientId}-other`;
        await call(() => s.close());
        await call(() => s.open(otherId, SERVER));
        await call(() => s.put('s-1', Buffer.from('keep me')));
        await call(() => s.close());
        await call(() => s.open(clientId, SERVER));
        try {
          await call(() => s.put('s-1', Buffer.from('drop me')));
          await call(() => s.put('s-2', Buffer.from('drop me too')));
          await call(() => s.clear());
          assert.deepEqual(await call(() => s.keys()), []);
          assert.equal(await call(() => s.containsKey('s-1')), false);
          await call(() => s.clear()); // clearing an empty keyspace is fine too
        } finally {
          await call(() => s.close());
          await call(() => s.open(otherId, SERVER));
          const kept = await call(() => s.get('s-1'));
          await call(() => s.clear());
          await call(() => s.close());
          await call(() => s.open(clientId, SERVER));
          assert.equal(kept.toString(), 'keep me');
        }
      });
    });

    it('close then reopen with the same ids sees the same data (restore)', async () => {
      await withOpen('restore', async (s, clientId) => {
        await call(() => s.put('c-1', Buffer.from('queued command')));
        await call(() => s.put('s-1', Buffer.from([1, 2, 3])));
        await call(() => s.close());
        await call(() => s.open(clientId, SERVER));
        assert.deepEqual([...(await call(() => s.keys()))].sort(), ['c-1', 's-1']);
        assert.equal((await call(() => s.get('c-1'))).toString(), 'queued command');
        assert.deepEqual(await call(() => s.get('s-1')), Buffer.from([1, 2, 3]));
      });
    });

    it('operations after close reject with ERR_PERSISTENCE_NOT_OPEN; close is idempotent', async () => {
      const made = await make();
      try {
        await assertPersistenceError(() => made.store.put('s-1', Buffer.from('x')), 'ERR_PERSISTENCE_NOT_OPEN');
        await call(() => made.store.open(uniqueClientId('notopen'), SERVER));
        await call(() => made.store.close());
        await call(() => made.store.close());
        const err = await assertPersistenceError(() => made.store.get('s-1'), 'ERR_PERSISTENCE_NOT_OPEN');
        assert.equal(err.op, 'get');
        await assertPersistenceError(() => made.store.keys(), 'ERR_PERSISTENCE_NOT_OPEN');
      } finally {
        await made.cleanup();
      }
    });

    it("two stores with different client ids never see each other's keys", async () => {
      const a = await make();
      const b = await make();
      const idA = uniqueClientId('a');
      const idB = uniqueClientId('b');
      try {
        await call(() => a.store.open(idA, SERVER));
        await call(() => b.store.open(idB, SERVER));
        await call(() => a.store.put('s-1', Buffer.from('from a')));
        await call(() => b.store.put('s-2', Buffer.from('from b')));
        assert.deepEqual(await call(() => a.store.keys()), ['s-1']);
        assert.deepEqual(await call(() => b.store.keys()), ['s-2']);
        assert.equal(await call(() => a.store.containsKey('s-2')), false);
        await assertPersistenceError(() => b.store.get('s-1'), 'ERR_PERSISTENCE_NO_SUCH_KEY');
      } finally {
        for (const m of [a, b]) {
          await call(() => m.store.clear()).catch(() => undefined);
          await call(() => m.store.close());
          await m.cleanup();
        }
      }
    });

    it('stores a large value (1 MiB)', async () => {
      await withOpen('large', async (s) => {
        const big = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
        await call(() => s.put('s-65535', big));
        const got = await call(() => s.get('s-65535'));
        assert.equal(got.length, big.length);
        assert.ok(got.equals(big), '1 MiB value differs');
      });
    });

    // Stores with the outbox methods meet its contract too (made once more to ask).
    it('has all of the outbox methods or none of them', async () => {
      const made = await make();
      try {
        const missing = missingOutboxMethods(made.store).filter((m) => m !== 'batch');
        assert.ok(missing.length === 0 || missing.length === 5, `partial outbox: lacks ${missing.join(', ')}`);
      } finally {
        await made.cleanup();
      }
    });
    outboxSuiteIfSupported(withOpen, make);

    it('handles many keys (1000)', async () => {
      await withOpen('many', async (s) => {
        const keys = Array.from({ length: 1000 }, (_, i) => `c-${i}`);
        await Promise.all(keys.map((k) => call(() => s.put(k, Buffer.from(`v${k}`)))));
        const listed = await call(() => s.keys());
        assert.equal(listed.length, 1000);
        assert.deepEqual([...listed].sort(), [...keys].sort());
        assert.equal((await call(() => s.get('c-999'))).toString(), 'vc-999');
        await Promise.all(keys.slice(0, 500).map((k) => call(() => s.remove(k))));
        assert.equal((await call(() => s.keys())).length, 500);
      });
    });
  });
}

/** Runs the outbox contract when the stores `make` makes have the outbox methods (asked of one). */
function outboxSuiteIfSupported(withOpen: Parameters<typeof outboxSuite>[0], make: () => Promise<SuiteStore>): void {
  describe('outbox', () => {
    let supported = false;
    before(async () => {
      const made = await make();
      supported = missingOutboxMethods(made.store).length === 0;
      await made.cleanup();
    });
    outboxSuite(withOpen, () => supported);
  });
}
