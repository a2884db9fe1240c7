/**
 * Redis frozen (SIGSTOP) while the application enqueues: every enqueue() settles (the store's
 * operation timeout bounds it), none resolves that is not stored, and once Redis thaws every
 * enqueue that resolved is delivered. One that rejected may still have been stored (the frozen
 * Redis applies the append when it thaws): then it is delivered too, at least once.
 * Real Redis (its own, on a free port) and mosquitto.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence } from '../../src';
import { Inbox, closeAll, uid } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const BEFORE = 100;
const DURING = 100;

let broker: MosquittoServer;
let redis: RedisServer;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
});

after(async () => {
  redis?.thaw();
  await closeAll(clients);
  await Promise.all([broker?.stop(), redis?.stop()]);
});

describe('Redis frozen while enqueueing', () => {
  it('every enqueue settles; every one that resolved is delivered once Redis thaws', async () => {
    const clientId = uid('outbox-frozen');
    const topic = `outbox/${clientId}`;
    const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('frozen-sub') });
    clients.add(sub);
    const inbox = new Inbox(sub);
    await sub.connect();
    await sub.subscribe(topic, { qos: 1 });
    const store = new RedisPersistence({ url: redis.url });
    const client = await AsyncClient.create({
      serverURI: broker.url,
      clientId,
      persistence: store,
      operationTimeoutMs: 1000,
      outbox: { window: 20 },
    });
    clients.add(client);
    client.on('persistenceError', () => undefined); // the outage is reported; this test counts messages
    const delivered = new Set<string>();
    client.on('delivered', ({ id }) => delivered.add(id));
    await client.connect({ cleanSession: false });
    const enqueue = (i: number) => client.enqueue(topic, Buffer.from(String(i)), { qos: 1 });

    const stored = await Promise.all(Array.from({ length: BEFORE }, (_, i) => enqueue(i)));
    redis.freeze();
    let during: PromiseSettledResult<{ id: string }>[];
    try {
      during = await Promise.allSettled(Array.from({ length: DURING }, (_, i) => enqueue(BEFORE + i)));
    } finally {
      redis.thaw();
    }
    const rejected = during.filter((r) => r.status === 'rejected');
    assert.ok(rejected.length > 0, 'the appends made while Redis was frozen failed (nothing claimed durable)');
    for (const r of rejected) {
      const code = (r.reason as { code?: string }).code;
      assert.ok(
        code === 'ERR_PERSISTENCE_TIMEOUT' || code === 'ERR_PERSISTENCE_UNAVAILABLE',
        `a frozen store rejects with a store error, got ${String(code)}: ${String(r.reason)}`,
      );
    }
    const resolved = [...stored, ...during.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))].map(
      (r) => r.id,
    );

    await waitFor(
      () => resolved.every((id) => delivered.has(id)),
      `every resolved enqueue delivered (${resolved.filter((id) => !delivered.has(id)).length} missing)`,
      30_000,
    );
    // What the subscriber got: every message whose enqueue resolved (payload = its number).
    await inbox.count(BEFORE, 10_000, topic);
    const got = new Set(inbox.on(topic).map((m) => Number(m.payload.toString())));
    for (let i = 0; i < BEFORE; i++) assert.ok(got.has(i), `message ${i} (stored before the freeze) arrived`);
    await client.close();
  });
});
