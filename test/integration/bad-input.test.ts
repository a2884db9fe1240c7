/**
 * Issue 9, bad input table: each input gets a clear typed error or a documented recovery,
 * never a signal. Rows that make Paho read a store run in a child process (restore-child), so
 * a crash would show as a signal instead of killing the test runner. docs/reliability.md
 * holds the same table.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { AsyncClient, PahoMqttRedisError, PersistenceError, RedisPersistence } from '../../src';
import { startMosquitto, startRedis, freePort, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { Inbox, closeAll, runFixture, uid } from '../helpers/client-common';
import { CAPTURED } from '../helpers/captured-records';

let broker: MosquittoServer;
let redis: RedisServer;
let locked: RedisServer;
let db: Redis;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis, locked] = await Promise.all([
    startMosquitto(),
    startRedis(),
    startRedis({ password: 'right-password-1234' }),
  ]);
  db = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});
after(async () => {
  await closeAll(clients);
  db?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop(), locked?.stop()]);
});

const storeURI = (): string => broker.url.replace(/^tcp:\/\//, '');

async function track(client: Promise<AsyncClient>): Promise<AsyncClient> {
  const c = await client;
  clients.add(c);
  return c;
}

/** Publishes `payload` on `topic` (QoS 1, RedisPersistence) and answers what a subscriber got. */
async function roundTrip(topic: string, payload: Buffer): Promise<Buffer> {
  const subscriber = await track(AsyncClient.create({ serverURI: broker.url, clientId: uid('bi-sub') }));
  const inbox = new Inbox(subscriber);
  await subscriber.connect();
  await subscriber.subscribe('#', { qos: 1 });
  const publisher = await track(
    AsyncClient.create({
      serverURI: broker.url,
      clientId: uid('bi-pub'),
      persistence: new RedisPersistence({ url: redis.url }),
    }),
  );
  await publisher.connect();
  await publisher.publish(topic, payload, { qos: 1 });
  const [got] = await inbox.count(1, 20_000, topic.slice(0, 8));
  assert.equal(got.topic, topic);
  return got.payload;
}

/** Seeds a hash, runs create (and connect) in a child; answers its report lines. */
async function restoreInChild(records: Record<string, Buffer>, mqttVersion: 3 | 4 | 5): Promise<string[]> {
  const clientId = uid('bi-restore');
  for (const [key, value] of Object.entries(records)) await db.hset(`${clientId}:${storeURI()}`, key, value);
  const child = runFixture('restore-child', { serverURI: broker.url, clientId, redisUrl: redis.url, mqttVersion });
  const exit = await child.exited;
  assert.deepEqual([exit.code, exit.signal], [0, null], `child died: ${child.stderr()}`);
  return child.lines;
}

const rejectsWith =
  (code: string, pattern?: RegExp) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof PahoMqttRedisError, `not a typed error: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };

const captured = (key: string): Buffer => Buffer.from(CAPTURED.find(([k]) => k === key)![1], 'hex');

interface Row {
  input: string;
  outcome: string;
  run(): Promise<void>;
}

const ROWS: Row[] = [
  {
    input: '16 MiB payload, QoS 1, RedisPersistence',
    outcome: 'delivered intact',
    run: async () => {
      const payload = Buffer.alloc(16 * 1024 * 1024, 0x5a);
      payload.write('big', 0);
      assert.ok((await roundTrip(`bi/big/${uid('t')}`, payload)).equals(payload));
    },
  },
  {
    input: '65,535-byte topic',
    outcome: 'delivered intact',
    run: async () => {
      const topic = `bi/long/${'t'.repeat(65535 - 8)}`;
      assert.equal(Buffer.byteLength(topic), 65535);
      assert.equal((await roundTrip(topic, Buffer.from('long'))).toString(), 'long');
    },
  },
  {
    input: '65,536-byte topic',
    outcome: 'ERR_INVALID_ARG from publish()',
    run: async () => {
      const client = await track(AsyncClient.create({ serverURI: broker.url, clientId: uid('bi') }));
      await assert.rejects(
        client.publish('x'.repeat(65536), Buffer.alloc(1)),
        rejectsWith('ERR_INVALID_ARG', /longer than 65535 bytes/),
      );
    },
  },
  {
    input: 'empty client id',
    outcome: 'ERR_INVALID_ARG from create()',
    run: async () => {
      await assert.rejects(AsyncClient.create({ serverURI: broker.url, clientId: '' }), rejectsWith('ERR_INVALID_ARG'));
    },
  },
  {
    input: '65,536-byte client id',
    outcome: 'ERR_INVALID_ARG from create()',
    run: async () => {
      await assert.rejects(
        AsyncClient.create({ serverURI: broker.url, clientId: 'c'.repeat(65536) }),
        rejectsWith('ERR_INVALID_ARG', /longer than 65535 bytes/),
      );
    },
  },
  {
    input: 'MQTT 5 records opened by an MQTT 3 client',
    outcome: 'ERR_PERSISTENCE_VERSION from create(), naming the record; nothing changed',
    run: async () => {
      const lines = await restoreInChild({ 's5-4': captured('s5-4') }, 4);
      const { createError } = JSON.parse(lines[0]) as { createError: { code: string; key: string } };
      assert.deepEqual([createError.code, createError.key], ['ERR_PERSISTENCE_VERSION', 's5-4']);
    },
  },
  {
    input: 'foreign keys in the hash (no dash, not Paho kinds)',
    outcome: "create() succeeds; each is quarantined and reported as ERR_PERSISTENCE_CORRUPT ('persistenceError')",
    run: async () => {
      const lines = await restoreInChild(
        { session: Buffer.from('x'), 'x-1': Buffer.from('y'), 'c-1': captured('c-1'), 'sc-4': captured('sc-4') },
        4,
      );
      const created = JSON.parse(lines[0]) as { reports: { code: string; key: string }[] };
      assert.deepEqual(created.reports.map((r) => [r.code, r.key]).sort(), [
        ['ERR_PERSISTENCE_CORRUPT', 'session'],
        ['ERR_PERSISTENCE_CORRUPT', 'x-1'],
      ]);
    },
  },
  {
    input: 'damaged records (q-1 length 0x7fffffff, c- length -8, c5- bad properties)',
    outcome: 'create() succeeds; quarantined and reported (see restore-check.test.ts)',
    run: async () => {
      const lines = await restoreInChild({ 'q-1': Buffer.from('ffffff7f0102', 'hex') }, 4);
      const created = JSON.parse(lines[0]) as { reports: { code: string; key: string }[] };
      assert.deepEqual(
        created.reports.map((r) => r.key),
        ['q-1'],
      );
    },
  },
  {
    input: 'wrong Redis password',
    outcome: 'ERR_PERSISTENCE_CONNECTION from create(), password not in the message',
    run: async () => {
      const url = `redis://:wrong-password-5678@127.0.0.1:${locked.port}`;
      await assert.rejects(
        AsyncClient.create({ serverURI: broker.url, clientId: uid('bi'), persistence: new RedisPersistence({ url }) }),
        (e: unknown) => {
          rejectsWith('ERR_PERSISTENCE_CONNECTION')(e);
          assert.doesNotMatch((e as Error).message, /wrong-password-5678/);
          return true;
        },
      );
    },
  },
  {
    input: 'Redis on a closed port',
    outcome: 'ERR_PERSISTENCE_CONNECTION from create()',
    run: async () => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      await assert.rejects(
        AsyncClient.create({ serverURI: broker.url, clientId: uid('bi'), persistence: new RedisPersistence({ url }) }),
        rejectsWith('ERR_PERSISTENCE_CONNECTION', /cannot connect/),
      );
    },
  },
  {
    input: 'MQTT broker on a closed port',
    outcome: 'PahoError from connect()',
    run: async () => {
      const client = await track(
        AsyncClient.create({ serverURI: `tcp://127.0.0.1:${await freePort()}`, clientId: uid('bi') }),
      );
      await assert.rejects(client.connect({ connectTimeout: 2 }), (e: unknown) => {
        assert.ok(e instanceof PahoMqttRedisError && e.name === 'PahoError', String(e));
        assert.ok(!(e instanceof PersistenceError));
        return true;
      });
    },
  },
];

describe('bad input table', () => {
  for (const row of ROWS) it(`${row.input} -> ${row.outcome}`, () => row.run());
});
