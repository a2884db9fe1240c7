/**
 * Connection lifecycle with MQTT.js's comforts: connect()/disconnect()/close() in any state,
 * sessionPresent on 'connected', automatic reconnect restoring subscriptions, retryFirstConnect,
 * messages(), typed events. Against throw-away mosquitto brokers (restarted to drop sessions).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AsyncClient,
  PahoError,
  PahoMqttRedisError,
  type ConnectedInfo,
  type ConnectOptions,
  type Message,
  type ResubscribedInfo,
} from '../../src';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';
import { Inbox, closeAll, uid, waitFor } from '../helpers/client-common';

let broker: MosquittoServer;
/** mosquitto flushes its file log line by line (its stdout log is buffered). */
const brokerLog = path.join(os.tmpdir(), `pmr-lifecycle-${process.pid}.log`);
const clients = new Set<AsyncClient>();

async function client(serverURI = broker.url, clientId = uid('lc')): Promise<AsyncClient> {
  const c = await AsyncClient.create({ serverURI, clientId });
  clients.add(c);
  return c;
}

function connects(c: AsyncClient): ConnectedInfo[] {
  const seen: ConnectedInfo[] = [];
  c.on('connected', (info) => seen.push(info));
  return seen;
}

function resubscribes(c: AsyncClient): ResubscribedInfo[] {
  const seen: ResubscribedInfo[] = [];
  c.on('resubscribed', (info) => seen.push(info));
  return seen;
}

const quickRetry: ConnectOptions['automaticReconnect'] = { minRetryInterval: 1, maxRetryInterval: 1 };

before(async () => {
  broker = await startMosquitto({ extraConfig: `log_dest file ${brokerLog}` });
});
after(async () => {
  await closeAll(clients);
  await broker?.stop();
  fs.rmSync(brokerLog, { force: true });
});

describe('connect, disconnect and close in any state', () => {
  it('connect() on a connected client resolves at once with the connection in force', async () => {
    const c = await client();
    const [first, concurrent] = await Promise.all([c.connect(), c.connect({ keepAliveInterval: 5 })]);
    assert.equal(first, concurrent, 'a connect() during a connect shares it');
    assert.equal(c.connected, true);
    assert.equal(await c.connect(), first, 'connected: the same result, settled at once');
    assert.equal(await c.isConnected(), true);
    await c.close();
  });

  it('disconnect() when not connected resolves (never connected, and twice in a row)', async () => {
    const c = await client();
    await c.disconnect();
    await c.connect();
    await c.disconnect({ timeout: 100 });
    await c.disconnect();
    assert.equal(await c.isConnected(), false);
    await c.close();
  });

  it('close() on a connected client sends DISCONNECT first (the broker sees a clean disconnect)', async () => {
    const c = await client();
    await c.connect();
    await c.close();
    const log = (): string => fs.readFileSync(brokerLog, 'utf8');
    await waitFor(
      () => log().includes(`Client ${c.clientId} disconnected.`) || log().includes(`Client ${c.clientId} closed`),
      'the broker logging the end of the connection',
    );
    assert.match(log(), new RegExp(`Client ${c.clientId} disconnected\\.`));
    assert.doesNotMatch(log(), new RegExp(`Client ${c.clientId} closed its connection`));
  });
});

describe("'connected' event", () => {
  it('carries sessionPresent: false for a new session, true when the broker kept it', async () => {
    const c = await client();
    const seen = connects(c);
    assert.equal((await c.connect({ cleanSession: false })).sessionPresent, false);
    await c.disconnect();
    assert.equal((await c.connect({ cleanSession: false })).sessionPresent, true);
    assert.deepEqual(
      seen.map((e) => [e.cause, e.sessionPresent]),
      [
        ['connect', false],
        ['connect', true],
      ],
    );
    await c.disconnect();
    await c.close();
  });
});

describe('automatic reconnect', () => {
  it('after a broker restart (session lost), subscriptions come back; resubscribe: false keeps them gone', async () => {
    const root = uid('rs');
    const [restoring, plain, publisher] = await Promise.all([client(), client(), client()]);
    const restoringInbox = new Inbox(restoring);
    const plainInbox = new Inbox(plain);
    const restoringConnects = connects(restoring);
    const resubscribed = resubscribes(restoring);
    const plainResubscribed = resubscribes(plain);
    await Promise.all([
      restoring.connect({ cleanSession: false, automaticReconnect: quickRetry }),
      plain.connect({ cleanSession: false, automaticReconnect: quickRetry, resubscribe: false }),
      publisher.connect({ automaticReconnect: quickRetry }),
    ]);
    await restoring.subscribeMany([
      { topic: `${root}/a/+`, qos: 1 },
      { topic: `${root}/gone`, qos: 1 },
    ]);
    await restoring.unsubscribe(`${root}/gone`);
    await plain.subscribe(`${root}/a/+`, { qos: 1 });

    await broker.restart(); // persistence false: every session is gone
    await waitFor(() => restoringConnects.some((e) => e.cause === 'reconnect'), 'the automatic reconnect');
    assert.equal(restoringConnects.at(-1)?.sessionPresent, false);
    await waitFor(() => resubscribed.length === 1, "'resubscribed'");
    assert.deepEqual(resubscribed[0], { topics: [`${root}/a/+`], granted: [1] });
    await waitFor(async () => plain.connected && publisher.connected && (await plain.isConnected()), 'reconnects');
    await plain.subscribe(`${root}/probe`, { qos: 1 });

    await publisher.publish(`${root}/a/1`, Buffer.from('after'), { qos: 1 });
    await publisher.publish(`${root}/probe`, Buffer.from('probe'), { qos: 1 });
    await restoringInbox.count(1, 10_000, `${root}/a/`);
    await waitFor(() => plainInbox.on(`${root}/probe`).length === 1, 'the probe');
    // Same publisher, in order: had 'plain' been resubscribed, a/1 would have arrived before the probe.
    assert.deepEqual(plainInbox.on(`${root}/a/1`), []);
    assert.deepEqual(plainResubscribed, []);
    const stats = restoring.stats();
    assert.equal(stats.reconnects, 1);
    assert.equal(stats.connectionLosses, 1);
    assert.equal(stats.resubscribed, 1);
    assert.equal(stats.subscriptions, 1);
  });

  it('retryFirstConnect: connect() waits for the broker; without it connect() rejects naming the URI', async () => {
    const down = await startMosquitto();
    await down.stop();
    const c = await client(down.url);
    await assert.rejects(c.connect({ automaticReconnect: quickRetry, connectTimeout: 2 }), (e: unknown) => {
      assert.ok(e instanceof PahoError, String(e));
      assert.ok(e.message.includes(down.url), e.message);
      return true;
    });
    const retrying: number[] = [];
    c.on('reconnecting', (info) => retrying.push(info.attempt));
    const connecting = c.connect({ automaticReconnect: quickRetry, retryFirstConnect: true, connectTimeout: 2 });
    await waitFor(() => retrying.length >= 2, 'two scheduled retries');
    await down.restart();
    try {
      const result = await connecting;
      assert.equal(result.sessionPresent, false);
      assert.equal(await c.isConnected(), true);
      assert.equal(c.stats().reconnects, 1);
    } finally {
      await c.close();
      await down.stop();
    }
  });

  it('disconnect() ends the retries: a waiting connect() rejects with ERR_CONNECT_ABORTED', async () => {
    const down = await startMosquitto();
    await down.stop();
    try {
      const c = await client(down.url);
      const retrying: number[] = [];
      c.on('reconnecting', (info) => retrying.push(info.attempt));
      // Settled as values, so a rejection before the assertion is not 'unhandled'.
      const outcome = (p: Promise<unknown>): Promise<unknown> =>
        p.then(
          () => 'resolved',
          (e: unknown) => e,
        );
      const options = { automaticReconnect: quickRetry, retryFirstConnect: true, connectTimeout: 2 };
      const connecting = outcome(c.connect(options));
      await waitFor(() => retrying.length >= 1, 'a scheduled retry');
      await c.disconnect();
      assert.equal(((await connecting) as PahoMqttRedisError).code, 'ERR_CONNECT_ABORTED');
      const closing = outcome(c.connect(options));
      await c.close();
      assert.equal(((await closing) as PahoMqttRedisError).code, 'ERR_CLIENT_CLOSED');
    } finally {
      await down.stop();
    }
  });
});

describe('messages() and typed events', () => {
  it('iterates the messages matching a filter, and ends at close()', async () => {
    const root = uid('it');
    const c = await client();
    await c.connect();
    await c.subscribe(`${root}/#`, { qos: 1 });
    const got: Message[] = [];
    const reading = (async () => {
      for await (const m of c.messages({ topicFilter: `${root}/keep/+` })) got.push(m);
    })();
    for (const t of ['keep/1', 'drop/1', 'keep/2', 'keep/2/deeper'])
      await c.publish(`${root}/${t}`, Buffer.from(t), { qos: 1 });
    await waitFor(() => got.length === 2, 'two matching messages');
    await c.close();
    await reading; // ends: close() finishes the iterator
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      ['keep/1', 'keep/2'],
    );
    assert.deepEqual(await c.messages().next(), { value: undefined, done: true }, 'closed: ends at once');
  });

  it('an open messages() loop goes on through removeAllListeners(), and still ends at close()', async () => {
    const topic = uid('it-rm-all');
    const c = await client();
    await c.connect();
    await c.subscribe(topic, { qos: 1 });
    const got: string[] = [];
    let ended = false;
    const reading = (async () => {
      for await (const m of c.messages()) got.push(m.payload.toString());
      ended = true;
    })();
    await c.publish(topic, Buffer.from('before'), { qos: 1 });
    await waitFor(() => got.length === 1, 'the message before removeAllListeners()');
    c.removeAllListeners();
    c.removeAllListeners('message');
    await c.publish(topic, Buffer.from('after'), { qos: 1 });
    await waitFor(() => got.length === 2, 'the message after removeAllListeners()');
    assert.equal(ended, false);
    await c.close();
    await reading; // would hang without its 'closed' listener
    assert.deepEqual(got, ['before', 'after']);
    assert.equal(c.listenerCount('message'), 0, 'the ended loop left no listener behind');
  });

  it('on/once/off are typed per event, and off removes a listener', async () => {
    const c = await client();
    let connects = 0;
    const listener = (info: ConnectedInfo): void => {
      connects += info.sessionPresent ? 0 : 1;
    };
    c.on('connected', listener);
    // @ts-expect-error - a 'connected' listener takes ConnectedInfo, not a string
    c.once('connected', (cause: string) => cause.length);
    // @ts-expect-error - there is no such event
    c.on('connect', () => undefined);
    c.off('connected', listener);
    await c.connect();
    assert.equal(connects, 0);
    await c.close();
  });
});
