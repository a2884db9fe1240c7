/**
 * The outbox's limits (docs/outbox.md, "Limits"): time to live (also while offline and
 * across a restart), the caps with both onFull policies, MQTT 5's expiry interval counted from
 * enqueue, 'dropped' events (also on the diagnostics channel) and stats().outbox. Real Redis and
 * mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as diagnostics from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import {
  AsyncClient,
  CLIENT_CHANNEL,
  RedisPersistence,
  type ClientDiagnostic,
  type CreateOptions,
  type DroppedInfo,
} from '../../src';
import { Inbox, closeAll, sleep, uid, waitFor } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

let broker: MosquittoServer;
let redis: RedisServer;
let admin: Redis;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

after(async () => {
  await closeAll(clients);
  admin?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

async function create(clientId: string, outbox: CreateOptions['outbox'], more: Partial<CreateOptions> = {}) {
  const client = await AsyncClient.create({
    serverURI: broker.url,
    clientId,
    persistence: new RedisPersistence({ url: redis.url }),
    outbox,
    ...more,
  });
  clients.add(client);
  return client;
}

function dropsOf(client: AsyncClient): DroppedInfo[] {
  const drops: DroppedInfo[] = [];
  client.on('dropped', (info) => drops.push(info));
  return drops;
}

async function subscriber(filter: string, mqttVersion: 4 | 5 = 4): Promise<Inbox> {
  const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('limits-sub'), mqttVersion });
  clients.add(sub);
  const inbox = new Inbox(sub);
  await sub.connect();
  await sub.subscribe(filter, { qos: 1 });
  return inbox;
}

const payloads = (inbox: Inbox, topic: string): string[] => inbox.on(topic).map((m) => m.payload.toString());

describe('outbox limits', () => {
  it('a message whose ttlMs runs out while offline is dropped (reason expired) and never sent', async () => {
    const clientId = uid('limits-ttl');
    const topic = `limits/${clientId}`;
    const inbox = await subscriber(topic);
    const client = await create(clientId, { window: 10 });
    const drops = dropsOf(client);
    const short: string[] = [];
    for (let i = 1; i <= 10; i++) {
      const { id } = await client.enqueue(topic, Buffer.from(`m${i}`), {
        qos: 1,
        ttlMs: i % 2 === 1 ? 150 : undefined,
      });
      if (i % 2 === 1) short.push(id);
    }
    await waitFor(() => drops.length >= 5, 'the five short-lived messages to expire', 10_000);
    assert.deepEqual(
      drops.map((d) => d.id),
      short,
    );
    assert.ok(drops.every((d) => d.reason === 'expired' && d.topic === topic && d.qos === 1 && d.error === undefined));
    await client.connect();
    await inbox.count(5, 10_000, topic);
    await sleep(300);
    assert.deepEqual(payloads(inbox, topic), ['m2', 'm4', 'm6', 'm8', 'm10'], 'only the live ones, in order');
    assert.equal(client.stats().outbox!.dropped.expired, 5);
  });

  it("onFull 'rejectNew' (the default): enqueue() at maxMessages rejects with ERR_OUTBOX_FULL and stores nothing", async () => {
    const clientId = uid('limits-reject');
    const topic = `limits/${clientId}`;
    const client = await create(clientId, { window: 10, maxMessages: 3 });
    const drops = dropsOf(client);
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((i) => client.enqueue(topic, Buffer.from(`m${i}`), { qos: 1 })),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'],
    );
    const error = (results[3] as PromiseRejectedResult).reason as Error & { code: string };
    assert.equal(error.code, 'ERR_OUTBOX_FULL');
    assert.match(error.message, /maxMessages 3/);
    assert.equal(drops.length, 0, 'nothing already stored is dropped');
    await waitFor(() => client.stats().outbox!.depth === 3, 'the account to show 3', 5000);
    // maxBytes too: a message larger than the cap is refused whatever the policy.
    const bytesClient = await create(uid('limits-bytes'), { window: 10, maxBytes: 100, onFull: 'dropOldest' });
    await assert.rejects(bytesClient.enqueue(topic, Buffer.alloc(200), { qos: 1 }), { code: 'ERR_OUTBOX_FULL' });
    assert.equal(bytesClient.stats().outbox!.maxBytes, 100);
  });

  it("onFull 'dropOldest': the oldest messages still in the outbox are dropped (reason full), on the diagnostics channel too", async () => {
    const clientId = uid('limits-drop');
    const topic = `limits/${clientId}`;
    const inbox = await subscriber(topic);
    const client = await create(clientId, { window: 10, maxMessages: 3, onFull: 'dropOldest' });
    const drops = dropsOf(client);
    const published: ClientDiagnostic[] = [];
    const listen = (message: unknown): void => {
      const m = message as ClientDiagnostic;
      if (m.clientId === clientId && m.event === 'dropped') published.push(m);
    };
    diagnostics.subscribe(CLIENT_CHANNEL, listen);
    try {
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) ids.push((await client.enqueue(topic, Buffer.from(`m${i}`), { qos: 1 })).id);
      await waitFor(() => drops.length >= 2, 'two drops', 5000);
      assert.deepEqual(
        drops.map((d) => [d.id, d.reason]),
        [
          [ids[0], 'full'],
          [ids[1], 'full'],
        ],
      );
      assert.deepEqual(
        published.map((m) => (m.detail as DroppedInfo).id),
        [ids[0], ids[1]],
      );
    } finally {
      diagnostics.unsubscribe(CLIENT_CHANNEL, listen);
    }
    await client.connect();
    await inbox.count(3, 10_000, topic);
    await sleep(300);
    assert.deepEqual(payloads(inbox, topic), ['m3', 'm4', 'm5']);
    assert.equal(client.stats().outbox!.dropped.full, 2);
  });

  it('drops found at create() (expired while the process was down) reach a listener attached right after it resolves', async () => {
    const clientId = uid('limits-restart');
    const topic = `limits/${clientId}`;
    const first = await create(clientId, { window: 10, ttlMs: 300 });
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) ids.push((await first.enqueue(topic, Buffer.from(`m${i}`), { qos: 1 })).id);
    const kept = (await first.enqueue(topic, Buffer.from('kept'), { qos: 1, ttlMs: 600_000 })).id;
    await first.close();
    await sleep(500); // down longer than the ttl: the wall clock is set, so the downtime counts
    const second = await create(clientId, { window: 10, ttlMs: 300 });
    const drops = dropsOf(second);
    await waitFor(() => drops.length >= 3, 'the expired messages to be reported', 5000);
    assert.deepEqual(
      drops.map((d) => [d.id, d.reason]),
      ids.map((id) => [id, 'expired']),
    );
    await waitFor(() => second.stats().outbox!.depth === 1, 'one left', 5000);
    const stats = second.stats().outbox!;
    assert.ok(stats.oldestAgeMs !== undefined && stats.oldestAgeMs >= 500, `oldest age ${stats.oldestAgeMs}`);
    assert.ok(Number(kept) > Number(ids[2]));
  });

  it('stats().outbox: depth, bytes, oldest age, enqueued, delivered and the drain rate', async () => {
    const clientId = uid('limits-stats');
    const topic = `limits/${clientId}`;
    const inbox = await subscriber(topic);
    const client = await create(clientId, { window: 20 });
    for (let i = 1; i <= 50; i++) await client.enqueue(topic, Buffer.alloc(100), { qos: 1 });
    await waitFor(() => client.stats().outbox!.depth === 50, 'the account to show 50', 5000);
    let stats = client.stats().outbox!;
    const [stream] = await admin.keys(`{${clientId}:*}:outbox`); // Paho names the hash (host:port)
    const [length, bytes] = await Promise.all([admin.xlen(stream), admin.hget(`${stream}-account`, 'bytes')]);
    assert.equal(length, 50);
    assert.equal(stats.bytes, Number(bytes), 'the bytes are the store account');
    assert.ok(stats.bytes >= 50 * 100, `bytes ${stats.bytes}`);
    assert.equal(stats.enqueued, 50);
    assert.ok(stats.oldestAgeMs !== undefined && stats.oldestAgeMs >= 0);
    await client.connect();
    await inbox.count(50, 10_000, topic);
    await waitFor(() => client.stats().outbox!.depth === 0, 'the account to show the drain', 5000);
    stats = client.stats().outbox!;
    assert.equal(stats.delivered, 50);
    assert.equal(stats.bytes, 0);
    assert.equal(stats.oldestAgeMs, undefined);
    assert.ok(stats.deliveryRate > 0, `delivery rate ${stats.deliveryRate}`);
    assert.deepEqual(stats.dropped, { expired: 0, full: 0, refused: 0 });
  });

  it('MQTT 5: the expiry interval counts from enqueue: the rest goes on the wire; a message whose interval ran out is dropped', async () => {
    const clientId = uid('limits-v5');
    const topic = `limits/${clientId}`;
    const inbox = await subscriber(topic, 5);
    const client = await create(clientId, { window: 10 }, { mqttVersion: 5 });
    const drops = dropsOf(client);
    const gone = await client.enqueue(topic, Buffer.from('short'), {
      qos: 1,
      properties: { messageExpiryInterval: 1 },
    });
    await client.enqueue(topic, Buffer.from('long'), { qos: 1, properties: { messageExpiryInterval: 60 } });
    await sleep(2100);
    await waitFor(() => drops.length >= 1, 'the short one to expire', 5000);
    assert.deepEqual(
      drops.map((d) => [d.id, d.reason]),
      [[gone.id, 'expired']],
    );
    await client.connect();
    const [message] = await inbox.count(1, 10_000, topic);
    assert.equal(message.payload.toString(), 'long');
    const interval = message.properties?.messageExpiryInterval;
    assert.ok(interval !== undefined && interval <= 58, `the interval on the wire is what was left: ${interval}`);
  });

  it('options are checked with messages that say what is wrong', async () => {
    const base = {
      serverURI: broker.url,
      clientId: uid('limits-bad'),
      persistence: new RedisPersistence({ url: redis.url }),
    };
    await assert.rejects(AsyncClient.create({ ...base, outbox: { maxMessages: 0 } }), {
      code: 'ERR_INVALID_ARG',
      message: /outbox\.maxMessages must be a positive integer/,
    });
    await assert.rejects(AsyncClient.create({ ...base, outbox: { onFull: 'dropNewest' as 'dropOldest' } }), {
      code: 'ERR_INVALID_ARG',
      message: /outbox\.onFull must be 'rejectNew' or 'dropOldest'/,
    });
    await assert.rejects(AsyncClient.create({ ...base, outbox: { ttlMs: 1.5 } }), {
      code: 'ERR_INVALID_ARG',
      message: /outbox\.ttlMs must be a positive integer/,
    });
    const client = await create(uid('limits-bad'), { window: 10 });
    assert.throws(() => client.enqueue('t', Buffer.from('x'), { ttlMs: -1 }), {
      code: 'ERR_INVALID_ARG',
      message: /enqueue options\.ttlMs must be a positive integer/,
    });
  });
});
