/**
 * AsyncClient against a throw-away mosquitto: round trips (v3.1.1 and v5), subscriptions,
 * many clients, argument validation, closed clients, connection failures and the
 * persistence choices ('none', Paho's file store, a ClientPersistence).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AsyncClient,
  MemoryPersistence,
  PahoError,
  PahoMqttRedisError,
  PersistenceError,
  type CreateOptions,
} from '../../src';
import { startMosquitto, freePort, type MosquittoServer } from '../helpers/servers';
import { Inbox, closeAll, uid, waitFor } from '../helpers/client-common';

let broker: MosquittoServer;
const clients = new Set<AsyncClient>();

async function client(options: Partial<CreateOptions> = {}): Promise<AsyncClient> {
  const c = await AsyncClient.create({
    serverURI: broker.url,
    clientId: uid('c'),
    persistence: new MemoryPersistence(),
    ...options,
  });
  clients.add(c);
  return c;
}

async function connected(options: Partial<CreateOptions> = {}): Promise<AsyncClient> {
  const c = await client(options);
  await c.connect({ cleanSession: true });
  return c;
}

/** Rejects with a PahoMqttRedisError of `code` whose message matches `re`. */
async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), code: string, re?: RegExp): Promise<void> {
  await assert.rejects(typeof p === 'function' ? p() : p, (e: unknown) => {
    assert.ok(e instanceof PahoMqttRedisError, `expected a PahoMqttRedisError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await closeAll(clients);
  await broker?.stop();
});

function roundTrips(mqttVersion: 4 | 5): void {
  describe(`MQTT ${mqttVersion === 4 ? '3.1.1' : '5'} round trips`, () => {
    // Paho delays every connect made while another client is connected (about 2 s), so the
    // tests of a version share one subscriber and one publisher, connected in parallel.
    let sub: AsyncClient;
    let pub: AsyncClient;
    let inbox: Inbox;
    before(async () => {
      [sub, pub] = await Promise.all([connected({ mqttVersion }), connected({ mqttVersion })]);
      inbox = new Inbox(sub);
    });

    it('QoS 0/1/2: payload bytes (with zeros), qos, properties and deliveryComplete', async () => {
      const root = uid('rt');
      assert.equal(await sub.subscribe(`${root}/#`, { qos: 2 }), 2);
      const completed: number[] = [];
      pub.on('deliveryComplete', (t) => completed.push(t));
      const properties =
        mqttVersion === 5
          ? {
              userProperties: [
                ['k', '1'],
                ['k', '2'],
                ['ü', 'ß=€'],
              ] as [string, string][],
              contentType: 'application/x-test',
            }
          : undefined;
      const tokens: number[] = [];
      for (const qos of [0, 1, 2] as const) {
        const { token } = await pub.publish(`${root}/q${qos}`, Buffer.from([0, qos, 0, 255, 0, 10, 0]), {
          qos,
          properties,
        });
        assert.equal(typeof token, 'number');
        if (qos > 0) tokens.push(token);
      }
      const got = await inbox.count(3, 10_000, `${root}/`);
      assert.equal(got.length, 3);
      for (const qos of [0, 1, 2] as const) {
        const [m] = got.filter((x) => x.topic === `${root}/q${qos}`);
        assert.ok(m, `no message at QoS ${qos}`);
        assert.deepEqual(m.payload, Buffer.from([0, qos, 0, 255, 0, 10, 0]));
        assert.equal(m.qos, qos);
        assert.equal(m.retained, false);
        if (mqttVersion === 5) {
          assert.deepEqual(m.properties?.userProperties, properties!.userProperties);
          assert.equal(m.properties?.contentType, 'application/x-test');
        } else {
          assert.equal(m.properties, undefined);
        }
      }
      await waitFor(() => tokens.every((t) => completed.includes(t)), 'deliveryComplete for the QoS 1 and 2 tokens');
      assert.deepEqual(await pub.getPendingTokens(), []);
    });

    it('retained messages arrive flagged on a later subscription; empty payloads round trip', async () => {
      const topic = uid('ret');
      await pub.publish(topic, Buffer.from('kept\0'), { qos: 1, retained: true });
      await sub.subscribe(topic, { qos: 1 });
      const [m] = await inbox.count(1, 10_000, topic);
      assert.equal(m.retained, true);
      assert.deepEqual(m.payload, Buffer.from('kept\0'));
      await pub.publish(topic, Buffer.alloc(0), { qos: 1 });
      const [, live] = await inbox.count(2, 10_000, topic);
      assert.equal(live.retained, false);
      assert.equal(live.payload.length, 0);
    });

    it('subscribeMany grants each filter its QoS and deliveries are downgraded to it', async () => {
      const root = uid('sm');
      const granted = await sub.subscribeMany([
        { topic: `${root}/a`, qos: 0 },
        { topic: `${root}/b/+`, qos: 1 },
        { topic: `${root}/c/#`, qos: 2 },
      ]);
      assert.deepEqual(granted, [0, 1, 2]);
      for (const t of ['a', 'b/x', 'c/d/e']) await pub.publish(`${root}/${t}`, Buffer.from(t), { qos: 2 });
      const got = await inbox.count(3, 10_000, `${root}/`);
      assert.deepEqual(got.map((m) => [m.topic, m.qos, m.payload.toString()]).sort(), [
        [`${root}/a`, 0, 'a'],
        [`${root}/b/x`, 1, 'b/x'],
        [`${root}/c/d/e`, 2, 'c/d/e'],
      ]);
    });

    it('unsubscribe stops delivery', async () => {
      const root = uid('us');
      await sub.subscribeMany([
        { topic: `${root}/data/#`, qos: 1 },
        { topic: `${root}/probe`, qos: 1 },
      ]);
      await pub.publish(`${root}/data/1`, Buffer.from('before'), { qos: 1 });
      await inbox.count(1, 10_000, `${root}/`);
      await sub.unsubscribe(`${root}/data/#`);
      await pub.publish(`${root}/data/2`, Buffer.from('after'), { qos: 1 });
      // Same publisher, same connection: once the probe is in, the earlier message would be too.
      await pub.publish(`${root}/probe`, Buffer.from('probe'), { qos: 1 });
      await waitFor(() => inbox.on(`${root}/probe`).length === 1, 'the probe message');
      assert.deepEqual(
        inbox.messages.filter((m) => m.topic.startsWith(root)).map((m) => m.payload.toString()),
        ['before', 'probe'],
      );
    });
  });
}

roundTrips(4);

describe('MQTT 5 subscription options', () => {
  it('subscribeMany applies each subscription its own noLocal', async () => {
    const c = await connected({ mqttVersion: 5 });
    const inbox = new Inbox(c);
    const root = uid('nl');
    await c.subscribeMany([
      { topic: `${root}/own`, qos: 1, noLocal: true },
      { topic: `${root}/echo`, qos: 1, noLocal: false },
    ]);
    await c.publish(`${root}/own`, Buffer.from('own'), { qos: 1 });
    await c.publish(`${root}/echo`, Buffer.from('echo'), { qos: 1 });
    await waitFor(() => inbox.on(`${root}/echo`).length === 1, 'the echo of the noLocal=false subscription');
    // Same connection, in order: had noLocal been ignored, 'own' would have come back first.
    assert.deepEqual(
      inbox.messages.filter((m) => m.topic.startsWith(root)).map((m) => m.payload.toString()),
      ['echo'],
    );
  });

  it('rejects bad per-subscription options', async () => {
    const c = await client({ mqttVersion: 5 });
    await rejectsWith(
      () => c.subscribeMany([{ topic: 'a' }, { topic: 'b', retainHandling: 3 as never }]),
      'ERR_INVALID_ARG',
      /subscriptions\[1\]\.retainHandling/,
    );
    await rejectsWith(
      () => c.subscribeMany([{ topic: 'a' }, { topic: 'b', properties: {} }]),
      'ERR_INVALID_ARG',
      /whole request/,
    );
  });
});

describe('many clients in one process', () => {
  it('10 clients publish to and receive from each other concurrently (QoS 1)', async () => {
    const root = uid('ring');
    const n = 10;
    const perClient = 20;
    const ring = await Promise.all(Array.from({ length: n }, () => connected()));
    const inboxes = ring.map((c) => new Inbox(c));
    await Promise.all(ring.map((c, i) => c.subscribe(`${root}/${i}`, { qos: 1 })));
    await Promise.all(
      ring.map((c, i) =>
        Promise.all(
          Array.from({ length: perClient }, (_, k) =>
            c.publish(`${root}/${(i + 1) % n}`, Buffer.from(`${i}:${k}`), { qos: 1 }),
          ),
        ),
      ),
    );
    await Promise.all(inboxes.map((box) => box.count(perClient)));
    inboxes.forEach((box, i) => {
      const from = (i + n - 1) % n;
      const got = new Set(box.messages.map((m) => m.payload.toString()));
      for (let k = 0; k < perClient; k++) assert.ok(got.has(`${from}:${k}`), `client ${i} missed ${from}:${k}`);
    });
  });
});

describe('argument validation (ERR_INVALID_ARG, before any native call)', () => {
  it('rejects bad create options', async () => {
    await rejectsWith(() => AsyncClient.create({ serverURI: broker.url, clientId: '' }), 'ERR_INVALID_ARG', /clientId/);
    await rejectsWith(
      () => AsyncClient.create({ serverURI: 'http://x', clientId: 'x' }),
      'ERR_INVALID_ARG',
      /serverURI.*tcp:\/\/.*http:\/\/x/,
    );
  });

  it('rejects bad publish and subscribe arguments', async () => {
    const c = await client();
    await rejectsWith(
      () => c.publish('t', Buffer.from('x'), { qos: 3 as never }),
      'ERR_INVALID_ARG',
      /qos must be 0, 1 or 2, got 3/,
    );
    await rejectsWith(() => c.publish('t', 'text' as never), 'ERR_INVALID_ARG', /payload must be a Buffer.*string/);
    await rejectsWith(() => c.publish('a/+/b', Buffer.from('x')), 'ERR_INVALID_ARG', /wildcard/);
    await rejectsWith(() => c.publish('a/#', Buffer.from('x')), 'ERR_INVALID_ARG', /wildcard/);
    await rejectsWith(() => c.subscribe('a/#/b'), 'ERR_INVALID_ARG', /'a\/#\/b'.*'#' must be a whole last level/);
    await rejectsWith(() => c.subscribe('a/b', { qos: 3 as never }), 'ERR_INVALID_ARG', /qos/);
    await rejectsWith(() => c.unsubscribe('a+'), 'ERR_INVALID_ARG', /'\+' must be a whole level/);
    await rejectsWith(() => c.subscribe('a/b', { noLocal: true }), 'ERR_INVALID_ARG', /need mqttVersion 5/);
    assert.deepEqual(await c.getPendingTokens(), [], 'nothing reached Paho');
  });
});

describe('lifecycle', () => {
  it('isConnected and getPendingTokens follow the session', async () => {
    const c = await client();
    assert.equal(await c.isConnected(), false);
    const info = await c.connect({ cleanSession: true });
    assert.equal(info.sessionPresent, false);
    assert.equal(await c.isConnected(), true);
    assert.deepEqual(await c.getPendingTokens(), []);
    process.kill(broker.pid, 'SIGSTOP'); // no PUBACK until thawed
    let result;
    try {
      const publishing = c.publish(uid('pt'), Buffer.from('x'), { qos: 1 });
      const pending = await c.getPendingTokens();
      assert.equal(pending.length, 1);
      process.kill(broker.pid, 'SIGCONT');
      result = await publishing;
      assert.deepEqual(pending, [result.token]);
    } finally {
      process.kill(broker.pid, 'SIGCONT');
    }
    assert.deepEqual(await c.getPendingTokens(), []);
    await c.disconnect({ timeout: 1000 });
    assert.equal(await c.isConnected(), false);
  });

  it('every operation after close() rejects with ERR_CLIENT_CLOSED; close() is idempotent', async () => {
    const c = await client();
    await c.close();
    assert.equal(c.isClosed, true);
    await rejectsWith(c.connect(), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.publish('t', Buffer.from('x'), { qos: 1 }), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.subscribe('t'), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.unsubscribe('t'), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.getPendingTokens(), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.isConnected(), 'ERR_CLIENT_CLOSED');
    await rejectsWith(c.disconnect(), 'ERR_CLIENT_CLOSED');
    await c.close();
  });

  it('connecting to a closed port rejects with a PahoError', async () => {
    const c = await client({ serverURI: `tcp://127.0.0.1:${await freePort()}` });
    await assert.rejects(c.connect({ connectTimeout: 5 }), (e: unknown) => {
      assert.ok(e instanceof PahoError, String(e));
      assert.match(e.code, /^ERR_PAHO_/);
      assert.ok(e.pahoCode < 0, `pahoCode ${e.pahoCode}`);
      return true;
    });
    assert.equal(await c.isConnected(), false);
  });
});

describe('persistence choices', () => {
  it("persistence 'none' works", async () => {
    const topic = uid('none');
    const c = await AsyncClient.create({ serverURI: broker.url, clientId: uid('none'), persistence: 'none' });
    clients.add(c);
    await c.connect();
    const inbox = new Inbox(c);
    await c.subscribe(topic, { qos: 2 });
    await c.publish(topic, Buffer.from('none'), { qos: 2 });
    assert.equal((await inbox.count(1))[0].payload.toString(), 'none');
  });

  it("Paho's file store { dir } keeps a queued message on disk and is empty once it is acknowledged", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-filestore-'));
    try {
      const clientId = uid('file');
      const c = await client({ clientId, persistence: { dir }, sendWhileDisconnected: true });
      const storeDir = path.join(dir, `${clientId}-127.0.0.1-${broker.port}`);
      // Published while disconnected: Paho must hold it as a queued command file (c-N.msg) until sent.
      const offline = c.publish(uid('file/offline'), Buffer.from('offline'), { qos: 1 });
      await waitFor(
        () => fs.existsSync(storeDir) && fs.readdirSync(storeDir).some((f) => /^c-\d+\.msg$/.test(f)),
        `a queued command file in ${storeDir}`,
      );
      const queued = fs.readdirSync(storeDir).find((f) => /^c-\d+\.msg$/.test(f))!;
      assert.ok(
        fs.readFileSync(path.join(storeDir, queued)).includes(Buffer.from('offline')),
        'the file holds the payload',
      );
      await c.connect({ cleanSession: false });
      await offline;
      const inbox = new Inbox(c);
      const topic = uid('file');
      await c.subscribe(topic, { qos: 2 });
      await Promise.all([1, 2].map((qos) => c.publish(topic, Buffer.from(`q${qos}`), { qos: qos as 1 | 2 })));
      await inbox.count(2);
      await waitFor(
        () => fs.readdirSync(storeDir).length === 0,
        `empty ${storeDir} (has ${fs.readdirSync(storeDir).join(', ')})`,
      );
      await c.disconnect({ timeout: 1000 });
      await c.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('create rejects when the store fails to open, and releases the store', async () => {
    const store = new MemoryPersistence();
    const open = store.open.bind(store);
    let fail = true;
    store.open = (clientId: string, serverURI: string) => {
      if (fail) throw new Error('disk on fire');
      open(clientId, serverURI);
    };
    await assert.rejects(
      AsyncClient.create({ serverURI: broker.url, clientId: uid('fo'), persistence: store }),
      (e: unknown) => {
        assert.ok(e instanceof PersistenceError, String(e));
        assert.equal(e.op, 'open');
        assert.match(e.message, /disk on fire/);
        return true;
      },
    );
    fail = false;
    const c = await client({ persistence: store });
    assert.equal(store.keyspaceName, `${c.clientId}:127.0.0.1:${broker.port}`, 'opened by Paho');
  });

  it('a store used by a live client is refused until that client is closed', async () => {
    const store = new MemoryPersistence();
    const first = await client({ persistence: store });
    await rejectsWith(
      () => AsyncClient.create({ serverURI: broker.url, clientId: uid('dup'), persistence: store }),
      'ERR_INVALID_ARG',
      /already used/,
    );
    await first.close();
    const second = await client({ persistence: store });
    assert.equal(store.keyspaceName, `${second.clientId}:127.0.0.1:${broker.port}`);
  });
});

roundTrips(5);
