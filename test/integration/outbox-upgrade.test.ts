/**
 * The upgrade of an older release's backlog: queued PUBLISH commands (c- records) that a plain
 * publish() client left in the hash move into the outbox at the first create() with one, so
 * Paho restores one window, not the whole backlog. Real Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AsyncClient, RedisPersistence } from '../../src';
import { Inbox, closeAll, uid } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const BACKLOG = 500;
const WINDOW = 50;

let broker: MosquittoServer;
let redis: RedisServer;
let admin: Redis;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([
    startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 100000' }),
    startRedis(),
  ]);
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  await closeAll(clients);
  admin?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

const commandKeys = async (hash: string): Promise<string[]> =>
  (await admin.hkeys(hash)).filter((k) => k.startsWith('c-') || k.startsWith('c5-'));

describe('upgrade: c- records an older release left in the hash', () => {
  it(`${BACKLOG} queued publishes: create() keeps a window with Paho, the rest moves into the outbox; all delivered in order`, async () => {
    await broker.stop();
    const clientId = uid('outbox-upgrade');
    const topic = `outbox/${clientId}`;
    const options = { serverURI: broker.url, clientId, sendWhileDisconnected: true, maxBufferedMessages: 1000 };
    // As an older release buffered: publish() while the broker is down, Paho's c- records in the hash.
    const oldStore = new RedisPersistence({ url: redis.url });
    const old = await AsyncClient.create({ ...options, persistence: oldStore });
    clients.add(old);
    // Closing the old client rejects these (discarded before completion); the records stay.
    const publishes = Array.from({ length: BACKLOG }, (_, i) =>
      old.publish(topic, Buffer.from(String(i)), { qos: 1 }).catch(() => undefined),
    );
    const hash = oldStore.hashName!;
    // publish() hands each message to Paho on a worker thread: flush() covers only those logged so far.
    await waitFor(
      async () => (await commandKeys(hash)).length === BACKLOG,
      'the backlog is in the hash as c- records',
      20_000,
    );
    await old.close();
    await Promise.allSettled(publishes);
    clients.delete(old);

    const store = new RedisPersistence({ url: redis.url });
    // Without sendWhileDisconnected the pump waits for the connection: what create() left stays put.
    const client = await AsyncClient.create({
      ...options,
      sendWhileDisconnected: false,
      persistence: store,
      outbox: { window: WINDOW },
    });
    clients.add(client);
    const left = await commandKeys(hash);
    assert.ok(left.length <= WINDOW, `Paho restored at most the window (${left.length})`);
    assert.equal(
      (await store.outboxStats()).length + left.length,
      BACKLOG,
      'every record is in exactly one of the two',
    );
    const moved = await store.outboxStats();
    assert.equal(moved.length, BACKLOG - WINDOW, 'the rest moved into the outbox');
    // Each move adds its entry's bytes to the account in its MULTI; every delivery takes them off again.
    assert.ok(
      moved.bytes !== undefined && moved.bytes >= (BACKLOG - WINDOW) * 2,
      `the account holds the moved bytes (${moved.bytes})`,
    );

    await broker.restart();
    const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('upgrade-sub') });
    clients.add(sub);
    const inbox = new Inbox(sub);
    await sub.connect();
    await sub.subscribe(topic, { qos: 1 });
    await client.connect({ cleanSession: false, maxInflight: WINDOW });
    await inbox.count(BACKLOG, 30_000, topic);
    const payloads = inbox.on(topic).map((m) => Number(m.payload.toString()));
    const firsts = payloads.filter((n, i) => payloads.indexOf(n) === i);
    assert.deepEqual(
      firsts,
      Array.from({ length: BACKLOG }, (_, i) => i),
      'every message delivered, in the order it was published',
    );
    await waitFor(async () => (await store.outboxStats()).length === 0, 'the outbox drained', 20_000);
    assert.equal(
      (await store.outboxStats()).bytes,
      0,
      'the account is back to 0: the moves added what the deliveries took off',
    );
    await client.close();
  });
});
