/**
 * Paho's c-/q- sequence numbers wrap at 1,000,000 (src/persistence/bridge/sequence-wrap.ts): queued
 * records straddling the wrap, seeded into a client's hash, are restored and sent (or delivered)
 * in the order Paho wrote them, each once, and a publish made after create() takes a new number.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { AsyncClient, RedisPersistence } from '../../src';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, runFixture, sleep, uid } from '../helpers/client-common';
import { NO_PROPS, publishCommand, queueEntry } from '../helpers/paho-record-builders';

let db: Redis;
const servers = useFileServers({
  setUp: ({ redis }) => {
    db = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  },
  tearDown: () => db?.disconnect(),
});
const { clients } = servers;

/** Paho opens the store with the server URI without its `tcp://`. */
const hashOf = (clientId: string): string => `${clientId}:${servers.broker.url.replace(/^tcp:\/\//, '')}`;

describe('queued records straddling the sequence wrap', () => {
  /** Written in this order: Paho numbered them up to 999,999, then from 0. */
  const WRITTEN = [999997, 999998, 999999, 0, 1];

  for (const mqttVersion of [4, 5] as const)
    for (const qos of [1, 2] as const) {
      const prefix = mqttVersion === 5 ? 'c5-' : 'c-';
      it(`MQTT ${mqttVersion === 5 ? '5' : '3.1.1'} QoS ${qos}: ${prefix}999997..${prefix}1 are sent in written order, each once, and the next publish takes a new number`, async () => {
        const clientId = uid('rc-wrap');
        const topic = `rcw/${clientId}`;
        const hash = hashOf(clientId);
        for (const [i, n] of WRITTEN.entries()) {
          const payload = Buffer.from(`m${i + 1}`);
          const props = mqttVersion === 5 ? NO_PROPS : undefined;
          await db.hset(
            hash,
            `${prefix}${n}`,
            publishCommand({ token: 101 + i, topic, payload, qos, retained: 0, props }),
          );
        }
        const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('rcw-sub') });
        clients.add(subscriber);
        const inbox = new Inbox(subscriber);
        await subscriber.connect();
        await subscriber.subscribe(topic, { qos: 2 });

        // A child: Paho crashes (SIGSEGV) reading a command record overwritten and then removed.
        const child = runFixture('restore-child', {
          serverURI: servers.broker.url,
          clientId,
          redisUrl: servers.redis.url,
          mqttVersion,
          connect: true,
          // Queued behind the restored ones; it must not take the number of one of them.
          publish: { topic, payload: 'm6', qos },
        });
        const exit = await child.exited;
        assert.deepEqual([exit.code, exit.signal], [0, null], `child died: ${child.stderr()}`);
        const created = JSON.parse(child.lines.find((l) => l.includes('"created"'))!) as { pending: number[] };
        assert.equal(created.pending.length, WRITTEN.length, 'every record restored');
        assert.ok(child.lines.includes('{"drained":true}'), child.lines.join('\n'));
        await inbox.count(6, 10_000, topic);
        await sleep(300); // a duplicate, if any, arrives now
        assert.deepEqual(
          inbox.on(topic).map((m) => m.payload.toString()),
          ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'],
        );
        assert.deepEqual(await db.hkeys(hash), [], 'every record removed once sent');
      });
    }

  it('MQTT 5: undelivered received messages (q5-) reach the listener in written order', async () => {
    const clientId = uid('rc-wrapq');
    const topic = `rcwq/${clientId}`;
    const hash = hashOf(clientId);
    for (const [i, n] of WRITTEN.entries()) {
      const entry = queueEntry({
        payload: Buffer.from(`q${i + 1}`),
        qos: 1,
        retained: 0,
        dup: 0,
        msgId: 0,
        topic,
        props: NO_PROPS,
      });
      await db.hset(hash, `q5-${n}`, entry);
    }
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId,
      mqttVersion: 5,
      persistence: new RedisPersistence({ url: servers.redis.url }),
    });
    clients.add(client);
    const inbox = new Inbox(client);
    await client.connect();
    // Paho hands over a restored message per pass of its receive loop, and the loop waits for
    // packets: publishes of its own keep it going.
    const poking = (async () => {
      while (inbox.on(topic).length < WRITTEN.length) {
        await client.publish(`${topic}/poke`, Buffer.from('poke'), { qos: 1 });
        await sleep(50);
      }
    })();
    await inbox.count(WRITTEN.length, 10_000, topic);
    await poking;
    await sleep(300);
    assert.deepEqual(
      inbox.on(topic).map((m) => m.payload.toString()),
      ['q1', 'q2', 'q3', 'q4', 'q5'],
    );
  });
});
