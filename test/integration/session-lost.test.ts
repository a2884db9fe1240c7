/**
 * Messages in flight when the broker loses the client's session. At a CONNACK without a session
 * (clean session / clean start, or session present 0), and when a clean session ends, Paho
 * removes every in-flight record and drops the messages (MQTT 3.1.1 3.2.2.2); the client
 * publishes the sent PUBLISH records (s-N) again, in order, before later messages. Two ways
 * there, for MQTT 3.1.1 and 5, clean and not, QoS 1 and 2:
 * - a publisher with COUNT messages in flight and stored is killed (SIGKILL), the broker is
 *   killed and restarted without sessions, the publisher restarted with the same client id;
 * - a live publisher whose broker is killed and restarted meanwhile connects again: its
 *   publish() calls resolve once the messages sent again complete.
 */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence, type QoS } from '../../src';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { Inbox, closeAll, hashKeys, hashValuesByKey, runFixture, sleep, uid, waitFor } from '../helpers/client-common';
import { companionKeyName } from '../../src/persistence/redis/options';

const COUNT = 250;

let broker: MosquittoServer;
let redis: RedisServer;
const clients = new Set<AsyncClient>();

before(async () => {
  // A subscriber must not lose QoS 1/2 messages to mosquitto's default queue limits.
  [broker, redis] = await Promise.all([
    startMosquitto({ extraConfig: 'max_queued_messages 0\nmax_inflight_messages 0' }),
    startRedis(),
  ]);
});
after(async () => {
  await closeAll(clients);
  await Promise.all([broker?.stop(), redis?.stop()]);
});

type Version = 4 | 5;
const sessionOptions = (version: Version, clean: boolean): { cleanSession: boolean } | { cleanStart: boolean } =>
  version === 5 ? { cleanStart: clean } : { cleanSession: clean };
const inFlight = (keys: string[]): string[] => keys.filter((k) => /^s5?-\d+$/.test(k));

/** Kills the (frozen) broker so it acknowledges nothing more, and starts a new one without sessions. */
async function loseBroker(): Promise<void> {
  process.kill(broker.pid, 'SIGKILL');
  await broker.restart();
}

async function subscribe(topic: string, qos: QoS, version: Version): Promise<Inbox> {
  const client = await AsyncClient.create({ serverURI: broker.url, clientId: uid('lost-sub'), mqttVersion: version });
  clients.add(client);
  const inbox = new Inbox(client);
  await client.connect({ cleanSession: true });
  await client.subscribe(topic, { qos });
  return inbox;
}

function numbers(inbox: Inbox, topic: string): number[] {
  return inbox.on(topic).map((m) => Number(/^#(\d+)#$/.exec(m.payload.toString())?.[1]));
}

/**
 * Every number arrived. `exact`: in order, and QoS 2 once each (one lost session; after a kill
 * in the middle of sending them again, the messages Paho still held as commands go first, and
 * a QoS 2 message may arrive twice).
 */
async function assertDelivered(inbox: Inbox, topic: string, qos: QoS, what: string, exact = true): Promise<number> {
  await waitFor(() => new Set(numbers(inbox, topic)).size >= COUNT, `${COUNT} numbers ${what}`, 30_000).catch(
    (e: Error) => {
      throw new Error(`${e.message}: got ${new Set(numbers(inbox, topic)).size}`);
    },
  );
  const got = numbers(inbox, topic);
  const firsts = [...new Set(got)];
  const expected = Array.from({ length: COUNT }, (_, i) => i + 1);
  if (!exact) firsts.sort((a, b) => a - b);
  assert.deepEqual(firsts, expected, `every number arrives${exact ? ', in order' : ''} (${what})`);
  // The new broker held nothing of the old session: each message went out once more.
  if (qos === 2 && exact) assert.equal(got.length, COUNT, `QoS 2 duplicates (${what})`);
  return got.length - COUNT;
}

/** MQTT 5: the properties each message was published with arrive with the message sent again. */
function assertProperties(inbox: Inbox, topic: string): void {
  for (const m of inbox.on(topic)) {
    const n = /^#(\d+)#$/.exec(m.payload.toString())?.[1];
    assert.equal(m.properties?.contentType, 'text/plain', `contentType of #${n}#`);
    assert.deepEqual(m.properties?.userProperties, [['n', n]], `userProperties of #${n}#`);
    assert.ok((m.properties?.messageExpiryInterval ?? 0) > 0, `messageExpiryInterval of #${n}#`);
  }
}

async function assertStoreEmpty(publisher: AsyncClient, hash: string): Promise<void> {
  await waitFor(async () => (await publisher.getPendingTokens()).length === 0, 'every message completed', 20_000);
  await publisher.flush();
  assert.deepEqual(await hashKeys(redis.port, hash), [], 'the Redis hash is empty at the end');
}

/**
 * A publisher child stores COUNT messages in flight (s-N) and is killed -9; the broker is killed
 * and restarted without sessions.
 */
async function leaveInFlight(version: Version, clean: boolean, qos: QoS): Promise<InFlight> {
  const clientId = uid(`lost-restart-v${version}-q${qos}`);
  const topic = uid('lost-restart');
  const hash = `${clientId}:127.0.0.1:${broker.port}`;
  const config = {
    serverURI: broker.url,
    clientId,
    redisUrl: redis.url,
    brokerPid: broker.pid,
    topic,
    qos,
    count: COUNT,
    mqttVersion: version,
    clean,
  };
  const child = runFixture('inflight-publisher', config);
  try {
    await child.line(/^stored$/);
    await waitFor(
      async () => inFlight(await hashKeys(redis.port, hash)).length === COUNT,
      `${COUNT} PUBLISH records (s-N) in ${hash}`,
    );
  } finally {
    child.kill('SIGKILL');
  }
  await child.exited;
  await loseBroker();
  return { clientId, topic, hash, config };
}

interface InFlight {
  clientId: string;
  topic: string;
  hash: string;
  config: Record<string, unknown>;
}

/** Restarts the publisher in this process and lets it complete what the store holds. */
async function finishInProcess(version: Version, clean: boolean, qos: QoS, left: InFlight, inbox: Inbox, exact = true) {
  // maxBufferedMessages keeps its default (100): Paho takes the messages sent again 100 at a time.
  const publisher = await AsyncClient.create({
    serverURI: broker.url,
    clientId: left.clientId,
    mqttVersion: version,
    persistence: new RedisPersistence({ url: redis.url }),
  });
  clients.add(publisher);
  const restored = (await publisher.getPendingTokens()).length;
  const connected = await publisher.connect({ ...sessionOptions(version, clean), maxInflight: COUNT + 10 });
  const duplicated = await assertDelivered(inbox, left.topic, qos, 'after the restart', exact);
  await assertStoreEmpty(publisher, left.hash);
  await publisher.close();
  return { restored, sessionPresent: connected.sessionPresent, duplicated };
}

async function restartedPublisher(version: Version, clean: boolean, qos: QoS): Promise<void> {
  const left = await leaveInFlight(version, clean, qos);
  const inbox = await subscribe(left.topic, qos, version);
  const { restored, sessionPresent } = await finishInProcess(version, clean, qos, left, inbox);
  assert.equal(restored, COUNT, 'restored in-flight messages');
  assert.equal(sessionPresent, false);
  if (version === 5) assertProperties(inbox, left.topic);
}

/**
 * As restartedPublisher, but the restarted publisher (a child) is killed -9 `delayMs` after its
 * connect() resolved, while it sends the messages again; a third start completes them.
 */
async function killedWhileSendingAgain(
  t: TestContext,
  version: Version,
  clean: boolean,
  qos: QoS,
  delayMs: number,
): Promise<void> {
  const left = await leaveInFlight(version, clean, qos);
  const inbox = await subscribe(left.topic, qos, version);
  const child = runFixture('inflight-publisher', { ...left.config, resume: true });
  await child.line(/^connected$/);
  await sleep(delayMs);
  child.kill('SIGKILL');
  await child.exited;
  const finished = child.lines.includes('done');
  await sleep(300); // what the broker took reaches the subscriber
  // Each message sent again moves from its s-N record to a new command record in one batch.
  const stored = new Map<number, string[]>();
  for (const [key, value] of Object.entries(await hashValuesByKey(redis.port, left.hash))) {
    const found = /#(\d+)#/.exec(value.toString('latin1'));
    if (found) stored.set(Number(found[1]), [...(stored.get(Number(found[1])) ?? []), key]);
  }
  const twice = [...stored].filter(([, keys]) => keys.length > 1);
  assert.deepEqual(twice, [], 'no message stored twice');
  const delivered = new Set(numbers(inbox, left.topic));
  const missing = Array.from({ length: COUNT }, (_, i) => i + 1).filter((n) => !delivered.has(n) && !stored.has(n));
  assert.deepEqual(missing, [], 'every message delivered or stored at the kill');
  const { duplicated } = await finishInProcess(version, clean, qos, left, inbox, false).catch(async (e: Error) => {
    const got = new Set(numbers(inbox, left.topic));
    const lost = Array.from({ length: COUNT }, (_, i) => i + 1).filter((n) => !got.has(n));
    const quarantined = await hashKeys(redis.port, companionKeyName(left.hash, 'quarantine'));
    throw new Error(
      `${e.message}; lost ${lost.map((n) => `${n} (stored at the kill as ${stored.get(n)?.join('+')})`).join(', ')}; ` +
        `quarantined: ${quarantined.join(',')}`,
    );
  });
  t.diagnostic(
    `killed ${delayMs} ms after connect()${finished ? ' (too late: it had finished)' : ''}: ` +
      `${stored.size} stored, ${delivered.size} delivered at the kill; ${duplicated} duplicates in all`,
  );
}

async function livePublisher(version: Version, clean: boolean, qos: QoS): Promise<void> {
  const clientId = uid(`lost-live-v${version}-q${qos}`);
  const topic = uid('lost-live');
  const hash = `${clientId}:127.0.0.1:${broker.port}`;
  const publisher = await AsyncClient.create({
    serverURI: broker.url,
    clientId,
    mqttVersion: version,
    persistence: new RedisPersistence({ url: redis.url }),
    maxBufferedMessages: COUNT + 10,
  });
  clients.add(publisher);
  const connectOptions = { ...sessionOptions(version, clean), maxInflight: COUNT + 10 };
  await publisher.connect(connectOptions);
  const lost = new Promise((resolve) => publisher.once('connectionLost', resolve));
  process.kill(broker.pid, 'SIGSTOP');
  const failures: string[] = [];
  let settled = 0;
  for (let n = 1; n <= COUNT; n++) {
    const properties =
      version === 5
        ? {
            contentType: 'text/plain',
            userProperties: [['n', String(n)]] as [string, string][],
            messageExpiryInterval: 3600,
          }
        : undefined;
    publisher.publish(topic, Buffer.from(`#${n}#`), { qos, properties }).then(
      () => settled++,
      (e: Error & { code?: string }) => {
        settled++;
        failures.push(`${n}: ${e.code}`);
      },
    );
  }
  await publisher.flush();
  await waitFor(
    async () => inFlight(await hashKeys(redis.port, hash)).length === COUNT,
    `${COUNT} PUBLISH records (s-N) in ${hash}`,
  );
  await loseBroker();
  await lost;
  const inbox = await subscribe(topic, qos, version);
  const connected = await publisher.connect(connectOptions);
  assert.equal(connected.sessionPresent, false);
  await waitFor(() => settled === COUNT, `every publish() settles (${settled} of ${COUNT})`, 30_000);
  assert.deepEqual(failures, [], 'every publish() resolves');
  await assertDelivered(inbox, topic, qos, 'after the reconnect');
  if (version === 5) assertProperties(inbox, topic);
  await assertStoreEmpty(publisher, hash);
  await publisher.close();
}

for (const version of [4, 5] as const) {
  for (const clean of [true, false]) {
    const session = version === 5 ? `cleanStart ${clean}` : `cleanSession ${clean}`;
    describe(`MQTT ${version === 5 ? '5' : '3.1.1'}, ${session}: in-flight messages survive a lost session`, () => {
      for (const qos of [1, 2] as const) {
        it(`QoS ${qos}: kill -9 with ${COUNT} in flight, broker restarted without sessions, restart: 0 lost`, () =>
          restartedPublisher(version, clean, qos));
        it(`QoS ${qos}: broker restarted under a live client: every publish() resolves, 0 lost`, () =>
          livePublisher(version, clean, qos));
      }
    });
  }
}

describe('kill -9 while sending the discarded messages again, then a third start', () => {
  const cases: Array<[Version, boolean, QoS]> = [
    [4, false, 1],
    [4, true, 2],
    [5, false, 2],
    [5, true, 1],
  ];
  for (const [version, clean, qos] of cases) {
    const session = version === 5 ? `cleanStart ${clean}` : `cleanSession ${clean}`;
    for (const delayMs of [5, 25, 75]) {
      it(`MQTT ${version === 5 ? '5' : '3.1.1'}, ${session}, QoS ${qos}, killed ${delayMs} ms after connect(): never stored twice, 0 lost`, (t) =>
        killedWhileSendingAgain(t, version, clean, qos, delayMs));
    }
  }
});
