/**
 * A poison message: a QoS 2 PUBLISH stored by an earlier process, restored at create and sent
 * to a broker that closes the connection on it (NATS: "publish QoS=2 not supported"). Without a
 * way out every reconnect sends it again and is closed again, and the QoS 1 messages queued
 * behind it never leave. The client sets it aside after `poison.maxRefusals` refusals: it is
 * reported once ('poisonMessage'), moved to the store's quarantine (where `inspect` shows it),
 * and the messages behind it are delivered.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { AsyncClient, RedisPersistence, setTraceLogger, type PoisonMessageInfo } from '../../src';
import { quarantineHashName, quarantinedRecords } from '../../src/persistence/redis/quarantine';
import { decodeRecord } from '../../src/persistence/records/paho-records';
import { Inbox, hashKeys, hashValuesByKey, runFixture, uid, waitFor } from '../helpers/client-common';
import { startNats, startRedis, type NatsServer, type RedisServer } from '../helpers/servers';

let nats: NatsServer;
let redis: RedisServer;

before(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
after(async () => {
  await Promise.all([nats?.stop(), redis?.stop()]);
});

/** The earlier process: leaves `messages` stored as queued commands, then exits. */
async function storeInEarlierProcess(clientId: string, messages: { topic: string; payload: string; qos: 0 | 1 | 2 }[]) {
  const child = runFixture('poison-publisher', { serverURI: nats.url, clientId, redisUrl: redis.url, messages });
  await child.line(/"stored"/);
  await child.exited;
}

/** Appends every write the store receives, decoded, to `file` (PMR_PAHO_TRACE). */
function traceStoreWrites(store: RedisPersistence, file: string): void {
  const log = (line: string) => fs.appendFileSync(file, `STORE ${Date.now()} ${line}\n`);
  const describeWrite = (key: string, value: Buffer | undefined) =>
    value === undefined ? `remove ${key}` : `put ${key} ${JSON.stringify(decodeRecord(key, value))}`;
  const put = store.put.bind(store);
  const remove = store.remove.bind(store);
  const clear = store.clear.bind(store);
  const batch = store.batch?.bind(store);
  const quarantine = store.quarantine?.bind(store);
  store.put = (key, value) => (log(describeWrite(key, value)), put(key, value));
  store.remove = (key) => (log(`remove ${key}`), remove(key));
  store.clear = () => (log('clear'), clear());
  if (batch)
    store.batch = (writes) => {
      for (const w of writes) log(`batch ${describeWrite(w.key, w.data)}`);
      return batch(writes);
    };
  if (quarantine) store.quarantine = (key, reason) => (log(`quarantine ${key}`), quarantine(key, reason));
}

describe('a poison message (a stored QoS 2 PUBLISH NATS refuses)', () => {
  it('is set aside after maxRefusals refusals: reported once, quarantined, the QoS 1 messages behind it delivered', async () => {
    const clientId = uid('poison');
    const topic = uid('poison/t');
    const behind = ['q1-a', 'q1-b', 'q1-c'];
    await storeInEarlierProcess(clientId, [
      { topic, payload: 'the-qos2-one', qos: 2 },
      ...behind.map((payload) => ({ topic, payload, qos: 1 as const })),
    ]);
    const hash = `${clientId}:127.0.0.1:${nats.port}`;
    assert.equal((await hashKeys(redis.port, hash)).length, 4, 'the earlier process left 4 records');

    const watcher = await AsyncClient.create({ serverURI: nats.url, clientId: uid('poison-watch') });
    const persistence = new RedisPersistence({ url: redis.url });
    const traceFile = process.env.PMR_PAHO_TRACE;
    if (traceFile) traceStoreWrites(persistence, traceFile);
    const client = await AsyncClient.create({
      serverURI: nats.url,
      clientId,
      persistence,
      poison: { maxRefusals: 2 },
    });
    try {
      await watcher.connect({ cleanSession: true });
      const inbox = new Inbox(watcher);
      await watcher.subscribe(topic, { qos: 1 });
      const poisoned: PoisonMessageInfo[] = [];
      let losses = 0;
      client.on('poisonMessage', (info) => poisoned.push(info));
      client.on('connectionLost', () => (losses += 1));
      // What happened, for the message of a failure.
      const started = Date.now();
      const timeline: string[] = [];
      for (const event of ['connected', 'connectionLost', 'reconnecting', 'poisonMessage', 'persistenceError'] as const)
        client.on(event, (detail: unknown) =>
          timeline.push(`${Date.now() - started} ms ${event} ${JSON.stringify(detail ?? '')}`),
        );
      // PMR_PAHO_TRACE=<file>: Paho's trace and the store's writes go to that file, to explain a failure.
      if (traceFile)
        setTraceLogger('maximum', (_level, line) => fs.appendFileSync(traceFile, `${Date.now() - started} ${line}\n`));
      await client.connect({ cleanSession: false, automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 2 } });

      const got = await inbox.count(behind.length, 30_000).catch(async (error: Error) => {
        if (traceFile) fs.copyFileSync(nats.logFile, `${traceFile}.nats.log`);
        const records = async (name: string): Promise<string> =>
          Object.entries(await hashValuesByKey(redis.port, name))
            .filter(([key]) => !key.endsWith('#reason'))
            .map(([key, value]) => `${key} ${JSON.stringify(decodeRecord(key.split('@')[0], value))}`)
            .join('\n');
        const received = inbox.messages.map((m) => `${m.topic} ${m.payload.toString()}`).join(', ');
        throw new Error(
          `${error.message}; the subscriber got [${received}]; events:\n${timeline.join('\n')}\nstored:\n${await records(hash)}\n` +
            `quarantined:\n${await records(quarantineHashName(hash))}\nNATS log: ${nats.logFile}`,
        );
      });
      assert.deepEqual(
        got.map((m) => m.payload.toString()),
        behind,
        'the QoS 1 messages queued behind the poison arrive, in order',
      );
      await waitFor(async () => (await hashKeys(redis.port, hash)).length === 0, 'the hash to empty', 10_000);
      assert.equal(poisoned.length, 1, 'reported once');
      assert.equal(poisoned[0].topic, topic);
      assert.equal(poisoned[0].qos, 2);
      assert.equal(poisoned[0].refusals, 2);
      assert.match(poisoned[0].key, /^s-\d+$/);
      assert.equal(losses, 2, 'the connection was lost at the two refusals only: no reconnect loop');
      assert.equal(client.connected, true);

      const setAside = quarantinedRecords(await hashValuesByKey(redis.port, quarantineHashName(hash)));
      assert.ok(
        setAside.some((r) => r.key === poisoned[0].key),
        'the poison is in the quarantine hash, where inspect shows it',
      );
      for (const r of setAside) {
        // Its queued command (c-N) too, when its remove had not reached the store: the same message.
        const record = decodeRecord(r.key, r.value);
        assert.deepEqual([record.topic, record.qos, record.payload?.toString()], [topic, 2, 'the-qos2-one'], r.key);
      }
      assert.match(setAside[0].reason, /refused/);
      assert.equal(client.stats().poisonMessages, 1);
    } finally {
      if (process.env.PMR_PAHO_TRACE) setTraceLogger('off');
      await Promise.all([client.close(), watcher.close()]);
    }
  });

  it('with poison: false the refusals go on (the loop the option ends)', async () => {
    const clientId = uid('poison-off');
    const topic = uid('poison/off');
    await storeInEarlierProcess(clientId, [{ topic, payload: 'the-qos2-one', qos: 2 }]);
    const client = await AsyncClient.create({
      serverURI: nats.url,
      clientId,
      persistence: new RedisPersistence({ url: redis.url }),
      poison: false,
    });
    try {
      let losses = 0;
      let poisoned = 0;
      client.on('connectionLost', () => (losses += 1));
      client.on('poisonMessage', () => (poisoned += 1));
      await client.connect({ cleanSession: false, automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 1 } });
      await waitFor(() => losses >= 4, '4 connection losses', 30_000);
      assert.equal(poisoned, 0);
      const hash = `${clientId}:127.0.0.1:${nats.port}`;
      assert.deepEqual(Object.keys(await hashValuesByKey(redis.port, quarantineHashName(hash))), []);
    } finally {
      await client.close();
    }
  });
});
