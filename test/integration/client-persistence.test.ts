/**
 * AsyncClient with a ClientPersistence: RedisPersistence keeps only what is in flight, messages
 * queued while never connected survive into a new process that restores and sends them, the
 * publish window, and flush(). How store failures surface is in client-store-failures.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AsyncClient,
  MemoryPersistence,
  PahoMqttRedisError,
  PersistenceError,
  RedisPersistence,
  type PersistenceWrite,
} from '../../src';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, hashKeys, runFixture, uid, waitFor } from '../helpers/client-common';

const servers = useFileServers();
const { clients } = servers;

describe('RedisPersistence under a live client', () => {
  it('holds in-flight QoS 1/2 state in `${clientId}:${host:port}` and nothing once all is acknowledged', async () => {
    const clientId = uid('rp');
    const store = new RedisPersistence({ url: servers.redis.url });
    const client = await AsyncClient.create({ serverURI: servers.broker.url, clientId, persistence: store });
    clients.add(client);
    const failures: PersistenceError[] = [];
    client.on('persistenceError', (e) => failures.push(e));
    // Paho hands the store the URI without its scheme.
    assert.equal(store.hashName, `${clientId}:127.0.0.1:${servers.broker.port}`);
    await client.connect({ cleanSession: false });
    const inbox = new Inbox(client);
    const topic = uid('rp-topic');
    await client.subscribe(topic, { qos: 2 }); // inbound QoS 2 goes through the store too (r- keys)
    const hash = store.hashName;
    process.kill(servers.broker.pid, 'SIGSTOP'); // hold the acknowledgements
    let publishing: Promise<unknown>;
    try {
      publishing = Promise.all(
        Array.from({ length: 10 }, (_, i) => client.publish(topic, Buffer.from(`m${i}`), { qos: i % 2 === 0 ? 1 : 2 })),
      );
      await waitFor(
        async () => (await hashKeys(servers.redis.port, hash)).filter((k) => /^s-\d+$/.test(k)).length === 10,
        '10 unacknowledged PUBLISH records (s-N) in the hash',
      );
    } finally {
      process.kill(servers.broker.pid, 'SIGCONT');
    }
    await publishing;
    await inbox.count(10);
    assert.deepEqual(
      inbox.messages.map((m) => m.payload.toString()).sort(),
      Array.from({ length: 10 }, (_, i) => `m${i}`).sort(),
    );
    await waitFor(async () => (await hashKeys(servers.redis.port, hash)).length === 0, 'an empty hash');
    assert.deepEqual(await client.getPendingTokens(), []);
    await client.disconnect({ timeout: 1000 });
    await client.close();
    assert.deepEqual(await hashKeys(servers.redis.port, hash), []);
    assert.deepEqual(failures, []);
  });
});

describe('sendWhileDisconnected across processes', () => {
  it('messages published before any connect are restored, sent and completed by a new process', async () => {
    const clientId = uid('swd');
    const topic = uid('swd-topic');
    const count = 5;
    const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('swd-sub') });
    clients.add(subscriber);
    const inbox = new Inbox(subscriber);
    await subscriber.connect();
    await subscriber.subscribe(topic, { qos: 1 });

    const store = new RedisPersistence({ url: servers.redis.url });
    const offline = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId,
      persistence: store,
      sendWhileDisconnected: true,
    });
    clients.add(offline);
    const hash = store.hashName!;
    const outcomes: unknown[] = [];
    for (let i = 0; i < count; i++) {
      // Never connected: these stay pending (not awaited) until close.
      offline.publish(topic, Buffer.from(`offline-${i}`), { qos: 1 }).then(
        (r) => outcomes.push(r),
        (e) => outcomes.push(e),
      );
    }
    await waitFor(
      async () => (await hashKeys(servers.redis.port, hash)).length === count,
      `${count} queued commands in the hash`,
    );
    assert.deepEqual(
      await hashKeys(servers.redis.port, hash),
      Array.from({ length: count }, (_, i) => `c-${i + 1}`).sort(),
    );
    await offline.close();
    await waitFor(() => outcomes.length === count, 'the pending publishes to settle at close');
    assert.ok(
      outcomes.every((o) => o instanceof PahoMqttRedisError),
      `pending publishes end rejected: ${outcomes.map(String).join('; ')}`,
    );
    assert.equal((await hashKeys(servers.redis.port, hash)).length, count, 'close keeps the queued commands');
    assert.equal(inbox.messages.length, 0);

    const child = runFixture('client-restore', {
      serverURI: servers.broker.url,
      clientId,
      redisUrl: servers.redis.url,
    });
    const exit = await child.exited;
    assert.equal(exit.code, 0, `child failed: ${child.stderr()}`);
    const events = child.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const restored = events.find((e) => e.restored)?.restored as number[];
    assert.equal(restored.length, count, `restored tokens: ${JSON.stringify(restored)}`);
    const completed = events.filter((e) => e.deliveryComplete !== undefined).map((e) => e.deliveryComplete as number);
    assert.deepEqual([...completed].sort(), [...restored].sort(), 'deliveryComplete fired for each restored message');
    assert.ok(
      events.some((e) => e.done),
      'the child finished',
    );
    assert.deepEqual(
      events.filter((e) => e.persistenceError),
      [],
    );

    await inbox.count(count);
    assert.deepEqual(
      inbox.messages.map((m) => m.payload.toString()),
      Array.from({ length: count }, (_, i) => `offline-${i}`),
    );
    assert.deepEqual(await hashKeys(servers.redis.port, hash), []);
  });
});

describe('the publish window (Paho gets at most maxInflight QoS 1/2 publishes while connected)', () => {
  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: 60 publishes at once with maxInflight 3 all complete, in order, through RedisPersistence`, async () => {
      const store = new RedisPersistence({ url: servers.redis.url });
      const client = await AsyncClient.create({
        serverURI: servers.broker.url,
        clientId: uid('win'),
        persistence: store,
      });
      clients.add(client);
      await client.connect({ cleanSession: true, maxInflight: 3 });
      const topic = uid('win-topic');
      const inbox = new Inbox(client);
      await client.subscribe(topic, { qos });
      const total = 60;
      await Promise.all(
        Array.from({ length: total }, (_, i) => client.publish(topic, Buffer.from(String(i)), { qos })),
      );
      await waitFor(() => inbox.on(topic).length === total, `${total} messages back`);
      assert.deepEqual(
        inbox.on(topic).map((m) => Number(m.payload.toString())),
        Array.from({ length: total }, (_, i) => i),
      );
      await client.flush();
      assert.deepEqual(await hashKeys(servers.redis.port, store.hashName!), [], 'nothing left in Redis');
      await client.disconnect({ timeout: 1000 });
    });
  }
});

describe('client.flush()', () => {
  it("resolves once Redis holds every message published before it (durability 'batched')", async () => {
    const store = new RedisPersistence({ url: servers.redis.url });
    // Never connected: the messages stay queued as commands (c-N), nothing completes them.
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('flush'),
      persistence: store,
      sendWhileDisconnected: true,
    });
    clients.add(client);
    const topic = uid('flush-topic');
    for (let i = 0; i < 5; i++) void client.publish(topic, Buffer.from(`m${i}`), { qos: 1 }).catch(() => undefined);
    await client.flush();
    const keys = await hashKeys(servers.redis.port, store.hashName!);
    assert.equal(keys.filter((k) => /^c-\d+$/.test(k)).length, 5, `keys: ${keys.join(',')}`);
    const stats = client.stats().store!;
    assert.equal(stats.queueDepth, 0);
    assert.ok(stats.opsLogged >= 5 && stats.batches >= 1);
  });

  it('waits for publishes the window still holds: every one reached the store when it resolves', async () => {
    // durability 'sync': no write is absorbed, so every publish handed to Paho leaves its payload
    // in some write the store saw; one the window still held has left none.
    const stored = new Set<string>();
    const store = new (class extends MemoryPersistence {
      readonly durability = 'sync';
      override put(key: string, data: Buffer): void {
        stored.add(data.toString('latin1'));
        super.put(key, data);
      }
      override batch(writes: readonly PersistenceWrite[]): void {
        for (const w of writes) if (w.data !== undefined) stored.add(w.data.toString('latin1'));
        super.batch(writes);
      }
    })();
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('flush-window'),
      persistence: store,
    });
    clients.add(client);
    await client.connect({ cleanSession: true, maxInflight: 1 });
    const topic = uid('flush-window-topic');
    const publishes = Array.from({ length: 40 }, (_, i) =>
      client.publish(topic, Buffer.from(`window-message-${i}`), { qos: 1 }),
    );
    await client.flush(); // with maxInflight 1, most of the 40 wait in the window when it is called
    const storedAtFlush = [...stored];
    const missing = publishes
      .map((_, i) => i)
      .filter((i) => !storedAtFlush.some((v) => v.includes(`window-message-${i}`)));
    assert.deepEqual(missing, [], 'messages no write had carried to the store when flush() resolved');
    await Promise.all(publishes);
  });

  it('resolves at once without a user store', async () => {
    const client = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('flush-none') });
    clients.add(client);
    await client.flush();
    assert.equal(client.stats().store, undefined);
  });
});
