/**
 * Connection losses while the outbox's window is with Paho: a proxy in front of the broker
 * resets the publisher's connection mid-drain, so publishes Paho accepted fail on the dead
 * socket (or complete after the reconnect). Every enqueued id gets exactly one 'delivered' or
 * 'dropped' (QoS 0 only), and the subscriber (connected to the broker directly) receives every
 * QoS 1/2 message.
 * Real Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence } from '../../src';
import { Inbox, closeAll, sleep, uid, waitFor } from '../helpers/client-common';
import { startCutProxy, type CutProxy } from '../helpers/cut-proxy';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const MESSAGES = 2100;
/** Every third message at each QoS. */
const qosOf = (n: number): 0 | 1 | 2 => (n % 3) as 0 | 1 | 2;
const WINDOW = 50;
/** Delivered counts at which the publisher's connection is cut. */
const CUTS_AT = [200, 500, 800, 1100, 1400, 1700];

let broker: MosquittoServer;
let redis: RedisServer;
let proxy: CutProxy;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([
    startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 100000' }),
    startRedis(),
  ]);
  proxy = await startCutProxy(broker.port);
});

after(async () => {
  await closeAll(clients);
  await proxy?.close();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

/** Sessions the broker keeps across the cuts (Paho sends its flight again), and one it ends (Paho discards it). */
const VARIANTS = [
  { name: 'MQTT 3.1.1, session kept', mqttVersion: 4, connect: { cleanSession: false } },
  {
    name: 'MQTT 5, session kept',
    mqttVersion: 5,
    connect: { cleanStart: false, properties: { sessionExpiryInterval: 3600 } },
  },
  { name: 'MQTT 5, session ends with each connection', mqttVersion: 5, connect: { cleanStart: false } },
] as const;

for (const { name, mqttVersion, connect } of VARIANTS) {
  describe(`connection cut mid-drain (${name})`, () => {
    it(`${MESSAGES} messages at QoS 0, 1, 2: one 'delivered' or 'dropped' per id, every QoS 1/2 message received`, async () => {
      const clientId = uid(`outbox-handoff-v${mqttVersion}`);
      const topic = `outbox-handoff/${clientId}`;
      const sub = await AsyncClient.create({ serverURI: broker.url, clientId: uid('outbox-handoff-sub') });
      clients.add(sub);
      const inbox = new Inbox(sub);
      await sub.connect();
      await sub.subscribe(topic, { qos: 2 });

      const store = new RedisPersistence({ url: redis.url });
      const client = await AsyncClient.create({
        serverURI: proxy.url,
        clientId,
        mqttVersion,
        persistence: store,
        sendWhileDisconnected: true,
        maxBufferedMessages: 1000,
        outbox: { window: WINDOW },
      });
      clients.add(client);
      const settled = new Map<string, string[]>();
      const note = (id: string, what: string): void => {
        settled.set(id, [...(settled.get(id) ?? []), what]);
      };
      let delivered = 0;
      let cuts = 0;
      client.on('delivered', ({ id }) => {
        delivered += 1;
        note(id, 'delivered');
        if (delivered === CUTS_AT[cuts]) {
          cuts += 1;
          proxy.cut();
        }
      });
      const droppedAccepted = new Map<string, boolean>();
      client.on('dropped', ({ id, qos }, error) => {
        note(id, `dropped QoS ${qos}`);
        droppedAccepted.set(id, (error as { acceptedByPaho?: boolean }).acceptedByPaho === true);
      });
      let garbledResends = 0;
      client.on('persistenceError', (error) => {
        if (error.code === 'ERR_PERSISTENCE_BAD_RESULT' && /freed memory/.test(error.message)) garbledResends += 1;
      });
      await client.connect({
        ...connect,
        maxInflight: WINDOW,
        automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 1 },
      });
      const ids = await Promise.all(
        Array.from({ length: MESSAGES }, async (_, i) => {
          const { id } = await client.enqueue(topic, Buffer.from(`#${i}#`), { qos: qosOf(i) });
          return id;
        }),
      );
      await waitFor(() => settled.size >= MESSAGES, 'every id to settle', 30_000).catch((error: Error) => {
        const missing = ids.filter((id) => !settled.has(id));
        throw new Error(`${error.message}: ${missing.length} never settled, e.g. ${missing.slice(0, 5).join()}`);
      });
      await sleep(300); // a second event would be on its way
      assert.equal(cuts, CUTS_AT.length, 'the connection was cut at each planned point');
      const twice = [...settled].filter(([, events]) => events.length > 1);
      assert.deepEqual(twice, [], 'no id settles twice');
      // QoS 0 written to a dead socket is lost (at most once): 'dropped', as Paho failed it after
      // accepting it. Paho keeps QoS 1/2 and sends it again: 'delivered'.
      const dropped = [...settled].filter(([, events]) => events[0] !== 'delivered');
      assert.deepEqual(
        dropped.filter(([, events]) => events[0] !== 'dropped QoS 0'),
        [],
        'no QoS 1/2 id is dropped (Paho keeps what it accepted)',
      );
      assert.ok(
        dropped.every(([id]) => droppedAccepted.get(id) === true),
        "a QoS 0 'dropped' says Paho had accepted it",
      );
      // Paho 1.3.12 frees the topic and payload of a QoS 1/2 PUBLISH whose first write fails yet
      // resends it from that memory after the reconnect (docs/persistence.md, "Paho resends freed
      // memory"): such a message arrives garbled, or not at all, and each resend that changed
      // it is reported. Every other message arrives intact.
      const intact = inbox.on(topic).filter((m) => /^#\d+#$/.test(m.payload.toString()));
      const received = new Set(intact.map((m) => Number(/^#(\d+)#$/.exec(m.payload.toString())![1])));
      const lost = Array.from({ length: MESSAGES }, (_, i) => i).filter((n) => qosOf(n) > 0 && !received.has(n));
      assert.ok(
        lost.length <= garbledResends,
        `the subscriber received every message intact but ${lost.length} (${lost.slice(0, 10).join()}), ` +
          `no more than the ${garbledResends} resends Paho made from freed memory`,
      );
      console.log(
        `${name}: ${cuts} cuts, ${dropped.length} QoS 0 dropped, ` +
          `${lost.length} QoS 1/2 garbled by Paho (${garbledResends} resends reported)`,
      );
      await client.close();
      await sub.close();
    });
  });
}
