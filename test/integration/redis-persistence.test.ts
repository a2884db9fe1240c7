import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PahoMqttRedisError, PersistenceError } from '../../src/errors';
import { persistenceSuite, assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import * as fs from 'node:fs';
import { startRedis, freePort, makeTestCA, runningServerCount, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const URI = 'tcp://127.0.0.1:1883';

/** Retries a store call until Redis answers it (every 100 ms, errors meanwhile expected). */
const UNTIL_REDIS_ANSWERS = { everyMs: 100, retryErrors: true };

/** Runs fn, expects a PersistenceError, answers it with the elapsed time. */
async function failsWithin(fn: () => Promise<unknown>): Promise<{ err: PersistenceError; ms: number }> {
  const t = Date.now();
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof PersistenceError, `expected a PersistenceError, got ${String(err)}`);
    return { err, ms: Date.now() - t };
  }
  assert.fail('expected the operation to fail');
}

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

describe('RedisPersistence over TLS', () => {
  let secure: RedisServer;
  let tlsOptions: { ca: Buffer; cert: Buffer; key: Buffer };
  before(async () => {
    const ca = await makeTestCA();
    tlsOptions = {
      ca: fs.readFileSync(ca.caCert),
      cert: fs.readFileSync(ca.clientCert),
      key: fs.readFileSync(ca.clientKey),
    };
    secure = await startRedis({ tls: ca });
  });
  after(async () => {
    await secure.stop();
  });

  it('works with a rediss:// url plus redisOptions.tls (CA and client certificate)', async () => {
    assert.match(secure.url, /^rediss:\/\/127\.0\.0\.1:\d+$/);
    const store = new RedisPersistence({ url: secure.url, redisOptions: { tls: tlsOptions } });
    await store.open(uniqueClientId('tls'), URI);
    try {
      await store.put('s-1', Buffer.from([0, 1, 0]));
      assert.deepEqual(await store.get('s-1'), Buffer.from([0, 1, 0]));
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('fails open with ERR_PERSISTENCE_CONNECTION when the CA is not trusted', async () => {
    const store = new RedisPersistence({
      url: secure.url,
      redisOptions: { tls: { cert: tlsOptions.cert, key: tlsOptions.key } },
      operationTimeoutMs: 2000,
    });
    const { err } = await failsWithin(() => store.open('c', URI));
    assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
    assert.match(err.message, /certificate/i);
  });
});

describe('RedisPersistence connection failures', () => {
  it('open against a closed port fails with ERR_PERSISTENCE_CONNECTION quickly', async () => {
    const port = await freePort();
    const store = new RedisPersistence({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 2000 });
    const { err, ms } = await failsWithin(() => store.open('c', URI));
    assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
    assert.equal(err.op, 'open');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.ok(ms < 3000, `open took ${ms} ms`);
    await assertPersistenceError(() => store.keys(), 'ERR_PERSISTENCE_NOT_OPEN');
  });

  describe('with requirepass', () => {
    let secured: RedisServer;
    before(async () => {
      secured = await startRedis({ password: 'right-Pa55' });
    });
    after(async () => {
      await secured.stop();
    });

    it('a wrong password in the url fails open, and the password never appears in the error', async () => {
      const password = 'wr0ng-S3cret/pw';
      const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${secured.port}/0`;
      const store = new RedisPersistence({ url, operationTimeoutMs: 2000 });
      const { err } = await failsWithin(() => store.open('c', URI));
      assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
      assert.match(err.message, /WRONGPASS|invalid/i);
      const everything = [
        err.message,
        String(err.stack),
        String((err.cause as Error | undefined)?.message),
        JSON.stringify(err),
      ].join('\n');
      for (const s of [password, encodeURIComponent(password)])
        assert.ok(!everything.includes(s), 'password leaked into the error');
    });

    it('a wrong password in redisOptions is not leaked either; the right one works', async () => {
      const store = new RedisPersistence({
        redisOptions: { port: secured.port, password: 'S3cr3t-in-options' },
        operationTimeoutMs: 2000,
      });
      const { err } = await failsWithin(() => store.open('c', URI));
      assert.equal(err.code, 'ERR_PERSISTENCE_CONNECTION');
      assert.ok(!err.message.includes('S3cr3t-in-options'));
      const ok = new RedisPersistence({ url: secured.url });
      await ok.open('c', URI);
      await ok.put('s-1', Buffer.from('authed'));
      assert.equal((await ok.get('s-1')).toString(), 'authed');
      await ok.close();
    });
  });

  describe('outages', () => {
    let flaky: RedisServer;
    before(async () => {
      flaky = await startRedis();
    });
    after(async () => {
      await flaky.stop();
    });

    it('Redis stopped mid-run: ops fail in bounded time, then recover after restart', async () => {
      const timeout = 1500;
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: timeout });
      await store.open(uniqueClientId('stop'), URI);
      try {
        await store.put('s-1', Buffer.from('before'));
        await flaky.stop();
        for (const op of [() => store.put('s-2', Buffer.from('during')), () => store.get('s-1')]) {
          const { err, ms } = await failsWithin(op);
          assert.ok(['ERR_PERSISTENCE_STORE', 'ERR_PERSISTENCE_TIMEOUT'].includes(err.code), err.code);
          assert.ok(err.cause !== undefined, 'the original error is kept as cause');
          assert.ok(ms < timeout + 1000, `failing took ${ms} ms`);
        }
        await flaky.restart();
        await waitFor(
          async () => {
            await store.put('s-3', Buffer.from('after'));
            return true;
          },
          'a put after the restart',
          { ...UNTIL_REDIS_ANSWERS, withinMs: 5000 },
        );
        assert.equal((await store.get('s-3')).toString(), 'after');
        assert.deepEqual(await store.keys(), ['s-3'], '--save "" : data from before the restart is gone');
      } finally {
        await store.close();
      }
    });

    it('a frozen Redis makes ops fail with ERR_PERSISTENCE_TIMEOUT, then recover after thaw', async () => {
      const timeout = 800;
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: timeout });
      await store.open(uniqueClientId('freeze'), URI);
      try {
        await store.put('s-1', Buffer.from('x'));
        flaky.freeze();
        try {
          const { err, ms } = await failsWithin(() => store.get('s-1'));
          assert.equal(err.code, 'ERR_PERSISTENCE_TIMEOUT');
          assert.equal(err.op, 'get');
          assert.equal(err.key, 's-1');
          assert.ok(ms >= timeout - 50 && ms < timeout + 1000, `timed out after ${ms} ms`);
          const put = await failsWithin(() => store.put('s-2', Buffer.from('y')));
          assert.equal(put.err.code, 'ERR_PERSISTENCE_TIMEOUT');
        } finally {
          flaky.thaw();
        }
        const value = await waitFor(() => store.get('s-1'), 'a get after the thaw', {
          ...UNTIL_REDIS_ANSWERS,
          withinMs: 5000,
        });
        assert.equal(value.toString(), 'x');
        await store.put('s-3', Buffer.from('z'));
        assert.equal(await store.containsKey('s-3'), true);
        await store.clear();
      } finally {
        await store.close();
      }
    });

    it('close() does not hang while Redis is down', async () => {
      const store = new RedisPersistence({ url: flaky.url, operationTimeoutMs: 1000 });
      await store.open(uniqueClientId('closedown'), URI);
      await flaky.stop();
      const t = Date.now();
      await store.close();
      assert.ok(Date.now() - t < 2000, 'close took too long');
      await assertPersistenceError(() => store.get('s-1'), 'ERR_PERSISTENCE_NOT_OPEN');
      await flaky.restart();
    });
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
