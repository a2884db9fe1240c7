/**
 * RedisPersistence's encryption at rest against a throw-away redis-server: only ciphertext in
 * Redis, what a wrong key or a moved value does, key rotation and reencrypt().
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import Redis from 'ioredis';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { persistenceSuite, assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import { startRedis, runningServerCount, type RedisServer } from '../helpers/servers';

const URI = 'tcp://127.0.0.1:1883';

let plain: RedisServer;
let raw: Redis;

before(async () => {
  plain = await startRedis();
  raw = new Redis(plain.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  raw?.disconnect();
  await plain?.stop();
  assert.equal(runningServerCount(), 0, 'a redis-server started by this file is still running');
});

describe('encryption at rest', () => {
  const key1 = crypto.randomBytes(32);
  const key2 = crypto.randomBytes(32);
  const secret = 'TOP SECRET payload: door code 4711';
  const enc = (encryption: object, extra: object = {}): RedisPersistence =>
    new RedisPersistence({ url: plain.url, encryption: encryption as never, ...extra });

  persistenceSuite('RedisPersistence with encryption', async () => ({
    store: enc({ key: key1, keyId: 'k1' }, { operationTimeoutMs: 3000 }),
    cleanup: async () => undefined,
  }));

  it('Redis holds only encrypted values; a new store with the same key restores them', async () => {
    const id = uniqueClientId('encrypted');
    const name = `${id}:${URI}`;
    const store = enc({ key: key1, keyId: 'k1' });
    await store.open(id, URI);
    await store.put('s-1', Buffer.from(secret));
    await store.put('c-2', Buffer.from(`${secret} again`));
    await store.put('r-3', Buffer.alloc(0));
    assert.equal((await store.get('s-1')).toString(), secret);
    await store.close();
    const all = await raw.hgetallBuffer(name);
    assert.deepEqual(Object.keys(all).sort(), ['c-2', 'r-3', 's-1']);
    for (const v of Object.values(all)) {
      assert.equal(v.subarray(0, 4).toString(), 'PMRS');
      assert.ok(!v.includes(Buffer.from('SECRET')) && !v.includes(Buffer.from('4711')), 'plaintext visible in Redis');
    }
    const again = enc({ key: key1, keyId: 'k1' });
    await again.open(id, URI);
    try {
      assert.deepEqual((await again.keys()).sort(), ['c-2', 'r-3', 's-1']);
      assert.equal((await again.get('c-2')).toString(), `${secret} again`);
      assert.equal((await again.get('r-3')).length, 0);
    } finally {
      await again.clear();
      await again.close();
    }
  });

  it('a wrong key, an unknown keyId or a moved value: ERR_PERSISTENCE_DECRYPT, and nothing is deleted', async () => {
    const id = uniqueClientId('wrongkey');
    const name = `${id}:${URI}`;
    const good = enc({ key: key1, keyId: 'k1' });
    await good.open(id, URI);
    for (const k of ['s-1', 's-2', 'c-3']) await good.put(k, Buffer.from(`${secret} ${k}`));
    await good.close();
    const before = await raw.hgetallBuffer(name);
    await raw.hset(name, 'moved', before['s-1']);
    const checks: Array<[object, string, RegExp]> = [
      [{ key: key2, keyId: 'k1' }, 's-1', /authentication failed/],
      [{ key: key1, keyId: 'k9' }, 's-2', /keyId "k1".*neither the current key/],
      [{ key: key1, keyId: 'k1' }, 'moved', /authentication failed/],
    ];
    for (const [encryption, field, why] of checks) {
      const store = enc(encryption);
      await store.open(id, URI);
      try {
        const err = await assertPersistenceError(() => store.get(field), 'ERR_PERSISTENCE_DECRYPT');
        assert.equal(err.op, 'get');
        assert.equal(err.key, field);
        assert.match(err.message, why);
        assert.match(err.message, new RegExp(`cannot decrypt key '${field}' in hash '${id}.*left in Redis untouched`));
        assert.deepEqual((await store.keys()).sort(), ['c-3', 'moved', 's-1', 's-2']);
      } finally {
        await store.close();
      }
    }
    const afterAll = await raw.hgetallBuffer(name);
    assert.deepEqual(afterAll, { ...before, moved: before['s-1'] }, 'the hash is byte-for-byte unchanged');
    await raw.del(name);
  });

  it('key rotation: new keyId encrypts new values, previousKeys reads old ones, reencrypt() retires the old key', async () => {
    const id = uniqueClientId('rotate');
    const name = `${id}:${URI}`;
    const keyIdOf = async (f: string): Promise<string> => {
      const v = (await raw.hgetBuffer(name, f))!;
      return v.toString('latin1', 6, 6 + v[5]);
    };
    const v1 = enc({ key: key1, keyId: 'k1' });
    await v1.open(id, URI);
    for (const k of ['s-1', 's-2', 's-3']) await v1.put(k, Buffer.from(`old ${k}`));
    await v1.close();

    const v2 = enc({ key: key2, keyId: 'k2', previousKeys: { k1: key1 } });
    await v2.open(id, URI);
    assert.equal((await v2.get('s-1')).toString(), 'old s-1', 'old values stay readable');
    await v2.put('s-2', Buffer.from('rewritten s-2'));
    await v2.put('s-4', Buffer.from('new s-4'));
    assert.equal(await keyIdOf('s-1'), 'k1');
    assert.equal(await keyIdOf('s-2'), 'k2');
    assert.equal(await keyIdOf('s-4'), 'k2');
    assert.deepEqual(await v2.reencrypt(), { reencrypted: 2, current: 2, skipped: 0 });
    for (const k of ['s-1', 's-2', 's-3', 's-4']) assert.equal(await keyIdOf(k), 'k2');
    await v2.close();

    const v3 = enc({ key: key2, keyId: 'k2' }); // the old key is gone
    await v3.open(id, URI);
    try {
      assert.equal((await v3.get('s-3')).toString(), 'old s-3');
      assert.equal((await v3.get('s-2')).toString(), 'rewritten s-2');
    } finally {
      await v3.clear();
      await v3.close();
    }
  });

  it('reencrypt({ encryptPlaintext: true }) encrypts a hash written without encryption', async () => {
    const id = uniqueClientId('migrate');
    const before = new RedisPersistence({ url: plain.url });
    await before.open(id, URI);
    await before.put('s-1', Buffer.from(secret));
    await before.close();
    const store = enc({ key: key1, keyId: 'k1' });
    await store.open(id, URI);
    try {
      await assertPersistenceError(() => store.get('s-1'), 'ERR_PERSISTENCE_DECRYPT');
      await assertPersistenceError(() => store.reencrypt(), 'ERR_PERSISTENCE_DECRYPT');
      assert.deepEqual(await store.reencrypt({ encryptPlaintext: true }), { reencrypted: 1, current: 0, skipped: 0 });
      assert.ok(!(await raw.hgetBuffer(`${id}:${URI}`, 's-1'))!.includes(Buffer.from('SECRET')));
      assert.equal((await store.get('s-1')).toString(), secret);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('rejects a bad key without echoing it', () => {
    assert.throws(() => enc({ key: Buffer.alloc(16, 0x41), keyId: 'k1' }), /options\.encryption: key must be 32 bytes/);
    assert.throws(() => enc({ key: key1, keyId: 'k1', extra: 1 }), /unknown option 'encryption\.extra'/);
  });
});
