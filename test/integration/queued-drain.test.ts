/**
 * Commands Paho holds beyond its inflight window (restored at create, buffered while offline)
 * are sent as acknowledgements make room. Paho's send thread is not woken by an
 * acknowledgement, only by a new command or its 1 s timeout, so without the client's waker
 * (native/client/paho_waker.h) they went out at one window per second: 300 messages at a window of
 * 10 took 30 s. The deadlines below are half of that.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence } from '../../src';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, uid, waitFor } from '../helpers/client-common';

const MESSAGES = 300;
const WINDOW = 10;
/** Paho's timeouts alone need MESSAGES / WINDOW seconds. */
const DEADLINE_MS = (MESSAGES / WINDOW / 2) * 1000;

let inbox: Inbox;
const servers = useFileServers({
  setUp: async () => {
    const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('drain-sub') });
    servers.clients.add(subscriber);
    inbox = new Inbox(subscriber);
    await subscriber.connect();
    await subscriber.subscribe('drain/#', { qos: 1 });
  },
});
const { clients } = servers;

async function offlineClient(clientId: string): Promise<AsyncClient> {
  const client = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId,
    persistence: new RedisPersistence({ url: servers.redis.url }),
    sendWhileDisconnected: true,
    maxBufferedMessages: MESSAGES,
  });
  clients.add(client);
  return client;
}

const publishAll = (client: AsyncClient, topic: string): Array<Promise<unknown>> =>
  Array.from({ length: MESSAGES }, (_, i) => client.publish(topic, Buffer.from(`${i}`), { qos: 1 }));

describe(`commands Paho holds beyond its window (${MESSAGES} messages, maxInflight ${WINDOW})`, () => {
  it('restored at create: all sent well before one window per second would', async () => {
    const clientId = uid('drain-restored');
    const topic = `drain/${clientId}`;
    const first = await offlineClient(clientId);
    for (const p of publishAll(first, topic)) p.catch(() => undefined); // rejected by close(): the records stay
    await waitFor(async () => (await first.getPendingTokens()).length === MESSAGES, 'every publish queued');
    await first.flush();
    await first.close();

    const second = await offlineClient(clientId);
    assert.equal((await second.getPendingTokens()).length, MESSAGES, 'restored');
    const started = Date.now();
    await second.connect({ cleanSession: false, maxInflight: WINDOW });
    await waitFor(async () => (await second.getPendingTokens()).length === 0, 'restored messages sent', DEADLINE_MS);
    const seconds = (Date.now() - started) / 1000;
    await inbox.count(MESSAGES, 10_000, topic);
    assert.deepEqual(new Set(inbox.on(topic).map((m) => m.payload.toString())).size, MESSAGES);
    console.log(`# ${MESSAGES} restored messages sent in ${seconds.toFixed(2)} s`);
    await second.close();
  });

  it('buffered while offline: every publish() resolves well before one window per second would', async () => {
    const clientId = uid('drain-offline');
    const topic = `drain/${clientId}`;
    const client = await offlineClient(clientId);
    const published = publishAll(client, topic);
    await waitFor(async () => (await client.getPendingTokens()).length === MESSAGES, 'every publish queued');
    const started = Date.now();
    await client.connect({ cleanSession: true, maxInflight: WINDOW });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not all sent within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    });
    try {
      await Promise.race([Promise.all(published), late]);
    } finally {
      clearTimeout(timer);
    }
    console.log(`# ${MESSAGES} offline publishes sent in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    await inbox.count(MESSAGES, 10_000, topic);
    await client.close();
  });
});
