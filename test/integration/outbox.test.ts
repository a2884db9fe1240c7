/**
 * The outbox (client.enqueue()): messages enqueued while the broker is down wait in the store,
 * Paho holds at most the window of them, and once the broker is up every one is delivered, in
 * order, with a 'delivered' event per id. Real Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AsyncClient, MemoryPersistence, RedisPersistence, type ClientPersistence } from '../../src';
import { Inbox, closeAll, uid, waitFor } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const MESSAGES = 2000;
const WINDOW = 50;
/** Counting deliveries: mosquitto must not drop QoS 2 under load (see docs/benchmarks.md). */
const BROKER_CONFIG = 'max_inflight_messages 0\nmax_queued_messages 100000';

let broker: MosquittoServer;
let redis: RedisServer;
let admin: Redis;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto({ extraConfig: BROKER_CONFIG }), startRedis()]);
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  await closeAll(clients);
  admin?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

async function create(clientId: string, persistence: ClientPersistence, window = WINDOW): Promise<AsyncClient> {
  const client = await AsyncClient.create({
    serverURI: broker.url,
    clientId,
    persistence,
    sendWhileDisconnected: true,
    maxBufferedMessages: 1000,
    outbox: { window },
  });
  clients.add(client);
  return client;
}

async function subscriber(filter: string): Promise<Inbox> {
  const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('outbox-sub') });
  clients.add(sub);
  const inbox = new Inbox(sub);
  await sub.connect();
  await sub.subscribe(filter, { qos: 2 });
  return inbox;
}

/** The c- records Paho holds in the client's hash. */
async function commandRecords(hash: string): Promise<number> {
  return (await admin.hkeys(hash)).filter((k) => k.startsWith('c-') || k.startsWith('c5-')).length;
}

describe('enqueue while the broker is down, then deliver', () => {
  it(`${MESSAGES} QoS 1 and 2 messages: delivered in order, QoS 2 once, 'delivered' ids complete, Paho holds at most the window`, async () => {
    await broker.stop();
    const clientId = uid('outbox-offline');
    const store = new RedisPersistence({ url: redis.url });
    const client = await create(clientId, store);
    const hash = store.hashName!;
    const delivered: string[] = [];
    client.on('delivered', (info) => delivered.push(info.id));
    const ids: string[] = [];
    const pending: Promise<{ id: string }>[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const qos = i % 2 === 0 ? 1 : 2;
      pending.push(client.enqueue(`outbox/${clientId}`, Buffer.from(String(i)), { qos }));
    }
    for (const p of pending) ids.push((await p).id);
    assert.equal(new Set(ids).size, MESSAGES, 'every id is distinct');
    assert.deepEqual(
      ids.map(Number),
      [...ids.map(Number)].sort((a, b) => a - b),
      'ids increase in enqueue order',
    );
    await client.flush();
    await waitFor(async () => (await commandRecords(hash)) === WINDOW, 'the pump filled the window');
    const stats = await store.outboxStats();
    assert.equal(stats.length, MESSAGES - WINDOW, 'the rest waits in the outbox');
    assert.equal(await commandRecords(hash), WINDOW, 'Paho holds exactly the window while offline');

    await broker.restart();
    const inbox = await subscriber(`outbox/${clientId}`);
    let maxRecords = 0;
    const watch = setInterval(() => {
      commandRecords(hash).then(
        (n) => (maxRecords = Math.max(maxRecords, n)),
        () => undefined,
      );
    }, 20);
    try {
      await client.connect({ cleanSession: false, maxInflight: WINDOW });
      await waitFor(() => delivered.length >= MESSAGES, `every 'delivered' (have ${delivered.length})`, 60_000);
      await inbox.count(MESSAGES, 20_000);
    } finally {
      clearInterval(watch);
    }
    assert.deepEqual([...delivered].sort(), [...ids].sort(), "'delivered' names every id once");
    const payloads = inbox.messages.map((m) => Number(m.payload.toString()));
    const qos2 = payloads.filter((n) => n % 2 === 1);
    assert.equal(new Set(qos2).size, qos2.length, 'no QoS 2 message twice');
    assert.equal(new Set(payloads).size, MESSAGES, 'every message arrived');
    // MQTT orders messages per QoS (MQTT 3.1.1 4.6): QoS 1 and QoS 2 flows complete at their own pace.
    for (const parity of [0, 1]) {
      const firsts = payloads.filter((n, i) => n % 2 === parity && payloads.indexOf(n) === i);
      assert.deepEqual(
        firsts,
        Array.from({ length: MESSAGES / 2 }, (_, i) => 2 * i + parity),
        `QoS ${parity + 1} in enqueue order`,
      );
    }
    assert.ok(maxRecords <= WINDOW, `Paho never held more than the window (saw ${maxRecords} c- records)`);
    assert.ok(client.outboxStats()!.maxHanded <= WINDOW, 'the pump never handed more than the window');
    assert.equal((await store.outboxStats()).length, 0, 'the outbox is empty');
    await client.close();
  });
});

describe('a broker stalled with the connection up (SIGSTOP)', () => {
  it('enqueues resolve all the same (stored in Redis); once it resumes every message is delivered', async () => {
    const clientId = uid('outbox-stalled');
    const topic = `outbox/${clientId}`;
    const store = new RedisPersistence({ url: redis.url });
    const client = await create(clientId, store, 20);
    const inbox = await subscriber(topic);
    const delivered: string[] = [];
    client.on('delivered', ({ id }) => delivered.push(id));
    await client.connect({ cleanSession: false, keepAliveInterval: 60 });
    process.kill(broker.pid, 'SIGSTOP');
    let results: { id: string }[];
    try {
      results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => client.enqueue(topic, Buffer.from(String(i)), { qos: 1 })),
      );
      assert.equal(results.length, 500, 'every enqueue resolved while the broker was stalled');
      assert.ok((await store.outboxStats()).length >= 500 - 20, 'the backlog waits in the store, not in Paho');
    } finally {
      process.kill(broker.pid, 'SIGCONT');
    }
    await waitFor(() => delivered.length === 500, `every 'delivered' (have ${delivered.length})`, 30_000);
    await inbox.count(500, 20_000);
    assert.deepEqual(
      delivered,
      results.map((r) => r.id),
      "'delivered' in enqueue order",
    );
    await client.close();
  });
});

describe('MemoryPersistence', () => {
  it('enqueue() while connected: delivered in order with their ids', async () => {
    const clientId = uid('outbox-memory');
    const client = await create(clientId, new MemoryPersistence(), 10);
    const inbox = await subscriber(`outbox/${clientId}`);
    const delivered: { id: string; qos: number }[] = [];
    client.on('delivered', ({ id, qos }) => delivered.push({ id, qos }));
    await client.connect();
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        client.enqueue(`outbox/${clientId}`, Buffer.from(String(i)), { qos: (i % 3) as 0 | 1 | 2 }),
      ),
    );
    await waitFor(() => delivered.length === 300, "every 'delivered'");
    await inbox.count(300);
    assert.deepEqual(delivered.map((d) => d.id).sort(), results.map((r) => r.id).sort(), "'delivered' names every id");
    for (const qos of [0, 1, 2]) {
      const expected = results.filter((_, i) => i % 3 === qos).map((r) => r.id);
      assert.deepEqual(
        delivered.filter((d) => d.qos === qos).map((d) => d.id),
        expected,
        `QoS ${qos}: 'delivered' in enqueue order`,
      );
      assert.deepEqual(
        inbox.messages.map((m) => Number(m.payload.toString())).filter((n) => n % 3 === qos),
        Array.from({ length: 100 }, (_, i) => 3 * i + qos),
        `QoS ${qos}: received in enqueue order`,
      );
    }
    await client.close();
  });
});

describe('refusals', () => {
  it('a store without the outbox methods: enqueue() rejects with ERR_OUTBOX_UNSUPPORTED naming them', async () => {
    const plainStore = (memory = new MemoryPersistence()): ClientPersistence => ({
      open: (c, s) => memory.open(c, s),
      close: () => memory.close(),
      put: (k, d) => memory.put(k, d),
      get: (k) => memory.get(k),
      remove: (k) => memory.remove(k),
      keys: () => memory.keys(),
      clear: () => memory.clear(),
      containsKey: (k) => memory.containsKey(k),
    });
    const client = await AsyncClient.create({
      serverURI: broker.url,
      clientId: uid('outbox-plain'),
      persistence: plainStore(),
    });
    clients.add(client);
    await assert.rejects(
      client.enqueue('outbox/plain', Buffer.from('x'), { qos: 1 }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_OUTBOX_UNSUPPORTED');
        assert.match(e.message, /outboxAppend, outboxRead, outboxRemove, outboxLastId, outboxStats, batch/);
        return true;
      },
    );
    await assert.rejects(
      AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('outbox-plain'),
        persistence: plainStore(),
        outbox: { window: 10 },
      }),
      { code: 'ERR_OUTBOX_UNSUPPORTED' },
    );
    await client.close();
  });

  it('deleteOldestMessages with an outbox is refused at create()', async () => {
    await assert.rejects(
      AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('outbox-delete-oldest'),
        persistence: new MemoryPersistence(),
        deleteOldestMessages: true,
        outbox: {},
      }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_OUTBOX_UNSUPPORTED');
        assert.match(e.message, /deleteOldestMessages/);
        return true;
      },
    );
  });

  it('a window above maxBufferedMessages is refused at create()', async () => {
    await assert.rejects(
      AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('outbox-window'),
        persistence: new MemoryPersistence(),
        maxBufferedMessages: 100,
        outbox: { window: 101 },
      }),
      { code: 'ERR_INVALID_ARG', message: /outbox.window must be an integer from 1 to maxBufferedMessages \(100\)/ },
    );
  });

  it('Redis with maxmemory-policy allkeys-lru: open() refuses with ERR_PERSISTENCE_EVICTION, unless allowed', async () => {
    const evicting = await startRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
    try {
      await assert.rejects(
        AsyncClient.create({
          serverURI: broker.url,
          clientId: uid('outbox-evicting'),
          persistence: new RedisPersistence({ url: evicting.url }),
        }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'ERR_PERSISTENCE_EVICTION');
          assert.match(e.message, /allkeys-lru/);
          return true;
        },
      );
      const allowed = await AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('outbox-evicting'),
        persistence: new RedisPersistence({ url: evicting.url, allowEvictingPolicy: true }),
      });
      await allowed.close();
    } finally {
      await evicting.stop();
    }
  });
});
