/**
 * MQTT 5 limits from the CONNACK (Maximum QoS, Maximum Packet Size, Retain Available) are
 * honoured before anything is stored: a publish beyond them rejects with ERR_BROKER_LIMIT,
 * leaves no record in Redis, and the connection stays up. The packet size is computed as the
 * broker counts it: a packet of exactly the maximum goes through, one byte more is refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, PahoMqttRedisError, RedisPersistence } from '../../src';
import { hashKeys, uid } from '../helpers/client-common';
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
});
