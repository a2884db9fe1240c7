/**
 * One client id, one process: RedisPersistence's lease (src/persistence/redis/lease.ts). A
 * second holder is refused at open() naming the holder, in this process and in another; a
 * holder killed -9 on this host is taken over at once, one on another host once its lease
 * expires; a holder whose lease was taken over writes nothing more.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { AsyncClient, PahoMqttRedisError, RedisPersistence } from '../../src';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { uniqueClientId } from '../helpers/persistence-suite';
import { sleep, waitFor } from '../helpers/wait';
import { companionKeyName } from '../../src/persistence/redis/options';

/** The server URI as Paho hands it to a store (no scheme). */
const URI = '127.0.0.1:1883';

let redis: RedisServer;
let broker: MosquittoServer;
let raw: Redis;

before(async () => {
  [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
  raw = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});
after(async () => {
  raw?.disconnect();
  await Promise.all([redis?.stop(), broker?.stop()]);
});

async function rejectsInUse(p: Promise<unknown>, holder: RegExp): Promise<PahoMqttRedisError> {
  const error = await p.then(
    () => assert.fail('expected ERR_PERSISTENCE_IN_USE'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PahoMqttRedisError, String(error));
  assert.equal(error.code, 'ERR_PERSISTENCE_IN_USE', error.message);
  assert.match(error.message, holder);
  return error;
}

/** A token as another host's process would write it. */
const foreignToken = (host: string) => JSON.stringify({ host, pid: 4242, since: '2026-01-01T00:00:00.000Z', id: 'x' });

describe('RedisPersistence lease', () => {
  it('refuses a second store of the same client in this process until the first closes', async () => {
    const id = uniqueClientId('lease-same');
    const first = new RedisPersistence({ url: redis.url });
    const second = new RedisPersistence({ url: redis.url });
    await first.open(id, URI);
    try {
      assert.equal(await raw.exists(first.leaseKey!), 1);
      const connections = async (): Promise<number> => ((await raw.client('LIST')) as string).trim().split('\n').length;
      const before = await connections();
      await rejectsInUse(second.open(id, URI), new RegExp(`pid ${process.pid} on host '${os.hostname()}'`));
      assert.equal(second.isOpen, false);
      await waitFor(async () => (await connections()) === before, 'the refused open() to keep no connection', 5000);
    } finally {
      await first.close();
    }
    assert.equal(await raw.exists(companionKeyName(`${id}:127.0.0.1:1883`, 'lease')), 0, 'close() released the lease');
    await second.open(id, URI);
    await second.close();
  });

  it('refuses AsyncClient.create in a second process naming the holder; after kill -9, takes over at once', async () => {
    const id = uniqueClientId('lease-procs');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const { RedisPersistence } = require(${JSON.stringify(path.resolve(__dirname, '../../src'))});
         const store = new RedisPersistence({ url: ${JSON.stringify(redis.url)} });
         store.open(${JSON.stringify(id)}, ${JSON.stringify(`127.0.0.1:${broker.port}`)}).then(() => console.log('open'));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let out = '';
      holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes('open'), "the holder's open()", 20_000);
      const create = AsyncClient.create({
        serverURI: broker.url,
        clientId: id,
        persistence: new RedisPersistence({ url: redis.url }),
      });
      await rejectsInUse(create, new RegExp(`pid ${holder.pid} on host`));
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      // The holder's lease is still in Redis (ttl 15 s), but its pid is gone on this host.
      assert.equal(await raw.exists(companionKeyName(`${id}:127.0.0.1:${broker.port}`, 'lease')), 1);
      const client = await AsyncClient.create({
        serverURI: broker.url,
        clientId: id,
        persistence: new RedisPersistence({ url: redis.url }),
      });
      await client.close();
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it("waits out another host's lease: refused with its expiry, open once it expired", async () => {
    const id = uniqueClientId('lease-foreign');
    const key = companionKeyName(`${id}:127.0.0.1:1883`, 'lease');
    await raw.set(key, foreignToken('gateway-b'), 'PX', 1500);
    const store = new RedisPersistence({ url: redis.url, operationTimeoutMs: 500, lease: { ttlMs: 1500 } });
    await rejectsInUse(store.open(id, URI), /pid 4242 on host 'gateway-b'.*expires in 2 s/);
    await waitFor(async () => (await raw.exists(key)) === 0, 'the foreign lease to expire', 5000);
    await store.open(id, URI);
    assert.match((await raw.get(key))!, new RegExp(`"pid":${process.pid}`));
    await store.close();
  });

  it('a holder whose lease was taken over refuses every write from then on', async () => {
    const id = uniqueClientId('lease-lost');
    const store = new RedisPersistence({ url: redis.url, operationTimeoutMs: 500, lease: { ttlMs: 1500 } });
    await store.open(id, URI);
    try {
      await store.put('c-1', Buffer.from('mine'));
      // Another host's process took it over: it can only have, once this one had not renewed
      // for the whole ttl (paused, or cut off from Redis). Past half the ttl without a
      // confirmation, the next write renews first, whether or not the renewal timer ran.
      await raw.set(store.leaseKey!, foreignToken('gateway-b'), 'PX', 60_000);
      await sleep(1000); // deliberate: past half the ttl
      await rejectsInUse(store.put('c-2', Buffer.from('mine')), /taken over by pid 4242 on host 'gateway-b'/);
      await rejectsInUse(
        store.batch([{ key: 'c-3', data: Buffer.from('x') }]),
        /taken over by pid 4242 on host 'gateway-b'/,
      );
      assert.deepEqual(await raw.hkeys(store.hashName!), ['c-1'], 'nothing written after the take-over');
      assert.equal(await raw.get(store.leaseKey!), foreignToken('gateway-b'), "close() leaves the new holder's lease");
    } finally {
      await store.close();
    }
    assert.equal(await raw.exists(companionKeyName(`${id}:127.0.0.1:1883`, 'lease')), 1);
  });

  it('batches made while the lease is being renewed are sent after the one that renews, in call order', async () => {
    const id = uniqueClientId('lease-order');
    const store = new RedisPersistence({ url: redis.url, operationTimeoutMs: 500, lease: { ttlMs: 1500 } });
    await store.open(id, URI);
    try {
      // The first batch finds a renewal under way (50 ms); the next two find the lease fresh.
      const lease = (store as unknown as { lease: { ensureHeld(): Promise<void> | undefined } }).lease;
      const ensureHeld = lease.ensureHeld.bind(lease);
      let renewing = true;
      lease.ensureHeld = () => (renewing ? ((renewing = false), sleep(50)) : ensureHeld());
      const x = (value: string) => ({ key: 'x', data: Buffer.from(value) });
      await Promise.all([
        store.batch([x('a')]),
        store.batch([x('b')]),
        store.batch([{ key: 'y', data: Buffer.from('y') }, { key: 'y', data: undefined }, x('c')]),
      ]);
      assert.equal((await raw.hget(store.hashName!, 'x')) ?? '', 'c', 'a batch overtook the one before it');
    } finally {
      await store.close();
    }
  });

  it('renews a lease that vanished (Redis restarted without persistence)', async () => {
    const id = uniqueClientId('lease-vanished');
    const store = new RedisPersistence({ url: redis.url, operationTimeoutMs: 500, lease: { ttlMs: 1500 } });
    await store.open(id, URI);
    try {
      await raw.del(store.leaseKey!);
      await waitFor(async () => (await raw.exists(store.leaseKey!)) === 1, 'the lease taken again', 5000);
      await store.put('c-1', Buffer.from('still mine'));
    } finally {
      await store.close();
    }
  });

  it('lease: false takes none; bad lease options are refused with their reason', async () => {
    const id = uniqueClientId('lease-off');
    const store = new RedisPersistence({ url: redis.url, lease: false });
    await store.open(id, URI);
    assert.equal(store.leaseKey, undefined);
    assert.equal(await raw.exists(companionKeyName(`${id}:127.0.0.1:1883`, 'lease')), 0);
    await store.close();
    const invalid = (options: object, message: RegExp) =>
      assert.throws(
        () => new RedisPersistence(options),
        (e: unknown) => {
          assert.ok(e instanceof PahoMqttRedisError && e.code === 'ERR_INVALID_ARG');
          assert.match(e.message, message);
          return true;
        },
      );
    invalid({ lease: { ttlMs: 1000 } }, /lease\.ttlMs must be .* above operationTimeoutMs \(5000\)/);
    invalid({ lease: true }, /options\.lease must be false or an object/);
    invalid({ lease: { ttl: 5 } }, /unknown option 'lease\.ttl'/);
  });
});
