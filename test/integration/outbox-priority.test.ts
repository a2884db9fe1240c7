/**
 * publish() is the priority lane: a message published while the outbox drains a large backlog
 * waits behind at most the window the pump handed to Paho, not behind the backlog. Real Redis
 * and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence } from '../../src';
import { Inbox, closeAll, uid, waitFor } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const BACKLOG = 100_000;
const WINDOW = 50;
const ALARMS = 5;
/** Counting deliveries: mosquitto must not drop any under load (see docs/benchmarks.md). */
const BROKER_CONFIG = 'max_inflight_messages 0\nmax_queued_messages 1000000';

let broker: MosquittoServer;
let redis: RedisServer;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto({ extraConfig: BROKER_CONFIG }), startRedis()]);
});

after(async () => {
  await closeAll(clients);
  await Promise.all([broker?.stop(), redis?.stop()]);
});

describe('publish() overtakes the outbox', () => {
  it(`alarms published while a backlog of ${BACKLOG} drains arrive within its first 10%, each lane in order`, async (t) => {
    const clientId = uid('outbox-priority');
    const backlogTopic = `outbox/${clientId}/backlog`;
    const alarmTopic = `outbox/${clientId}/alarm`;
    const client = await AsyncClient.create({
      serverURI: broker.url,
      clientId,
      persistence: new RedisPersistence({ url: redis.url }),
      maxBufferedMessages: 1000,
      outbox: { window: WINDOW },
    });
    clients.add(client);
    const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('outbox-priority-sub') });
    clients.add(sub);
    const inbox = new Inbox(sub);
    await sub.connect();
    await sub.subscribe(`outbox/${clientId}/#`, { qos: 1 });

    // Enqueued before connect: the whole backlog waits in the store.
    for (let queued = 0; queued < BACKLOG;) {
      const group: Promise<unknown>[] = [];
      for (let i = 0; i < 2000; i++, queued++)
        group.push(client.enqueue(backlogTopic, Buffer.from(String(queued)), { qos: 1 }));
      await Promise.all(group);
    }
    let delivered = 0;
    client.on('delivered', () => (delivered += 1));
    await client.connect({ maxInflight: WINDOW });
    await waitFor(() => delivered > 0, 'the drain started');
    const deliveredAtPublish = delivered;
    const alarmsAcknowledgedAt = await Promise.all(
      Array.from({ length: ALARMS }, (_, i) =>
        client.publish(alarmTopic, Buffer.from(String(i)), { qos: 1 }).then(() => delivered),
      ),
    );
    await inbox.count(BACKLOG + ALARMS, 300_000);

    /** How many backlog messages the subscriber received before alarm `n`. */
    const backlogBeforeAlarm = (n: number): number => {
      const at = inbox.messages.findIndex((m) => m.topic === alarmTopic && m.payload.toString() === String(n));
      assert.ok(at >= 0, `alarm ${n} received`);
      return inbox.messages.slice(0, at).filter((m) => m.topic === backlogTopic).length;
    };
    const positions = Array.from({ length: ALARMS }, (_, i) => backlogBeforeAlarm(i));
    t.diagnostic(
      `published with ${deliveredAtPublish} delivered; acknowledged with ${alarmsAcknowledgedAt.join(',')} delivered; ` +
        `received after ${positions.join(',')} of the backlog`,
    );
    for (const [i, position] of positions.entries()) {
      assert.ok(position < BACKLOG / 10, `alarm ${i} arrived after ${position} backlog messages`);
      assert.ok(
        alarmsAcknowledgedAt[i] < BACKLOG / 10,
        `alarm ${i} acknowledged with ${alarmsAcknowledgedAt[i]} delivered`,
      );
    }
    const received = (topic: string): number[] => inbox.on(topic).map((m) => Number(m.payload.toString()));
    assert.deepEqual(
      received(alarmTopic),
      Array.from({ length: ALARMS }, (_, i) => i),
      'the alarms in publish order',
    );
    assert.deepEqual(
      received(backlogTopic),
      Array.from({ length: BACKLOG }, (_, i) => i),
      'the backlog in enqueue order',
    );
    await client.close();
  });
});
