/**
 * AsyncClient with a ClientPersistence: RedisPersistence keeps only what is in flight,
 * store failures surface (publish rejections and 'persistenceError' events), and messages
 * queued while never connected survive into a new process that restores and sends them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AsyncClient,
  MemoryPersistence,
  PahoMqttRedisError,
  PersistenceError,
  RedisPersistence,
  type Durability,
  type PersistenceWrite,
} from '../../src';
import { useFileServers } from '../fixtures/file-servers';
import { Inbox, hashKeys, runFixture, uid, waitFor } from '../fixtures/client-common';

const servers = useFileServers();
const { clients } = servers;

/** A MemoryPersistence whose writes (one by one or in a batch) can be made to throw for chosen keys. */
class FaultyStore extends MemoryPersistence {
  failPut?: RegExp;
  failRemove?: RegExp;
  constructor(readonly durability: Durability) {
    super();
  }
  override put(key: string, data: Buffer): void {
    this.check(key, data);
    super.put(key, data);
  }
  override remove(key: string): void {
    this.check(key, undefined);
    super.remove(key);
  }
  override batch(writes: readonly PersistenceWrite[]): void {
    for (const w of writes) this.check(w.key, w.data);
    super.batch(writes);
  }
  private check(key: string, data: Buffer | undefined): void {
    const failing = data === undefined ? this.failRemove : this.failPut;
    if (failing?.test(key)) throw new Error(`injected ${data === undefined ? 'remove' : 'put'} failure for ${key}`);
  }
}

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

describe('store failures', () => {
  // 'sync': in 'batched', the put and remove of an acknowledged s-N usually cancel out unsent.
  it("failures of other operations (remove) arrive as 'persistenceError' events with op and key", async () => {
    const faulty = new FaultyStore('sync');
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('rf'),
      persistence: faulty,
    });
    clients.add(client);
    const events: PersistenceError[] = [];
    client.on('persistenceError', (e) => events.push(e));
    await client.connect();
    faulty.failRemove = /^s-/;
    const { token } = await client.publish(uid('rf-topic'), Buffer.from('x'), { qos: 1 });
    assert.equal(typeof token, 'number');
    await waitFor(() => events.length > 0, "a 'persistenceError' event");
    const [event] = events;
    assert.ok(event instanceof PersistenceError);
    assert.ok(event instanceof PahoMqttRedisError);
    assert.equal(event.code, 'ERR_PERSISTENCE_STORE');
    assert.equal(event.op, 'remove');
    assert.match(event.key ?? '', /^s-\d+$/);
    assert.match(event.message, /injected remove failure/);
    assert.ok(
      events.every((e) => e.op === 'remove'),
      events.map((e) => e.message).join('; '),
    );
  });

  it('sync: a failing put of the queued command rejects publish with a PersistenceError and emits no event', async () => {
    const faulty = new FaultyStore('sync');
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('pf'),
      persistence: faulty,
    });
    clients.add(client);
    const events: PersistenceError[] = [];
    client.on('persistenceError', (e) => events.push(e));
    await client.connect();
    const topic = uid('pf-topic');
    const inbox = new Inbox(client);
    await client.subscribe(topic, { qos: 1 });

    faulty.failPut = /^c-/;
    await assert.rejects(client.publish(topic, Buffer.from('unstored'), { qos: 1 }), (e: unknown) => {
      assert.ok(e instanceof PersistenceError, String(e));
      assert.equal(e.code, 'ERR_PERSISTENCE_STORE');
      assert.equal(e.op, 'put');
      assert.match(e.key ?? '', /^c-\d+$/);
      assert.match(e.message, /injected put failure/);
      return true;
    });
    faulty.failPut = undefined;
    // Paho sends the unstored message from memory anyway; let its flow finish, then check
    // the client still works and that the failure was reported only through the rejection.
    await client.publish(topic, Buffer.from('stored'), { qos: 1 });
    await waitFor(() => inbox.on(topic).some((m) => m.payload.toString() === 'stored'), 'the second message');
    await waitFor(() => faulty.keys().length === 0, 'both flows finished (nothing left in the store)');
    assert.deepEqual(
      events.map((e) => `${e.op} ${e.key}`),
      [],
    );
  });

  it('batched: a command put that fails after Paho went on still rejects its publish, and flush() rejects', async () => {
    const faulty = new FaultyStore('batched');
    // Not connected: the command stays queued, so its put cannot cancel out with its remove.
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('pb'),
      persistence: faulty,
      sendWhileDisconnected: true,
    });
    clients.add(client);
    const events: PersistenceError[] = [];
    client.on('persistenceError', (e) => events.push(e));
    faulty.failPut = /^c-/;
    const topic = uid('pb-topic');
    const publishing = client.publish(topic, Buffer.from('unstored'), { qos: 1 });
    const rejected = assert.rejects(publishing, (e: unknown) => {
      assert.ok(e instanceof PersistenceError, String(e));
      assert.equal(e.code, 'ERR_PERSISTENCE_STORE');
      assert.equal(e.op, 'put');
      assert.match(e.key ?? '', /^c-\d+$/);
      assert.match(e.message, /injected put failure/);
      assert.ok(e.cause instanceof Error && /injected put failure/.test(e.cause.message), 'the cause is kept');
      return true;
    });
    await assert.rejects(
      client.flush(),
      (e: unknown) => e instanceof PersistenceError && /injected put/.test(e.message),
    );
    await rejected;
    faulty.failPut = undefined;
    // Queued until a connect that never comes: only its record is awaited, through flush().
    void client.publish(topic, Buffer.from('stored'), { qos: 1 }).catch(() => undefined);
    await client.flush();
    assert.deepEqual(
      events.map((e) => `${e.op} ${e.key}`),
      [],
      'the failure was claimed by its publish, not reported again',
    );
  });
});

describe('store failures of queued SUBSCRIBE / UNSUBSCRIBE commands', () => {
  for (const durability of ['sync', 'batched'] as const) {
    it(`${durability}: a failed put of the command is a 'persistenceError' naming its key; the calls complete`, async () => {
      const faulty = new FaultyStore(durability);
      const client = await AsyncClient.create({
        serverURI: servers.broker.url,
        clientId: uid('sf'),
        persistence: faulty,
      });
      clients.add(client);
      const events: PersistenceError[] = [];
      client.on('persistenceError', (e) => events.push(e));
      await client.connect({ maxInflight: 1 });
      const topic = uid('sf-topic');
      const inbox = new Inbox(client);
      // Paho sends a queued (un)subscribe only while its inflight window has room, and removes
      // its record (c-N) then: keep the window full (a QoS 1 publish the stopped broker does not
      // acknowledge), so the record's write surely reaches the store before its remove.
      process.kill(servers.broker.pid, 'SIGSTOP');
      let subscribing: Promise<number>;
      let unsubscribing: Promise<void>;
      try {
        const held = client.publish(uid('sf-held'), Buffer.from('held'), { qos: 1 });
        held.catch(() => undefined);
        await waitFor(() => faulty.keys().some((k) => /^s-/.test(k)), 'the held publish in flight');
        faulty.failPut = /^c-/;
        subscribing = client.subscribe(topic, { qos: 1 });
        await waitFor(() => events.length >= 1, "the subscribe's 'persistenceError'");
        unsubscribing = client.unsubscribe(uid('sf-other'));
        await waitFor(() => events.length >= 2, "the unsubscribe's 'persistenceError'");
      } finally {
        process.kill(servers.broker.pid, 'SIGCONT');
      }
      faulty.failPut = undefined;
      for (const event of events) {
        assert.ok(event instanceof PersistenceError);
        assert.equal(event.code, 'ERR_PERSISTENCE_STORE');
        assert.equal(event.op, 'put');
        assert.match(event.key ?? '', /^c-\d+$/);
        assert.match(event.message, /injected put failure for c-\d+/);
      }
      assert.notEqual(events[0].key, events[1].key, 'one event per command');
      if (durability === 'sync') {
        assert.match(events[0].message, /queued SUBSCRIBE command could not be stored/);
        assert.match(events[1].message, /queued UNSUBSCRIBE command could not be stored/);
      }
      // Paho sent both from memory: the broker answers them once it runs again.
      assert.equal(await subscribing!, 1);
      await unsubscribing!;
      await client.publish(topic, Buffer.from('after'), { qos: 1 });
      await inbox.count(1, 10_000, topic);
      assert.equal(events.length, 2, events.map((e) => e.message).join('; '));
    });
  }
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
