/**
 * A second broker: NATS's MQTT support (Debian's nats-server with JetStream, MQTT 3.1.1, QoS 0
 * and 1). The QoS 1 round trip through Redis, and the publisher and subscriber kill -9 trials
 * of crash-trials.test.ts, run against it: nothing lost (QoS 1 is at least once: duplicates
 * are counted, not refused), nothing left in the store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence } from '../../src';
import { Inbox, hashKeys, uid } from '../helpers/client-common';
import { subscriberTrial } from '../helpers/crash-subscriber-trial';
import { violation } from '../helpers/crash-tally';
import {
  killAfterAcks,
  killAfterLine,
  publisherTrial,
  startCrashEnv,
  stopCrashEnv,
  type CrashEnv,
} from '../helpers/crash-trials';
import { seededRandom } from '../helpers/seeded-random';
import { waitFor } from '../helpers/wait';

let env: CrashEnv;
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const random = seededRandom(SEED);

before(async () => {
  env = await startCrashEnv('nats');
});
after(async () => {
  await stopCrashEnv(env);
});

describe('NATS as the broker (MQTT 3.1.1)', () => {
  it('QoS 1 round trip through RedisPersistence: every message once, in order; the store empties', async () => {
    const client = await AsyncClient.create({
      serverURI: env.broker.url,
      clientId: uid('nats-rt'),
      persistence: new RedisPersistence({ url: env.redis.url }),
    });
    try {
      await client.connect({ cleanSession: false });
      const inbox = new Inbox(client);
      const topic = uid('nats/rt');
      await client.subscribe(topic, { qos: 1 });
      const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
      await Promise.all(sent.map((m) => client.publish(topic, Buffer.from(m), { qos: 1 })));
      const got = await inbox.count(sent.length, 20_000);
      assert.deepEqual(
        got.map((m) => m.payload.toString()),
        sent,
      );
      const hash = `${client.clientId}:127.0.0.1:${env.broker.port}`;
      await waitFor(async () => (await hashKeys(env.redis.port, hash)).length === 0, 'the hash to empty', 10_000);
    } finally {
      await client.close();
    }
  });

  for (const durability of ['batched', 'sync'] as const) {
    it(`a QoS 1 publisher killed -9 mid-stream and inside connect(), ${durability}: nothing lost`, async () => {
      const total = 600;
      const outcome = await publisherTrial(env, {
        name: `nats publisher ${durability}`,
        qos: 1,
        durability,
        total,
        runs: [
          { kill: killAfterAcks(1 + Math.floor(random() * (total - 1))) },
          { kill: killAfterLine('connecting', random() * 20) },
          {},
        ],
      });
      assert.equal(violation(outcome, false), undefined, `CRASH_SEED=${SEED}\n${outcome.evidence}`);
      assert.deepEqual(outcome.leftover, [], outcome.evidence);
    });
  }

  it('a QoS 1 subscriber killed -9 mid-stream: nothing lost', async () => {
    const total = 400;
    const outcome = await subscriberTrial(env, {
      name: 'nats subscriber',
      qos: 1,
      durability: 'batched',
      total,
      killAfter: 1 + Math.floor(random() * total * 0.9),
    });
    assert.equal(violation(outcome, false), undefined, `CRASH_SEED=${SEED}\n${outcome.evidence}`);
  });
});
