/**
 * A client's whole life through RedisPersistence: connect, subscribe, publish QoS 1 and 2, and a restore
 * from a hash seeded beforehand, against redis-server and mosquitto started for this file. Everything
 * runs in this process (no Node child processes), so the file also runs on an ARM Node under qemu-user
 * (scripts/test-emulated.js, `npm run test:arm64`), talking to the host's servers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, MemoryPersistence, RedisPersistence, type Message } from '../../src/index';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, hashKeys, uid, waitFor } from '../helpers/client-common';

// Emulated runs are several times slower than native ones.
const WAIT_MS = 30_000;

const servers = useFileServers();
const { clients } = servers;

async function create(options: Parameters<typeof AsyncClient.create>[0]): Promise<AsyncClient> {
  const client = await AsyncClient.create(options);
  clients.add(client);
  return client;
}

function payloads(messages: Message[]): string[] {
  return messages.map((m) => m.payload.toString());
}

describe(`client round trip on ${process.arch}`, () => {
  it('connects, subscribes, publishes QoS 1 and 2 through RedisPersistence, and leaves an empty hash', async () => {
    const store = new RedisPersistence({ url: servers.redis.url });
    const client = await create({ serverURI: servers.broker.url, clientId: uid('rt'), persistence: store });
    const hash = store.hashName!;
    const failures: unknown[] = [];
    client.on('persistenceError', (e) => failures.push(e));
    const completed: number[] = [];
    client.on('deliveryComplete', (token) => completed.push(token));

    await client.connect({ cleanSession: true });
    const topic = uid('rt-topic');
    const inbox = new Inbox(client);
    await client.subscribe(topic, { qos: 2 });
    const results = await Promise.all([
      client.publish(topic, Buffer.from('qos1'), { qos: 1 }),
      client.publish(topic, Buffer.from('qos2'), { qos: 2 }),
    ]);
    const received = await inbox.count(2, WAIT_MS, topic);
    assert.deepEqual(payloads(received).sort(), ['qos1', 'qos2']);
    assert.deepEqual(received.map((m) => [m.payload.toString(), m.qos]).sort(), [
      ['qos1', 1],
      ['qos2', 2],
    ]);
    await waitFor(
      () => results.every((r) => completed.includes(r.token)),
      'deliveryComplete for both publishes',
      WAIT_MS,
    );
    await waitFor(
      async () => (await hashKeys(servers.redis.port, hash)).length === 0,
      'an empty hash once all is acknowledged',
      WAIT_MS,
    );
    await client.disconnect({ timeout: 1000 });
    await client.close();
    assert.deepEqual(failures, []);
  });

  it('deliveryComplete follows its listeners: removed, then added again, it reports the later publishes', async () => {
    const client = await create({ serverURI: servers.broker.url, clientId: uid('rt-dc'), persistence: 'none' });
    await client.connect({ cleanSession: true });
    const topic = uid('rt-dc-topic');
    const first: number[] = [];
    const onFirst = (token: number): void => void first.push(token);
    client.on('deliveryComplete', onFirst);
    const before = await client.publish(topic, Buffer.from('one'), { qos: 1 });
    await waitFor(() => first.includes(before.token), 'deliveryComplete with a listener', WAIT_MS);
    client.off('deliveryComplete', onFirst);
    const unheard = await client.publish(topic, Buffer.from('two'), { qos: 1 });
    const later: number[] = [];
    client.on('deliveryComplete', (token) => later.push(token));
    const after = await client.publish(topic, Buffer.from('three'), { qos: 2 });
    await waitFor(() => later.includes(after.token), 'deliveryComplete once a listener is added again', WAIT_MS);
    assert.deepEqual(first, [before.token]);
    assert.ok(!later.includes(unheard.token), 'a completion while nobody listened is not reported later');
    await client.disconnect({ timeout: 1000 });
    await client.close();
  });

  it("removeAllListeners() keeps the client's own hooks: a 'deliveryComplete' listener added afterwards hears, and the outbox drains at connect", async () => {
    const client = await create({
      serverURI: servers.broker.url,
      clientId: uid('rt-rm-all'),
      persistence: new MemoryPersistence(),
      outbox: {},
    });
    const { id } = await client.enqueue(uid('rt-rm-all-queued'), Buffer.from('queued'), { qos: 1 });
    client.on('deliveryComplete', () => undefined);
    client.removeAllListeners();
    const delivered: string[] = [];
    client.on('delivered', (info) => delivered.push(info.id));
    const completed: number[] = [];
    client.on('deliveryComplete', (token) => completed.push(token));
    await client.connect({ cleanSession: true });
    await waitFor(() => delivered.includes(id), 'the message enqueued before connect() delivered', WAIT_MS);
    const { token } = await client.publish(uid('rt-rm-all-topic'), Buffer.from('one'), { qos: 1 });
    await waitFor(() => completed.includes(token), "'deliveryComplete' after removeAllListeners()", WAIT_MS);
    client.removeAllListeners('newListener');
    client.removeAllListeners('removeListener');
    const later: number[] = [];
    client.on('deliveryComplete', (t) => later.push(t));
    const second = await client.publish(uid('rt-rm-all-topic'), Buffer.from('two'), { qos: 1 });
    await waitFor(() => later.includes(second.token), "'deliveryComplete' after removing the hooks' events", WAIT_MS);
    await client.disconnect({ timeout: 1000 });
    await client.close();
  });

  it('a new client restores QoS 1 and 2 publishes from a hash a never-connected client seeded, and sends them', async () => {
    const clientId = uid('rt-restore');
    const topic = uid('rt-restore-topic');
    const subscriber = await create({ serverURI: servers.broker.url, clientId: uid('rt-sub') });
    const inbox = new Inbox(subscriber);
    await subscriber.connect();
    await subscriber.subscribe(topic, { qos: 2 });

    // Seed: publishes queued while never connected are stored as c-N commands and kept at close.
    const seedStore = new RedisPersistence({ url: servers.redis.url });
    const seeder = await create({
      serverURI: servers.broker.url,
      clientId,
      persistence: seedStore,
      sendWhileDisconnected: true,
    });
    const hash = seedStore.hashName!;
    const sent = ['restored-0', 'restored-1', 'restored-2'];
    const outcomes: Promise<unknown>[] = sent.map((text, i) =>
      seeder.publish(topic, Buffer.from(text), { qos: i === 1 ? 2 : 1 }).catch((e: unknown) => e),
    );
    await waitFor(
      async () => (await hashKeys(servers.redis.port, hash)).length === sent.length,
      `${sent.length} queued commands`,
      WAIT_MS,
    );
    await seeder.close();
    await Promise.all(outcomes);
    assert.deepEqual(await hashKeys(servers.redis.port, hash), ['c-1', 'c-2', 'c-3']);

    const restorer = await create({
      serverURI: servers.broker.url,
      clientId,
      persistence: new RedisPersistence({ url: servers.redis.url }),
      sendWhileDisconnected: true,
    });
    const restored = await restorer.getPendingTokens();
    assert.equal(restored.length, sent.length, `restored tokens: ${JSON.stringify(restored)}`);
    await restorer.connect({ cleanSession: false });
    const received = await inbox.count(sent.length, WAIT_MS, topic);
    // MQTT orders messages within one QoS level only.
    assert.deepEqual(payloads(received).sort(), sent);
    await waitFor(async () => (await restorer.getPendingTokens()).length === 0, 'no pending tokens', WAIT_MS);
    await waitFor(
      async () => (await hashKeys(servers.redis.port, hash)).length === 0,
      'an empty hash after the restored sends',
      WAIT_MS,
    );
    await restorer.disconnect({ timeout: 1000 });
  });
});
