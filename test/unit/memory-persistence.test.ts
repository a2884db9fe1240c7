import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPersistence } from '../../src/persistence/memory';
import { PersistenceError } from '../../src/errors';
import { persistenceSuite } from '../helpers/persistence-suite';

persistenceSuite('MemoryPersistence', async () => ({
  store: new MemoryPersistence(),
  cleanup: async () => undefined,
}));

describe('MemoryPersistence specifics', () => {
  it('answers synchronously (no promises)', () => {
    const m = new MemoryPersistence();
    assert.equal(m.open('c', 'tcp://h:1883'), undefined);
    assert.equal(m.put('s-1', Buffer.from('x')), undefined);
    const got = m.get('s-1');
    assert.ok(Buffer.isBuffer(got));
    assert.equal(got.toString(), 'x');
    assert.deepEqual(m.keys(), ['s-1']);
    assert.equal(m.containsKey('s-1'), true);
    assert.equal(m.remove('s-1'), undefined);
    assert.equal(m.clear(), undefined);
    assert.equal(m.close(), undefined);
  });

  it('throws synchronously before open and after close', () => {
    const m = new MemoryPersistence();
    assert.throws(
      () => m.keys(),
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_NOT_OPEN' && e.op === 'keys',
    );
    m.open('c', 'u');
    m.close();
    assert.throws(
      () => m.put('s-1', Buffer.alloc(1)),
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_NOT_OPEN' && e.key === 's-1',
    );
  });

  it('get answers a copy: mutating it does not change the stored value', () => {
    const m = new MemoryPersistence();
    m.open('c', 'u');
    m.put('s-1', Buffer.from('abc'));
    m.get('s-1').fill(0);
    assert.equal(m.get('s-1').toString(), 'abc');
  });

  it('data belongs to the instance: another instance does not see it', () => {
    const a = new MemoryPersistence();
    const b = new MemoryPersistence();
    a.open('c', 'u');
    b.open('c', 'u');
    a.put('s-1', Buffer.from('a'));
    assert.deepEqual(b.keys(), []);
    assert.equal(a.keyspaceName, 'c:u');
  });

  it('rejects non-Buffer data with a PersistenceError', () => {
    const m = new MemoryPersistence();
    m.open('c', 'u');
    assert.throws(
      () => m.put('s-1', 'text' as unknown as Buffer),
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_STORE',
    );
    assert.equal(m.containsKey('s-1'), false);
  });
});
