/**
 * RedisPersistence with a user's own ioredis client: ioredis 6 (the dependency) and ioredis 5
 * (installed as `ioredis5`; RESP2 only), ioredis 6 speaking RESP2 and RESP3 (both reply mappings). The full store contract runs on
 * each, then a QoS 1 publish through Paho with each, and the RESP version is checked on the wire.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis6 from 'ioredis';
import Redis5 from 'ioredis5';
import { AsyncClient, RedisPersistence, type RedisClient } from '../../src';
import { persistenceSuite } from '../helpers/persistence-suite';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { Inbox, uid } from '../helpers/client-common';

let redis: RedisServer;
let broker: MosquittoServer;

before(async () => {
  [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
});
after(async () => {
  await Promise.all([redis?.stop(), broker?.stop()]);
});

interface Variant {
  name: string;
  make(): RedisClient & { disconnect(): void };
  /** The RESP version the connection must end up speaking. */
  resp: 2 | 3;
}

const variants: Variant[] = [
  { name: 'ioredis 6, RESP3 (its default)', resp: 3, make: () => new Redis6(redis.port, '127.0.0.1') },
  { name: 'ioredis 6, RESP2', resp: 2, make: () => new Redis6(redis.port, '127.0.0.1', { protocol: 2 }) },
  {
    name: 'ioredis 6, RESP3 with resp3 reply mapping',
    resp: 3,
    make: () => new Redis6(redis.port, '127.0.0.1', { replyMapping: 'resp3' }),
  },
  { name: 'ioredis 5, RESP2 (its only protocol)', resp: 2, make: () => new Redis5(redis.port, '127.0.0.1') },
];

/** Which protocol the server sees on the client's connection (CLIENT INFO: resp=2|3). */
async function respOf(client: RedisClient): Promise<number> {
  const info = String(await (client as unknown as Redis6).call('CLIENT', 'INFO'));
  return Number(/resp=(\d)/.exec(info)?.[1]);
}

// ioredis 5 speaks RESP2 only (RESP3 came with ioredis 6), so it has no RESP3 variant.
for (const variant of variants) {
  persistenceSuite(`RedisPersistence with ${variant.name}`, () => {
    const client = variant.make();
    return Promise.resolve({
      store: new RedisPersistence({ client, operationTimeoutMs: 3000 }),
      cleanup: () => Promise.resolve(client.disconnect()),
    });
  });
}

describe('a QoS 1 publish through Paho, stored with each client', () => {
  for (const variant of variants) {
    it(`${variant.name}: stores, delivers, and leaves the hash empty`, async () => {
      const redisClient = variant.make();
      try {
        assert.equal(await respOf(redisClient), variant.resp, 'the connection speaks the expected RESP version');
        const persistence = new RedisPersistence({ client: redisClient });
        const c = await AsyncClient.create({ serverURI: broker.url, clientId: uid('rc'), persistence });
        try {
          const inbox = new Inbox(c);
          await c.connect({ cleanSession: false });
          const topic = uid('rc');
          await c.subscribe(topic, { qos: 1 });
          await c.publish(topic, Buffer.from(variant.name), { qos: 1 });
          const [m] = await inbox.count(1, 10_000, topic);
          assert.equal(m.payload.toString(), variant.name);
          assert.ok(c.stats().store!.forwarded > 0);
          await c.disconnect({ timeout: 1000 });
        } finally {
          await c.close();
        }
        assert.equal(await (redisClient as unknown as Redis6).exists(persistence.hashName ?? 'closed'), 0);
      } finally {
        redisClient.disconnect();
      }
    });
  }
});
