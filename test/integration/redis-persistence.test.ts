/**
 * RedisPersistence against a throw-away redis-server: the store contract (persistenceSuite), the
 * hash layout, open/close races, the options' checks and the command counts. TLS and connection
 * failures are in redis-connection.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PahoMqttRedisError } from '../../src/errors';
import { persistenceSuite, assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import { startRedis, runningServerCount, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const URI = 'tcp://127.0.0.1:1883';

/** Retries a store call until Redis answers it (every 100 ms, errors meanwhile expected). */
const UNTIL_REDIS_ANSWERS = { everyMs: 100, retryErrors: true };

let server: RedisServer;
let raw: Redis;

before(async () => {
  server = await startRedis();
  raw = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  raw?.disconnect();
  await server?.stop();
  assert.equal(runningServerCount(), 0, 'a redis-server started by this file is still running');
});

persistenceSuite('RedisPersistence', async () => ({
  store: new RedisPersistence({ url: server.url, operationTimeoutMs: 3000 }),
  cleanup: async () => undefined,
}));

describe('RedisPersistence layout', () => {
  it('uses one hash named `${keyPrefix}${clientId}:${serverURI}` (paho-mqtt-redis layout)', async () => {
    const id = uniqueClientId('layout');
    for (const prefix of ['', 'pmr:']) {
      const store = new RedisPersistence({ url: server.url, keyPrefix: prefix });
      await store.open(id, URI);
      try {
        assert.equal(store.hashName, `${prefix}${id}:${URI}`);
        await store.put('s-1', Buffer.from([0, 1, 2]));
        await store.put('c-12', Buffer.from('cmd'));
        const all = await raw.hgetallBuffer(`${prefix}${id}:${URI}`);
        assert.deepEqual(Object.keys(all).sort(), ['c-12', 's-1']);
        assert.deepEqual(all['s-1'], Buffer.from([0, 1, 2]));
        assert.equal(await raw.type(`${prefix}${id}:${URI}`), 'hash');
        await store.clear();
        assert.equal(await raw.exists(`${prefix}${id}:${URI}`), 0, 'clear must delete the hash');
      } finally {
        await store.close();
      }
      assert.equal(store.hashName, undefined);
    }
  });

  it('reads a hash written by someone else with the same layout', async () => {
    const id = uniqueClientId('interop');
    await raw.hset(`${id}:${URI}`, 'r-5', Buffer.from([0xff, 0, 0xfe]));
    const store = new RedisPersistence({ url: server.url });
    await store.open(id, URI);
    try {
      assert.deepEqual(await store.keys(), ['r-5']);
      assert.deepEqual(await store.get('r-5'), Buffer.from([0xff, 0, 0xfe]));
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('keyPrefix isolates stores with the same clientId', async () => {
    const id = uniqueClientId('prefix');
    const a = new RedisPersistence({ url: server.url, keyPrefix: 'a:' });
    const b = new RedisPersistence({ url: server.url, keyPrefix: 'b:' });
    await a.open(id, URI);
    await b.open(id, URI);
    try {
      await a.put('s-1', Buffer.from('a'));
      assert.deepEqual(await b.keys(), []);
      assert.equal(await b.containsKey('s-1'), false);
      await b.put('s-1', Buffer.from('b'));
      assert.equal((await a.get('s-1')).toString(), 'a');
    } finally {
      await a.clear();
      await b.clear();
      await a.close();
      await b.close();
    }
  });
});

describe('RedisPersistence lifecycle', () => {
  it('concurrent opens share one connection; close() during open makes that open fail cleanly', async () => {
    const clients = async (): Promise<number> => ((await raw.client('LIST')) as string).trim().split('\n').length;
    const before = await clients();
    const store = new RedisPersistence({ url: server.url });
    const id = uniqueClientId('concurrent');
    await Promise.all([store.open(id, URI), store.open(id, URI)]);
    assert.equal(await clients(), before + 1, 'exactly one new connection');
    await store.close();
    await waitFor(async () => (await clients()) === before, 'the connections closed', {
      ...UNTIL_REDIS_ANSWERS,
      withinMs: 2000,
    });

    const racing = store.open(id, URI);
    const closing = store.close();
    await assertPersistenceError(() => racing, 'ERR_PERSISTENCE_NOT_OPEN');
    await closing;
    assert.equal(store.hashName, undefined);
    await waitFor(async () => (await clients()) === before, 'the connections closed', {
      ...UNTIL_REDIS_ANSWERS,
      withinMs: 2000,
    });
  });
});

describe('RedisPersistence keys left behind', () => {
  it('close() deletes the outbox account of an empty outbox (the stream stays, for its ids); one with entries keeps it', async () => {
    const id = uniqueClientId('account');
    const store = new RedisPersistence({ url: server.url });
    const keysOf = async (): Promise<string[]> => (await raw.keys(`*${id}*`)).sort();
    try {
      await store.open(id, URI);
      const hash = store.hashName!;
      const account = `{${hash}}:outbox-account`;
      const stream = `{${hash}}:outbox`;
      // What every client does: the outbox clock's checkpoint, Paho's records written and removed.
      await store.outboxWriteClock({ outboxMs: 5, wallMs: Date.now() });
      await store.put('s-1', Buffer.from('x'));
      await store.remove('s-1');
      assert.deepEqual(await keysOf(), [account, `{${hash}}:lease`].sort(), 'while open: the account and the lease');
      await store.close();
      assert.deepEqual(await keysOf(), [], 'a client that never enqueued leaves no key behind');

      await store.open(id, URI);
      await store.outboxAppend([{ id: '1', data: Buffer.from('entry') }]);
      await store.outboxWriteClock({ outboxMs: 7, wallMs: Date.now() });
      await store.close();
      assert.deepEqual(await keysOf(), [account, stream].sort(), 'an outbox with an entry keeps its account');
      assert.equal(await raw.hget(account, 'clock'), '7', 'and its clock checkpoint');

      await store.open(id, URI);
      await store.outboxRemove(['1']);
      await store.close();
      assert.deepEqual(await keysOf(), [stream], 'emptied: the account goes, the stream stays');
      await store.open(id, URI);
      assert.equal(await store.outboxLastId(), '1', 'the next id follows the last one');
      await store.clear();
      await store.close();
      assert.deepEqual(await keysOf(), []);
    } finally {
      await store.close(); // idempotent; a failed assertion must not leave the connection open
    }
  });
});

describe('RedisPersistence options', () => {
  const bad = (opts: unknown, mentions: RegExp): void => {
    assert.throws(
      () => new RedisPersistence(opts as never),
      (e: unknown) => {
        assert.ok(e instanceof PahoMqttRedisError, `expected PahoMqttRedisError, got ${String(e)}`);
        assert.equal(e.code, 'ERR_INVALID_ARG');
        assert.match(e.message, mentions);
        return true;
      },
    );
  };

  it('rejects url together with client', () => {
    bad({ url: 'redis://127.0.0.1:1', client: raw }, /url and options\.client are exclusive/);
  });

  it('rejects a non-redis scheme and an unparseable url without echoing it', () => {
    bad({ url: 'http://127.0.0.1:6379' }, /redis:\/\/ or rediss:\/\/.*'http:\/\/'/);
    assert.throws(
      () => new RedisPersistence({ url: 'not a url :secretpw' }),
      (e: unknown) => {
        assert.ok(e instanceof PahoMqttRedisError && e.code === 'ERR_INVALID_ARG');
        assert.doesNotMatch(e.message, /secretpw/);
        return true;
      },
    );
  });

  it('rejects operationTimeoutMs 0, -1, NaN, 1.5 and strings', () => {
    for (const v of [0, -1, NaN, 1.5, Infinity, '100'])
      bad({ operationTimeoutMs: v }, /operationTimeoutMs must be a positive integer/);
  });

  it("rejects a durability other than 'batched' or 'sync', and bad log bounds", () => {
    for (const v of ['fast', 'SYNC', 1, null]) bad({ durability: v }, /durability must be 'batched' or 'sync'/);
    for (const v of [0, -5, 1.5, NaN, '10']) bad({ maxQueuedOps: v }, /maxQueuedOps/);
    for (const v of [1023, 0, 2.5, '4096']) bad({ maxQueuedBytes: v }, /maxQueuedBytes/);
    const s = new RedisPersistence({ durability: 'sync', maxQueuedOps: 1, maxQueuedBytes: 1024 });
    assert.deepEqual([s.durability, s.maxQueuedOps, s.maxQueuedBytes], ['sync', 1, 1024]);
    assert.equal(new RedisPersistence().durability, 'batched');
  });

  it('rejects unknown options, a non-string keyPrefix, a bad client and redisOptions.keyPrefix', () => {
    bad({ uri: 'redis://x' }, /unknown option 'uri'/);
    bad({ keyPrefix: 3 }, /keyPrefix must be a string/);
    bad({ client: {} }, /client must be an ioredis/);
    bad({ redisOptions: { keyPrefix: 'x:' } }, /use options\.keyPrefix/);
    bad({ client: raw, redisOptions: {} }, /redisOptions cannot be combined/);
  });

  it('exposes operationTimeoutMs (default 5000) and keyPrefix', () => {
    assert.equal(new RedisPersistence().operationTimeoutMs, 5000);
    const s = new RedisPersistence({ operationTimeoutMs: 250, keyPrefix: 'k:' });
    assert.equal(s.operationTimeoutMs, 250);
    assert.equal(s.keyPrefix, 'k:');
    assert.equal(s.hashName, undefined, 'no hash name before open');
  });

  it('accepts redisOptions (host/port/db) without a url', async () => {
    const store = new RedisPersistence({ redisOptions: { host: '127.0.0.1', port: server.port, db: 3 } });
    const id = uniqueClientId('db3');
    await store.open(id, URI);
    try {
      await store.put('s-1', Buffer.from('in db 3'));
      const db3 = new Redis(server.port, '127.0.0.1', { db: 3 });
      try {
        assert.equal(await db3.hget(`${id}:${URI}`, 's-1'), 'in db 3');
      } finally {
        db3.disconnect();
      }
      assert.equal(await raw.exists(`${id}:${URI}`), 0, 'nothing in db 0');
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('never quits a user-supplied client', async () => {
    const client = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
    try {
      const store = new RedisPersistence({ client, operationTimeoutMs: 2000 });
      const id = uniqueClientId('user');
      await store.open(id, URI);
      await store.put('s-1', Buffer.from('mine'));
      assert.equal((await store.get('s-1')).toString(), 'mine');
      await store.clear();
      await store.close();
      await store.close();
      assert.equal(client.status, 'ready');
      assert.equal(await client.ping(), 'PONG');
    } finally {
      await client.quit();
    }
  });
});

describe('RedisPersistence.commandStats', () => {
  /** Commands Redis executed since the last CONFIG RESETSTAT, INFO and CONFIG (this test's own) left out. */
  async function executed(): Promise<number> {
    const info = await raw.info('commandstats');
    let calls = 0;
    for (const [, command, n] of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
      if (command !== 'info' && !command.startsWith('config')) calls += Number(n);
    }
    return calls;
  }

  it('counts every command it sends, reads, admin calls and batches included, as Redis counts them', async () => {
    const id = uniqueClientId('stats');
    // Without a lease: its timed renewals would land in the counting window at random.
    const store = new RedisPersistence({
      url: server.url,
      encryption: { key: Buffer.alloc(32, 7), keyId: 'k1' },
      lease: false,
    });
    await store.open(id, URI);
    try {
      // Before the window: Redis also counts the commands a script runs, the store one EVAL.
      await store.put('c-1', Buffer.from('damaged'));
      await store.quarantine('c-1', 'test');
      const before = store.commandStats();
      await raw.config('RESETSTAT');
      await store.put('s-1', Buffer.from('one'));
      await store.get('s-1');
      await store.containsKey('s-2');
      await store.keys();
      await store.batch([
        { key: 'c-1', data: Buffer.from('cmd') },
        { key: 's-1', data: undefined },
      ]);
      assert.equal((await store.quarantined()).length, 1);
      await store.put('s-3', Buffer.from('three'));
      assert.deepEqual(await store.reencrypt(), { reencrypted: 0, current: 2, skipped: 0 }); // c-1, s-3
      await store.remove('s-3');
      await store.probe();
      const after = store.commandStats();
      const counted = after.commands - before.commands;
      assert.equal(counted, await executed(), 'the store counts what Redis executed');
      // put, get, containsKey, keys, batch (MULTI, HSET, HDEL, EXEC), quarantined, put,
      // reencrypt (HKEYS, 2 HGETs), remove, probe
      assert.equal(counted, 15);
      assert.equal(after.roundTrips - before.roundTrips, 12);
    } finally {
      await store.close();
    }
  });
});
