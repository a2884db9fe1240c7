/**
 * Errors that say what happened (a code on each, the URI, Redis' state, redacted causes), and
 * what a client reports about itself: stats() and the node:diagnostics_channel channels.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as diagnostics from 'node:diagnostics_channel';
import * as dns from 'node:dns';
import {
  AsyncClient,
  CLIENT_CHANNEL,
  MemoryPersistence,
  PahoError,
  PahoMqttRedisError,
  PersistenceError,
  RedisPersistence,
  STORE_CHANNEL,
  type ClientDiagnostic,
  type StoreDiagnostic,
} from '../../src';
import { native, type NativeClientEvent } from '../../src/native';
import { NativeRequests } from '../../src/client/requests';
import { forEachInBurst } from '../../src/client/event-burst';
import { freePort, startMosquitto, startRedis, type MosquittoServer } from '../helpers/servers';
import { closeAll, uid, waitFor } from '../helpers/client-common';

let broker: MosquittoServer;
const clients = new Set<AsyncClient>();

before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await closeAll(clients);
  await broker?.stop();
});

async function rejectsWithCode(p: Promise<unknown>, code: string, re: RegExp): Promise<PahoMqttRedisError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    assert.ok(e instanceof PahoMqttRedisError, `expected a PahoMqttRedisError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
  return caught as PahoMqttRedisError;
}

describe('argument errors carry ERR_INVALID_ARG', () => {
  it("persistence: 'redis' explains how to use Redis", async () => {
    await rejectsWithCode(
      AsyncClient.create({ serverURI: broker.url, clientId: 'x', persistence: 'redis' as never }),
      'ERR_INVALID_ARG',
      /got 'redis'.*new RedisPersistence\(\{ url/,
    );
  });

  it('a store missing a method is named', async () => {
    await rejectsWithCode(
      AsyncClient.create({ serverURI: broker.url, clientId: 'x', persistence: { open() {} } as never }),
      'ERR_INVALID_ARG',
      /method 'close' is missing/,
    );
  });

  it('ports outside 1..65535 are refused, in the create URI and in serverURIs', async () => {
    await rejectsWithCode(
      AsyncClient.create({ serverURI: 'tcp://localhost:99999', clientId: 'x' }),
      'ERR_INVALID_ARG',
      /port 99999 is out of range/,
    );
    await rejectsWithCode(
      AsyncClient.create({ serverURI: 'tcp://localhost:0', clientId: 'x' }),
      'ERR_INVALID_ARG',
      /port 0/,
    );
    const c = await AsyncClient.create({ serverURI: 'tcp://[::1]:1883', clientId: uid('v6') });
    clients.add(c);
    await rejectsWithCode(c.connect({ serverURIs: ['tcp://127.0.0.1:70000'] }), 'ERR_INVALID_ARG', /serverURIs\[0\]/);
    await rejectsWithCode(c.connect({ retryFirstConnect: true }), 'ERR_INVALID_ARG', /needs automaticReconnect/);
    await rejectsWithCode(
      c.connect({ automaticReconnect: true, resubscribe: 'yes' as never }),
      'ERR_INVALID_ARG',
      /resubscribe must be a boolean/,
    );
    assert.equal(c.connected, false, 'nothing reached Paho');
  });
});

describe('connection errors', () => {
  it('a failed connect names the URI it tried', async () => {
    const uri = `tcp://127.0.0.1:${await freePort()}`;
    const c = await AsyncClient.create({ serverURI: uri, clientId: uid('nc') });
    clients.add(c);
    await assert.rejects(c.connect({ connectTimeout: 2 }), (e: unknown) => {
      assert.ok(e instanceof PahoError, String(e));
      assert.ok(e.message.startsWith(`connect to ${uri} failed`), e.message);
      return true;
    });
  });

  it('a host name that does not resolve is named as such', async (t) => {
    const host = `${uid('nohost')}.invalid`; // RFC 6761: never resolves
    const resolverAnswers = await Promise.race([
      dns.promises.lookup(host).then(
        () => false,
        (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN',
      ),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
    ]);
    if (!resolverAnswers) return t.skip('this machine has no resolver that answers for .invalid within 2 s');
    const uri = `tcp://${host}:1883`;
    const c = await AsyncClient.create({ serverURI: uri, clientId: uid('nh'), persistence: 'none' });
    clients.add(c);
    await assert.rejects(c.connect({ connectTimeout: 2 }), (e: unknown) => {
      assert.ok(e instanceof PahoError, String(e));
      assert.equal(e.code, 'ERR_PAHO_FAILURE');
      assert.ok(e.message.startsWith(`connect to ${uri} failed`), e.message);
      assert.match(
        e.message,
        new RegExp(`host name does not resolve: '${host.replaceAll('.', '\\.')}' \\((ENOTFOUND|EAI_AGAIN)\\)`),
      );
      return true;
    });
  });

  it('a refused connection to an IP address says nothing of host names', async () => {
    const uri = `tcp://127.0.0.1:${await freePort()}`;
    const c = await AsyncClient.create({ serverURI: uri, clientId: uid('nc'), persistence: 'none' });
    clients.add(c);
    await assert.rejects(c.connect({ connectTimeout: 2 }), (e: unknown) => {
      assert.ok(e instanceof PahoError, String(e));
      assert.doesNotMatch(e.message, /resolve/);
      return true;
    });
  });

  it('unreachable Redis at create: ERR_PERSISTENCE_CONNECTION with the (redacted) cause', async () => {
    const secret = 'hunter2-not-for-logs';
    const url = `redis://:${secret}@127.0.0.1:${await freePort()}`;
    const e = (await rejectsWithCode(
      AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('nr'),
        persistence: new RedisPersistence({ url, operationTimeoutMs: 2000 }),
      }),
      'ERR_PERSISTENCE_CONNECTION',
      /cannot connect to Redis at redis:\/\/.*127\.0\.0\.1.*ECONNREFUSED/,
    )) as PersistenceError;
    assert.equal(e.op, 'open');
    assert.ok(e.cause instanceof Error, 'the cause is kept');
    const everything = [e.message, e.stack, String(e.cause), e.cause.stack].join('\n');
    assert.ok(!everything.includes(secret), 'the password appears nowhere');
  });

  it('Redis dying mid-session: the failure says Redis is unreachable; the publish still completes', async () => {
    const redis = await startRedis();
    try {
      const c = await AsyncClient.create({
        serverURI: broker.url,
        clientId: uid('rd'),
        // 'sync': the command's put fails inside MQTTAsync_sendMessage.
        persistence: new RedisPersistence({ url: redis.url, operationTimeoutMs: 3000, durability: 'sync' }),
      });
      clients.add(c);
      const failures: PersistenceError[] = [];
      c.on('persistenceError', (error) => failures.push(error));
      await c.connect();
      await c.publish(uid('rd'), Buffer.from('before'), { qos: 1 });
      await redis.stop();
      // Paho sends the message from memory: it is delivered, so publish() resolves.
      await c.publish(uid('rd'), Buffer.from('after'), { qos: 1 });
      await waitFor(() => failures.length > 0, "the store failure as a 'persistenceError'");
      const text = failures.map((e) => `${e.message} ${String((e.cause as Error | undefined)?.message)}`).join('\n');
      assert.match(text, /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
      assert.doesNotMatch(text, /max retries per request/);
      await assert.rejects(c.flush(), PersistenceError, 'what was published is not stored');
      await c.close();
    } finally {
      await redis.stop();
    }
  });
});

describe('requests the addon refuses itself', () => {
  it('a native client without a Paho client (not created yet, or destroyed) refuses with ERR_CLIENT_CLOSED, not ERR_PAHO_FAILURE', async () => {
    const requests = new NativeRequests(
      () => undefined,
      () => undefined,
    );
    const client = new native.MqttClient(
      (codes, events) =>
        forEachInBurst(codes, events, {
          event: (event: NativeClientEvent) => {
            if (event.type === 'result') requests.settle(event);
          },
          published: (request, token) => requests.settlePublished(request, token),
          deliveryComplete: () => undefined,
          progressed: () => undefined,
        }),
      null,
    );
    const refused = async (stage: string): Promise<void> => {
      const publishing = requests.send('publish', (id) => client.publish(id, 't', Buffer.from('x'), 1, false));
      await assert.rejects(publishing, (e: unknown) => {
        assert.ok(e instanceof PahoMqttRedisError && !(e instanceof PahoError), `${stage}: ${String(e)}`);
        assert.equal(e.code, 'ERR_CLIENT_CLOSED', stage);
        assert.match(e.message, /^publish: the client is not created or already closed$/, stage);
        return true;
      });
    };
    try {
      await refused('before create');
      await requests.send('close', (id) => client.destroy(id));
      await refused('after destroy');
    } finally {
      client.dispose();
    }
  });
});

describe('observability', () => {
  it('stats() counts the client and passes the store bridge counters through', async () => {
    const store = new MemoryPersistence();
    const [c, plain] = await Promise.all([
      AsyncClient.create({ serverURI: broker.url, clientId: uid('st'), persistence: store }),
      AsyncClient.create({ serverURI: broker.url, clientId: uid('st'), persistence: 'none' }),
    ]);
    clients.add(c).add(plain);
    await c.connect();
    const topic = uid('st');
    await c.subscribe(topic, { qos: 1 });
    await c.publish(topic, Buffer.from('x'), { qos: 1 });
    await waitFor(() => c.stats().received === 1, 'the message counted');
    const stats = c.stats();
    assert.equal(stats.connects, 1);
    assert.equal(stats.published, 1);
    assert.equal(stats.subscriptions, 1);
    assert.ok(stats.store !== undefined, 'a store is in use');
    assert.ok(Object.values(stats.store).every((n) => typeof n === 'number'));
    assert.ok(stats.store.forwarded > 0, JSON.stringify(stats.store));
    assert.equal(plain.stats().store, undefined);
  });

  it('client and store events reach their diagnostics channels', async () => {
    const clientEvents: ClientDiagnostic[] = [];
    const storeEvents: StoreDiagnostic[] = [];
    const onClient = (m: unknown): void => void clientEvents.push(m as ClientDiagnostic);
    const onStore = (m: unknown): void => void storeEvents.push(m as StoreDiagnostic);
    diagnostics.subscribe(CLIENT_CHANNEL, onClient);
    diagnostics.subscribe(STORE_CHANNEL, onStore);
    try {
      // 'sync' and no batch(): every remove reaches store.remove (batched, the put and remove
      // of a delivered message cancel out unsent).
      const store = new MemoryPersistence();
      Object.assign(store, { durability: 'sync', batch: undefined });
      // Removing a delivered message fails: Paho swallows it, the client reports it.
      store.remove = () => {
        throw new Error('remove refused');
      };
      const c = await AsyncClient.create({ serverURI: broker.url, clientId: uid('dc'), persistence: store });
      clients.add(c);
      await c.connect();
      await c.publish(uid('dc'), Buffer.from('x'), { qos: 1 });
      await waitFor(() => storeEvents.some((e) => e.clientId === c.clientId), 'a store failure on the channel');
      await c.close();
      const mine = clientEvents.filter((e) => e.clientId === c.clientId).map((e) => e.event);
      assert.deepEqual(mine, ['connected', 'closed']);
      const failure = storeEvents.find((e) => e.clientId === c.clientId)!;
      assert.equal(failure.event, 'failure');
      assert.match(failure.error.message, /remove refused/);
      assert.equal(c.stats().persistenceErrors > 0, true);
    } finally {
      diagnostics.unsubscribe(CLIENT_CHANNEL, onClient);
      diagnostics.unsubscribe(STORE_CHANNEL, onStore);
    }
  });
});
