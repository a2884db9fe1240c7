/**
 * AsyncClient with a store whose writes fail: the failures surface as 'persistenceError' events
 * (with op and key) and flush() rejections while publishes settle by delivery, for publishes
 * and for queued SUBSCRIBE / UNSUBSCRIBE commands.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AsyncClient,
  MemoryPersistence,
  PahoMqttRedisError,
  PersistenceError,
  type Durability,
  type PersistenceWrite,
} from '../../src';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, uid, waitFor } from '../helpers/client-common';

const servers = useFileServers();
const { clients } = servers;

/** A MemoryPersistence whose writes (one by one or in a batch) can be made to throw for chosen keys. */
class FaultyStore extends MemoryPersistence {
  failPut?: RegExp;
  failRemove?: RegExp;
  constructor(readonly durability: Durability) {
    super();
  }
  override put(key: string, data: Buffer): void {
    this.check(key, data);
    super.put(key, data);
  }
  override remove(key: string): void {
    this.check(key, undefined);
    super.remove(key);
  }
  override batch(writes: readonly PersistenceWrite[]): void {
    for (const w of writes) this.check(w.key, w.data);
    super.batch(writes);
  }
  private check(key: string, data: Buffer | undefined): void {
    const failing = data === undefined ? this.failRemove : this.failPut;
    if (failing?.test(key)) throw new Error(`injected ${data === undefined ? 'remove' : 'put'} failure for ${key}`);
  }
}

/** A client (not connected) on a FaultyStore, its 'persistenceError' events collected. */
async function faultyClient(
  durability: Durability,
  tag: string,
  more: { sendWhileDisconnected?: boolean } = {},
): Promise<{ faulty: FaultyStore; client: AsyncClient; events: PersistenceError[] }> {
  const faulty = new FaultyStore(durability);
  const client = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId: uid(tag),
    persistence: faulty,
    ...more,
  });
  clients.add(client);
  const events: PersistenceError[] = [];
  client.on('persistenceError', (e) => events.push(e));
  return { faulty, client, events };
}

describe('store failures', () => {
  // 'sync': in 'batched', the put and remove of an acknowledged s-N usually cancel out unsent.
  it("failures of other operations (remove) arrive as 'persistenceError' events with op and key", async () => {
    const { faulty, client, events } = await faultyClient('sync', 'rf');
    await client.connect();
    faulty.failRemove = /^s-/;
    const { token } = await client.publish(uid('rf-topic'), Buffer.from('x'), { qos: 1 });
    assert.equal(typeof token, 'number');
    await waitFor(() => events.length > 0, "a 'persistenceError' event");
    const [event] = events;
    assert.ok(event instanceof PersistenceError);
    assert.ok(event instanceof PahoMqttRedisError);
    assert.equal(event.code, 'ERR_PERSISTENCE_STORE');
    assert.equal(event.op, 'remove');
    assert.match(event.key ?? '', /^s-\d+$/);
    assert.match(event.message, /injected remove failure/);
    assert.ok(
      events.every((e) => e.op === 'remove'),
      events.map((e) => e.message).join('; '),
    );
  });

  // A publish settles by its delivery: Paho sends a message whose record could not be stored
  // from memory, so rejecting it would make an application that publishes again on the error
  // send a duplicate. The store failure is a 'persistenceError', and flush() rejects until the
  // record is stored.
  const cases = [
    // 'sync': the command's put fails inside MQTTAsync_sendMessage, before publish() could settle.
    ['sync', /^c-/, 'command'],
    // 'batched': the PUBLISH record's put fails in its batch while the broker (stopped) has not
    // acknowledged the message yet, so the put cannot cancel out with its remove.
    ['batched', /^s-/, 'PUBLISH record'],
  ] as const;
  for (const [durability, failPut, record] of cases) {
    it(`${durability}: a message whose ${record} could not be stored is still delivered: publish() resolves, the failure is a 'persistenceError'`, async () => {
      const { faulty, client, events } = await faultyClient(durability, 'pf');
      await client.connect();
      const topic = uid('pf-topic');
      const inbox = new Inbox(client);
      await client.subscribe(topic, { qos: 1 });

      faulty.failPut = failPut;
      let outcome: Promise<unknown>;
      process.kill(servers.broker.pid, 'SIGSTOP');
      try {
        outcome = client.publish(topic, Buffer.from('unstored'), { qos: 1 }).then(
          (result) => result,
          (error: unknown) => error,
        );
        await waitFor(() => events.length > 0, "the store failure as a 'persistenceError'");
      } finally {
        process.kill(servers.broker.pid, 'SIGCONT');
      }
      faulty.failPut = undefined;
      const result = await outcome!;
      assert.ok(!(result instanceof Error), `publish() rejected though the message was sent: ${String(result)}`);
      assert.equal(typeof (result as { token: number }).token, 'number');
      await waitFor(() => inbox.on(topic).some((m) => m.payload.toString() === 'unstored'), 'the message delivered');
      assert.equal(events.length, 1, events.map((e) => e.message).join('; '));
      const [event] = events;
      assert.equal(event.code, 'ERR_PERSISTENCE_STORE');
      assert.equal(event.op, 'put');
      assert.match(event.key ?? '', failPut);
      assert.match(event.message, /injected put failure/);
      // Paho removed the record that failed once the message completed: nothing is missing.
      await client.publish(topic, Buffer.from('stored'), { qos: 1 });
      await client.flush();
      await waitFor(() => faulty.keys().length === 0, 'both flows finished (nothing left in the store)');
    });
  }

  it("batched: a command put that fails while the message waits offline is a 'persistenceError', and every flush() rejects until the record is stored", async () => {
    // Not connected: the command stays queued, so its put cannot cancel out with its remove.
    const { faulty, client, events } = await faultyClient('batched', 'pb', { sendWhileDisconnected: true });
    faulty.failPut = /^c-/;
    const topic = uid('pb-topic');
    let settled = false;
    const publishing = client.publish(topic, Buffer.from('unstored'), { qos: 1 }).finally(() => {
      settled = true;
    });
    publishing.catch(() => undefined); // rejected by close(): never delivered
    const unstored = (e: unknown): boolean => e instanceof PersistenceError && /injected put/.test(e.message);
    await assert.rejects(client.flush(), unstored);
    await waitFor(() => events.length === 1, "the failure as a 'persistenceError'");
    assert.equal(events[0].op, 'put');
    assert.match(events[0].key ?? '', /^c-\d+$/);
    assert.ok(events[0].cause instanceof Error && /injected put failure/.test(events[0].cause.message), 'cause kept');
    assert.equal(settled, false, 'the publish is not settled by the store failure: the message waits to be sent');
    faulty.failPut = undefined;
    // A later publish is stored, but the first message still is not: flush() keeps rejecting.
    void client.publish(topic, Buffer.from('stored'), { qos: 1 }).catch(() => undefined);
    await assert.rejects(client.flush(), unstored);
    await assert.rejects(client.flush(), unstored);
    assert.equal(faulty.keys().length, 1, 'only the second command is stored');
    assert.equal(events.length, 1, 'reported once');
  });
});

describe('store failures of queued SUBSCRIBE / UNSUBSCRIBE commands', () => {
  for (const durability of ['sync', 'batched'] as const) {
    it(`${durability}: a failed put of the command is a 'persistenceError' naming its key; the calls complete`, async () => {
      const { faulty, client, events } = await faultyClient(durability, 'sf');
      await client.connect({ maxInflight: 1 });
      const topic = uid('sf-topic');
      const inbox = new Inbox(client);
      // Paho sends a queued (un)subscribe only while its inflight window has room, and removes
      // its record (c-N) then: keep the window full (a QoS 1 publish the stopped broker does not
      // acknowledge), so the record's write surely reaches the store before its remove.
      process.kill(servers.broker.pid, 'SIGSTOP');
      let subscribing: Promise<number>;
      let unsubscribing: Promise<void>;
      try {
        const held = client.publish(uid('sf-held'), Buffer.from('held'), { qos: 1 });
        held.catch(() => undefined);
        await waitFor(() => faulty.keys().some((k) => /^s-/.test(k)), 'the held publish in flight');
        faulty.failPut = /^c-/;
        subscribing = client.subscribe(topic, { qos: 1 });
        await waitFor(() => events.length >= 1, "the subscribe's 'persistenceError'");
        unsubscribing = client.unsubscribe(uid('sf-other'));
        await waitFor(() => events.length >= 2, "the unsubscribe's 'persistenceError'");
      } finally {
        process.kill(servers.broker.pid, 'SIGCONT');
      }
      faulty.failPut = undefined;
      for (const event of events) {
        assert.ok(event instanceof PersistenceError);
        assert.equal(event.code, 'ERR_PERSISTENCE_STORE');
        assert.equal(event.op, 'put');
        assert.match(event.key ?? '', /^c-\d+$/);
        assert.match(event.message, /injected put failure for c-\d+/);
      }
      assert.notEqual(events[0].key, events[1].key, 'one event per command');
      if (durability === 'sync') {
        assert.match(events[0].message, /queued SUBSCRIBE command could not be stored/);
        assert.match(events[1].message, /queued UNSUBSCRIBE command could not be stored/);
      }
      // Paho sent both from memory: the broker answers them once it runs again.
      assert.equal(await subscribing!, 1);
      await unsubscribing!;
      await client.publish(topic, Buffer.from('after'), { qos: 1 });
      await inbox.count(1, 10_000, topic);
      assert.equal(events.length, 2, events.map((e) => e.message).join('; '));
    });
  }
});
