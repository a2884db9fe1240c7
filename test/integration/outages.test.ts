/**
 * Outages mid-stream, with RedisPersistence: Redis frozen (SIGSTOP), Redis killed (SIGKILL) and
 * restarted from its append-only file, for QoS 1 and QoS 2 publishes in both durability modes;
 * and the broker restarted under automaticReconnect. A publish is issued every 100 ms throughout.
 *
 * The bounds checked: every publish settles (resolves or rejects) within
 * operationTimeoutMs + 1 s; the MQTT connection stays up through a Redis outage of over 3x the
 * keepalive; the stream resumes once Redis (or the broker) is back; nothing stored before the
 * outage is lost. The measured settle times are printed as test diagnostics.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, RedisPersistence, type Durability, type QoS } from '../../src';
import { startMosquitto } from '../helpers/servers';
import { useWatchedServers } from '../helpers/watched-servers';
import { Inbox, hashKeys, sleep, uid, waitFor } from '../helpers/client-common';

const OPERATION_TIMEOUT_MS = 2000;
const KEEPALIVE_S = 2;
/** Over 3x the keepalive: a client that stops talking to the broker for this long is disconnected. */
const OUTAGE_MS = 6500;
const BOUND_MS = OPERATION_TIMEOUT_MS + 1000;
const ISSUE_EVERY_MS = 100;
const BEFORE_MS = 1000;
const AFTER_MS = 1500;
/** Messages stored by an idle client before the outage: they must still be there after it. */
const CANARIES = 10;

const servers = useWatchedServers({ subscriberId: 'outage-sub', redis: { aof: true } });

interface Issued {
  n: number;
  at: number;
  settled?: number;
  error?: string;
}

/** Publishes `#n#` every ISSUE_EVERY_MS until stopped, recording when each one settles. */
class Stream {
  readonly issued: Issued[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly client: AsyncClient,
    private readonly topic: string,
    private readonly qos: QoS,
  ) {}
  start(everyMs = ISSUE_EVERY_MS): void {
    this.timer = setInterval(() => this.issue(), everyMs);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  private issue(): void {
    const record: Issued = { n: this.issued.length + 1, at: performance.now() };
    this.issued.push(record);
    this.client.publish(this.topic, Buffer.from(`#${record.n}#`), { qos: this.qos }).then(
      () => (record.settled = performance.now()),
      (error: Error & { code?: string }) => {
        record.settled = performance.now();
        record.error = error.code ?? error.message;
      },
    );
  }
  settleMs(record: Issued): number {
    return (record.settled ?? Infinity) - record.at;
  }
  unsettled(): Issued[] {
    return this.issued.filter((r) => r.settled === undefined);
  }
}

/** An idle client that stored CANARIES queued publishes before the outage (sendWhileDisconnected). */
async function storeCanaries(qos: QoS, topic: string): Promise<{ client: AsyncClient; hash: string }> {
  const store = new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: OPERATION_TIMEOUT_MS });
  const client = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId: uid('canary'),
    persistence: store,
    sendWhileDisconnected: true,
  });
  servers.clients.add(client);
  for (let i = 1; i <= CANARIES; i++) void client.publish(topic, Buffer.from(`#${i}#`), { qos }).catch(() => undefined);
  await client.flush();
  const hash = store.hashName!;
  assert.equal((await hashKeys(servers.redis.port, hash)).length, CANARIES, 'the canaries are stored');
  return { client, hash };
}

async function outage(kind: 'freeze' | 'kill'): Promise<() => Promise<void>> {
  if (kind === 'freeze') {
    servers.redis.freeze();
    return () => Promise.resolve(servers.redis.thaw());
  }
  await servers.redis.kill();
  return () => servers.redis.restart();
}

async function streamThroughOutage(
  t: TestContext,
  kind: 'freeze' | 'kill',
  qos: QoS,
  durability: Durability,
  keepAliveInterval = KEEPALIVE_S,
) {
  const topic = uid(`outage-${kind}-q${qos}-${durability}`);
  await servers.subscriber.subscribe(`${topic}/#`, { qos });
  const canary = await storeCanaries(qos, `${topic}/canary`);
  const publisher = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId: uid('outage-pub'),
    persistence: new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: OPERATION_TIMEOUT_MS, durability }),
    sendWhileDisconnected: true,
    maxBufferedMessages: 1000,
  });
  servers.clients.add(publisher);
  let connectionLosses = 0;
  const persistenceErrors: string[] = [];
  publisher.on('connectionLost', () => (connectionLosses += 1));
  publisher.on('persistenceError', (e) => persistenceErrors.push(e.code));
  await publisher.connect({
    cleanSession: false,
    keepAliveInterval,
    automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 2 },
  });
  const stream = new Stream(publisher, `${topic}/stream`, qos);
  stream.start();
  // The stream runs through three phases of set lengths: before, during and after the outage.
  await sleep(BEFORE_MS);
  const down = performance.now();
  const recover = await outage(kind);
  let up = Infinity;
  try {
    await sleep(OUTAGE_MS);
  } finally {
    await recover();
    up = performance.now();
  }
  await sleep(AFTER_MS);
  stream.stop();
  await waitFor(() => stream.unsettled().length === 0, 'every publish settled', 30_000).catch(() => undefined);

  const during = stream.issued.filter((r) => r.at >= down - OPERATION_TIMEOUT_MS && r.at <= up);
  const after = stream.issued.filter((r) => r.at > up + 500);
  const worst = Math.max(...stream.issued.map((r) => stream.settleMs(r)));
  // How soon after Redis answered again a publish issued since then completed.
  const resumed = Math.min(...stream.issued.filter((r) => r.at >= up && !r.error).map((r) => r.settled! - up));
  const seconds = (ms: number): string => (ms === Infinity ? 'never' : (ms / 1000).toFixed(1));
  t.diagnostic(
    `${kind} QoS ${qos} ${durability} keepalive ${keepAliveInterval} s: ${stream.issued.length} publishes, worst settle ${seconds(worst)} s; ` +
      `first 5 of the outage settled after ${during
        .filter((r) => r.at >= down)
        .slice(0, 5)
        .map((r) => seconds(stream.settleMs(r)))
        .join(', ')} s; ` +
      `${stream.issued.filter((r) => r.error).length} rejected, ${stream.unsettled().length} unsettled after 30 s; ` +
      `${connectionLosses} connection losses; resumed ${seconds(resumed)} s after Redis returned; ` +
      `persistenceErrors: ${persistenceErrors.join(',') || 'none'}`,
  );

  // Nothing stored before the outage is lost: the idle client's records survived, and send.
  assert.equal((await hashKeys(servers.redis.port, canary.hash)).length, CANARIES, 'the canaries survived the outage');
  await canary.client.connect({ cleanSession: false });
  await waitFor(() => servers.inbox.numbersOn(`${topic}/canary`).size === CANARIES, 'every canary delivered', 10_000);
  await canary.client.close();

  assert.equal(stream.unsettled().length, 0, 'every publish settled');
  for (const r of stream.issued) {
    assert.ok(stream.settleMs(r) <= BOUND_MS, `publish #${r.n} settled after ${seconds(stream.settleMs(r))} s`);
  }
  assert.equal(connectionLosses, 0, 'the MQTT connection stayed up');
  // The stream resumed: what was issued once Redis answered again completed.
  assert.ok(after.length > 0);
  assert.deepEqual(
    after.filter((r) => r.error).map((r) => `#${r.n} ${r.error}`),
    [],
    'publishes after Redis returned',
  );
  await waitFor(
    () =>
      publisher.flush().then(
        () => true,
        () => false,
      ),
    'a flush that succeeds',
    10_000,
  );
  const delivered = servers.inbox.numbersOn(`${topic}/stream`);
  await waitFor(
    () => stream.issued.every((r) => r.error !== undefined || servers.inbox.numbersOn(`${topic}/stream`).has(r.n)),
    'every resolved publish delivered',
    10_000,
  ).catch(() => undefined);
  const missing = stream.issued.filter(
    (r) => r.error === undefined && !servers.inbox.numbersOn(`${topic}/stream`).has(r.n),
  );
  assert.deepEqual(
    missing.map((r) => r.n),
    [],
    `resolved but never delivered (${delivered.size} delivered)`,
  );
  if (qos === 2) {
    const twice = [...servers.inbox.numbersOn(`${topic}/stream`)].filter(([, c]) => c > 1).map(([n]) => n);
    assert.deepEqual(twice, [], 'QoS 2: delivered more than once');
  }
  await publisher.close();
}

for (const kind of ['freeze', 'kill'] as const) {
  const what = kind === 'freeze' ? 'Redis frozen (SIGSTOP)' : 'Redis killed, restarted from its AOF';
  for (const durability of ['batched', 'sync'] as const) {
    describe(`${what} for ${OUTAGE_MS / 1000} s mid-stream (${durability})`, () => {
      for (const qos of [1, 2] as const) {
        it(`QoS ${qos}: publishes settle within operationTimeoutMs + 1 s, the connection stays up, the stream resumes`, (t) =>
          streamThroughOutage(t, kind, qos, durability));
      }
    });
  }
}

describe(`Redis frozen for ${OUTAGE_MS / 1000} s mid-stream, keepalive 20 s (Paho's waits not shortened by it)`, () => {
  it('sync, QoS 1: only the waits under way when Redis stopped take operationTimeoutMs; later publishes fail fast', (t) =>
    streamThroughOutage(t, 'freeze', 1, 'sync', 20));
});

describe('close() while Redis is frozen', () => {
  it('resolves within operationTimeoutMs + 1 s and closes the store; the unstored writes are reported', async (t) => {
    const store = new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: OPERATION_TIMEOUT_MS });
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('close-frozen'),
      persistence: store,
    });
    servers.clients.add(client);
    const codes: string[] = [];
    client.on('persistenceError', (e) => codes.push(e.code));
    await client.connect({ cleanSession: false, keepAliveInterval: KEEPALIVE_S });
    const topic = uid('close-frozen');
    await client.publish(topic, Buffer.from('before'), { qos: 2 });
    servers.redis.freeze();
    try {
      const publishes = Array.from({ length: 5 }, (_, i) =>
        client.publish(topic, Buffer.from(`during ${i}`), { qos: 2 }).catch(() => undefined),
      );
      await waitFor(() => codes.length > 0, 'the outage noticed', BOUND_MS);
      const started = performance.now();
      await client.close();
      const ms = performance.now() - started;
      t.diagnostic(`close() while frozen: ${(ms / 1000).toFixed(1)} s; persistenceErrors: ${codes.join(',')}`);
      assert.ok(ms <= BOUND_MS, `close() took ${(ms / 1000).toFixed(1)} s`);
      assert.equal(store.isOpen, false, 'the store was closed');
      await Promise.all(publishes);
      assert.ok(codes.includes('ERR_PERSISTENCE_UNAVAILABLE'), codes.join(','));
    } finally {
      servers.redis.thaw();
    }
  });
});

describe('broker restarted mid-stream (automaticReconnect, RedisPersistence)', () => {
  it('QoS 1: every publish resolves, every number arrives once the clients are back, nothing is left stored', async (t) => {
    // The broker keeps sessions across its restart (persistence true, in its working dir), so
    // the subscriber's queued messages survive; the publisher's in-flight ones are resent by Paho.
    const own = await startMosquitto({ extraConfig: 'persistence true\nautosave_interval 1' });
    try {
      const topic = uid('broker-restart');
      const reconnect = { minRetryInterval: 1, maxRetryInterval: 2 };
      const sub = await AsyncClient.create({ serverURI: own.url, clientId: uid('restart-sub') });
      servers.clients.add(sub);
      const received = new Inbox(sub);
      await sub.connect({ cleanSession: false, automaticReconnect: reconnect });
      await sub.subscribe(topic, { qos: 1 });
      const store = new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: OPERATION_TIMEOUT_MS });
      const publisher = await AsyncClient.create({
        serverURI: own.url,
        clientId: uid('restart-pub'),
        persistence: store,
        sendWhileDisconnected: true,
        maxBufferedMessages: 1000,
      });
      servers.clients.add(publisher);
      const events: string[] = [];
      let reconnected = Infinity;
      publisher.on('connectionLost', () => events.push('connectionLost'));
      publisher.on('connected', (info) => {
        events.push(`connected ${info.cause}`);
        if (info.cause === 'reconnect') reconnected = Math.min(reconnected, performance.now());
      });
      await publisher.connect({ cleanSession: false, keepAliveInterval: KEEPALIVE_S, automaticReconnect: reconnect });
      const stream = new Stream(publisher, topic, 1);
      stream.start(20);
      await waitFor(() => stream.issued.length >= 100, '100 publishes issued');
      const restarted = performance.now();
      await own.restart();
      await waitFor(() => stream.issued.length >= 300, '300 publishes issued', 20_000);
      stream.stop();
      await waitFor(() => stream.unsettled().length === 0, 'every publish settled', 30_000);
      const worst = Math.max(...stream.issued.map((r) => stream.settleMs(r)));
      t.diagnostic(
        `broker restart: ${stream.issued.length} publishes, reconnected ${((reconnected - restarted) / 1000).toFixed(1)} s ` +
          `after the restart began, worst settle ${(worst / 1000).toFixed(1)} s; ` +
          `events: ${events.join(', ')}`,
      );
      assert.deepEqual(
        stream.issued.filter((r) => r.error).map((r) => `#${r.n} ${r.error}`),
        [],
        'every publish resolved',
      );
      assert.ok(events.includes('connectionLost') && events.includes('connected reconnect'), events.join(', '));
      await waitFor(
        () => received.numbersOn(topic).size === stream.issued.length,
        'every number delivered',
        15_000,
      ).catch(() => undefined);
      const got = received.numbersOn(topic);
      assert.deepEqual(
        stream.issued.filter((r) => !got.has(r.n)).map((r) => r.n),
        [],
        'never delivered',
      );
      await publisher.flush();
      assert.deepEqual(await hashKeys(servers.redis.port, store.hashName!), [], 'nothing left in the Redis hash');
      await Promise.all([publisher.close(), sub.close()]);
    } finally {
      await own.stop();
    }
  });
});
