/**
 * MQTT 5 limits from the CONNACK (Maximum QoS, Maximum Packet Size, Retain Available) are
 * honoured before anything is stored: a publish beyond them rejects with ERR_BROKER_LIMIT,
 * leaves no record in Redis, and the connection stays up. The packet size is computed as the
 * broker counts it: a packet of exactly the maximum goes through, one byte more is refused.
 * Its Receive Maximum bounds how many publishes the client hands Paho at once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, PahoMqttRedisError, RedisPersistence } from '../../src';
import { Inbox, hashKeys, runFixture, uid, waitFor } from '../helpers/client-common';
import type { PoisonMessageInfo } from '../../src';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const MAX_PACKET = 2000;
let broker: MosquittoServer;
let redis: RedisServer;
let client: AsyncClient;

before(async () => {
  [broker, redis] = await Promise.all([
    startMosquitto({ extraConfig: `max_qos 1\nmax_packet_size ${MAX_PACKET}\nretain_available false` }),
    startRedis(),
  ]);
  client = await AsyncClient.create({
    serverURI: broker.url,
    clientId: uid('limits'),
    mqttVersion: 5,
    sendWhileDisconnected: true,
    persistence: new RedisPersistence({ url: redis.url }),
  });
  await client.connect();
});
after(async () => {
  await client?.close();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

async function refused(p: Promise<unknown>, reason: RegExp): Promise<void> {
  const error = await p.then(
    () => assert.fail('expected ERR_BROKER_LIMIT'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PahoMqttRedisError, String(error));
  assert.equal(error.code, 'ERR_BROKER_LIMIT', error.message);
  assert.match(error.message, reason);
  await client.flush();
  assert.deepEqual(await hashKeys(redis.port, `${client.clientId}:127.0.0.1:${broker.port}`), [], 'nothing stored');
  assert.equal(client.connected, true, 'the connection stayed up');
}

describe('MQTT 5 CONNACK limits', () => {
  it('QoS above Maximum QoS is refused before it is stored; QoS 1 goes through', async () => {
    await refused(client.publish(uid('limits/q'), Buffer.from('x'), { qos: 2 }), /takes QoS 1 at most.*this is QoS 2/);
    await client.publish(uid('limits/q'), Buffer.from('x'), { qos: 1 });
  });

  it("Receive Maximum (mosquitto's 20): a burst past maxBufferedMessages all goes, the default maxInflight held to it", async () => {
    // maxInflight defaults to 65535 on MQTT 5; Paho lowers its own window to the broker's 20 and
    // queues the rest, refusing those past maxBufferedMessages (100): the client must hold them.
    const topic = uid('limits/burst');
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        client.publish(topic, Buffer.from(String(i)), { qos: 1 }).then(
          () => 'ok',
          (e: unknown) => (e as { code?: string }).code ?? String(e),
        ),
      ),
    );
    const refusedCodes = outcomes.filter((o) => o !== 'ok');
    assert.deepEqual(refusedCodes, [], `${refusedCodes.length} of 300 refused`);
  });

  it('a retained message is refused when Retain Available is 0', async () => {
    await refused(
      client.publish(uid('limits/r'), Buffer.from('x'), { qos: 1, retained: true }),
      /does not take retained messages/,
    );
  });

  it('Maximum Packet Size: exactly the maximum goes through, one byte more is refused', async () => {
    const topic = 'limits/size'; // 11 bytes: QoS 1 PUBLISH = 3 + 2 + 11 + 2 + 1 (no properties) + payload
    const fits = MAX_PACKET - (3 + 2 + topic.length + 2 + 1);
    await client.publish(topic, Buffer.alloc(fits, 1), { qos: 1 });
    await refused(client.publish(topic, Buffer.alloc(fits + 1, 1), { qos: 1 }), /would be 2001 bytes.*2000 at most/);
    // Properties count too.
    await refused(
      client.publish(topic, Buffer.alloc(fits - 6, 1), { qos: 1, properties: { contentType: 'text/x' } }),
      /would be 2003 bytes/,
    );
  });

  it('the limits of the last CONNACK hold while offline', async () => {
    await client.disconnect();
    try {
      await assert.rejects(client.publish(uid('limits/off'), Buffer.from('x'), { qos: 2 }), {
        code: 'ERR_BROKER_LIMIT',
      });
    } finally {
      await client.connect();
    }
  });

  it('a QoS 2 message stored before the limits were known (an earlier process): the DISCONNECT (QoS not supported) sets it aside, the QoS 1 one behind it goes', async () => {
    const clientId = uid('limits-stored');
    const topic = uid('limits/stored');
    const stored = runFixture('poison-publisher', {
      serverURI: broker.url,
      clientId,
      redisUrl: redis.url,
      mqttVersion: 5,
      messages: [
        { topic, payload: 'qos2', qos: 2 },
        { topic, payload: 'qos1', qos: 1 },
      ],
    });
    await stored.line(/"stored"/);
    await stored.exited;
    const inbox = new Inbox(client);
    await client.subscribe(topic, { qos: 1 });
    const restarted = await AsyncClient.create({
      serverURI: broker.url,
      clientId,
      mqttVersion: 5,
      persistence: new RedisPersistence({ url: redis.url }),
      poison: { maxRefusals: 2 },
    });
    try {
      const poisoned: PoisonMessageInfo[] = [];
      let losses = 0;
      restarted.on('poisonMessage', (info) => poisoned.push(info));
      restarted.on('connectionLost', () => (losses += 1));
      await restarted.connect({
        cleanStart: false,
        properties: { sessionExpiryInterval: 3600 },
        automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 1 },
      });
      await inbox.count(1, 30_000);
      assert.deepEqual(
        inbox.on(topic).map((m) => m.payload.toString()),
        ['qos1'],
      );
      assert.equal(poisoned.length, 1);
      assert.equal(poisoned[0].qos, 2);
      assert.equal(poisoned[0].refusals, 1, 'one DISCONNECT naming the limit is enough');
      assert.match(poisoned[0].reason, /reason code 155 \(QoS not supported\)/);
      assert.equal(losses, 0, 'Paho reports a DISCONNECT from the broker as no loss');
      const hash = `${clientId}:127.0.0.1:${broker.port}`;
      await waitFor(async () => (await hashKeys(redis.port, hash)).length === 0, 'the hash to empty', 10_000);
    } finally {
      await restarted.close();
    }
  });
});
