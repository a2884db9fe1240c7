/**
 * Redis refusing writes for a while, under a stream of QoS 1 and QoS 2 publishes with
 * RedisPersistence ('batched'), MQTT 3.1.1 and MQTT 5: a Sentinel failover, a restart from a
 * large append-only file (LOADING), and maxmemory with noeviction (OOM). Each refused batch must
 * be held and applied again, in its place in the log, once Redis takes writes again: no write
 * is reported failed, every publish resolves, and what the hash holds stays a prefix of the log.
 * The check of that: once every flow completed the hash is empty (a record whose remove was
 * lost would be resent by the next process), and a process restarted with the same client id
 * sends nothing again (QoS 2: no duplicate) while every number arrived (nothing lost).
 */
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { AsyncClient, RedisPersistence, type QoS, type RedisPersistenceOptions } from '../../src';
import { startRedis, type RedisServer } from '../helpers/servers';
import { useWatchedServers } from '../helpers/watched-servers';
import { startSentinelSetup, type SentinelSetup } from '../helpers/redis-sentinel';
import { sleep, uid, waitFor } from '../helpers/client-common';

const OPERATION_TIMEOUT_MS = 2000;
const ISSUE_EVERY_MS = 20;
const MQTT_VERSIONS = [
  { name: 'MQTT 3.1.1', mqttVersion: 4 as const },
  { name: 'MQTT 5', mqttVersion: 5 as const },
];

const servers = useWatchedServers({
  subscriberId: 'refusal-sub',
  // Counting deliveries: a broker that drops nothing for a subscriber that falls behind.
  mosquitto: { extraConfig: 'max_inflight_messages 0\nmax_queued_messages 0\n' },
  redis: false,
});

interface Scenario {
  /** The store's connection (url or Sentinel options). */
  redis: () => Pick<RedisPersistenceOptions, 'url' | 'redisOptions' | 'ackReplicas'>;
  /** A connection to the current master, for reading the client's hash. */
  masterPort: () => number;
  /** Makes Redis refuse writes for a while; resolves once it takes them again. */
  disturb: () => Promise<void>;
}

/**
 * Publishes `#n#` every ISSUE_EVERY_MS through `scenario.disturb()` and a little after, then
 * checks: no persistenceError but ERR_PERSISTENCE_UNAVAILABLE, every publish resolved, flush()
 * resolves, the hash is empty once every flow completed, and a restart with the same client id
 * delivers nothing twice (QoS 2) while every number arrived.
 */
async function publishThrough(t: TestContext, scenario: Scenario, qos: QoS, mqttVersion: 4 | 5): Promise<void> {
  const topic = uid(`refusal-q${qos}-v${mqttVersion}`);
  await servers.subscriber.subscribe(topic, { qos });
  const clientId = uid('refusal-pub');
  const makeStore = (): RedisPersistence =>
    new RedisPersistence({ ...scenario.redis(), operationTimeoutMs: OPERATION_TIMEOUT_MS });
  const store = makeStore();
  const publisher = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId,
    persistence: store,
    mqttVersion,
    maxBufferedMessages: 5000,
  });
  servers.clients.add(publisher);
  const reported: string[] = [];
  publisher.on('persistenceError', (e) => reported.push(`${e.code}: ${e.message}`));
  await publisher.connect({ cleanSession: false, keepAliveInterval: 10 });

  let issued = 0;
  const rejected: string[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const n = ++issued;
    const p = publisher.publish(topic, Buffer.from(`#${n}#`), { qos }).then(
      () => undefined,
      (e: Error & { code?: string }) => void rejected.push(`#${n} ${e.code ?? ''} ${e.message}`),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, ISSUE_EVERY_MS);
  try {
    await sleep(300);
    await scenario.disturb();
    await sleep(500);
  } finally {
    clearInterval(timer);
  }
  await waitFor(() => pending.size === 0, 'every publish settled', 30_000).catch(() => undefined);
  await waitFor(
    () =>
      publisher.flush().then(
        () => true,
        () => false,
      ),
    'a flush that resolves',
    30_000,
  ).catch(() => undefined);
  const hash = store.hashName!;
  const readHash = async (): Promise<string[]> => {
    const master = new Redis(scenario.masterPort(), '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      return await master.hkeys(hash);
    } finally {
      master.disconnect();
    }
  };
  const left = await readHash();
  await publisher.close();
  servers.clients.delete(publisher);
  const failures = reported.filter((r) => !r.startsWith('ERR_PERSISTENCE_UNAVAILABLE'));
  t.diagnostic(
    `QoS ${qos} v${mqttVersion}: ${issued} publishes, ${rejected.length} rejected, ${pending.size} unsettled; ` +
      `reported: ${reported.length} (${failures.length} failures${failures.length ? `, the first: ${failures[0]}` : ''}); ` +
      `left in the hash: ${left.length ? left.slice(0, 10).join(',') : 'nothing'}`,
  );

  // A process started again with the same client id restores what the hash holds.
  const again = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId,
    persistence: makeStore(),
    mqttVersion,
  });
  servers.clients.add(again);
  const restored = (await again.getPendingTokens()).length;
  await again.connect({ cleanSession: false, keepAliveInterval: 10 });
  await waitFor(async () => (await again.getPendingTokens()).length === 0, 'restored messages completed', 10_000);
  await sleep(300); // anything resent reaches the subscriber
  await again.close();
  servers.clients.delete(again);

  const counts = servers.inbox.numbersOn(topic);
  const lost = [];
  for (let n = 1; n <= issued; n++) if (!counts.has(n)) lost.push(n);
  const twice = [...counts].filter(([, c]) => c > 1).map(([n]) => n);
  t.diagnostic(`restored ${restored}; ${counts.size} of ${issued} delivered, ${twice.length} more than once`);
  assert.deepEqual(failures, [], 'failures reported (a refused batch was failed instead of held)');
  assert.deepEqual(rejected, [], 'rejected publishes');
  assert.equal(pending.size, 0, 'every publish settled');
  assert.deepEqual(left, [], 'records left once every flow completed');
  assert.deepEqual(lost, [], 'lost');
  if (qos === 2) assert.deepEqual(twice, [], 'QoS 2: delivered more than once');
}

function scenarios(name: string, scenario: () => Scenario, versions = MQTT_VERSIONS): void {
  for (const { name: version, mqttVersion } of versions) {
    for (const qos of [1, 2] as const) {
      it(`${name}, ${version}, QoS ${qos}: nothing failed, lost or (QoS 2) duplicated`, (t) =>
        publishThrough(t, scenario(), qos, mqttVersion));
    }
  }
}

describe('Redis at maxmemory with noeviction for 2 s (puts refused with OOM, removes applied)', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  });
  after(() => redis?.stop());
  scenarios('OOM', () => ({
    redis: () => ({ url: redis.url }),
    masterPort: () => redis.port,
    disturb: async () => {
      const admin = new Redis(redis.port, '127.0.0.1');
      try {
        await admin.config('SET', 'maxmemory', '1'); // below what Redis uses: every write that may grow memory fails
        await sleep(2000);
        await admin.config('SET', 'maxmemory', '0');
      } finally {
        admin.disconnect();
      }
    },
  }));
});

describe('Redis killed and restarted from a large append-only file (LOADING for ~1 s)', () => {
  let redis: RedisServer;
  before(async () => {
    // 10,000 keys in the AOF's RDB base, each loaded 100 us apart (key-load-delay): loading
    // ends within operationTimeoutMs, so the store answers again while a batch refused during
    // the restart is still being judged.
    redis = await startRedis({ aof: true, args: ['--key-load-delay', '100'] });
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      for (let i = 0; i < 10; i++) {
        const pipeline = admin.pipeline();
        for (let j = 0; j < 1000; j++) pipeline.set(`ballast:${i}:${j}`, 'x'.repeat(64));
        await pipeline.exec();
      }
      await admin.bgrewriteaof();
      await waitFor(
        async () => /aof_rewrite_in_progress:0/.test(await admin.info('persistence')),
        'the AOF rewritten',
        30_000,
      );
    } finally {
      admin.disconnect();
    }
  });
  after(() => redis?.stop());
  scenarios('LOADING', () => ({
    redis: () => ({ url: redis.url }),
    masterPort: () => redis.port,
    disturb: async () => {
      await redis.kill();
      // Down long enough for ioredis to fail the queued batches (MaxRetriesPerRequestError after
      // its second reconnect attempt), back before its probe gives up.
      await sleep(200);
      await redis.restart(); // resolves once PING no longer answers -LOADING
    },
  }));
});

describe('Redis Sentinel failover (SENTINEL FAILOVER) while publishing', () => {
  let setup: SentinelSetup;
  before(async () => {
    setup = await startSentinelSetup();
  });
  after(() => setup?.stop());
  // Without ackReplicas a failover loses writes the old master acknowledged but had not
  // replicated (docs/redis-deployments.md): the hash would keep records whose removes were lost.
  // With it, a batch the new master cannot get acknowledged by a replica (none until Sentinel
  // turns the old master into one) fails with a WAIT shortfall, transient: it is held too.
  const ack = { replicas: 1, timeoutMs: 500 };
  scenarios(
    'failover',
    () => ({
      redis: () => ({ redisOptions: { sentinels: setup.sentinels, name: setup.name }, ackReplicas: ack }),
      masterPort: () => setup.masterPort,
      disturb: () => setup.failover(),
    }),
    MQTT_VERSIONS.slice(0, 1),
  );
  // Without ioredis' failoverDetector the store writes to the old master until Sentinel demotes
  // it: its batches then meet READONLY, and ioredis reconnects through the sentinels.
  scenarios('failover, old master demoted under the client (READONLY)', () => ({
    redis: () => ({
      redisOptions: { sentinels: setup.sentinels, name: setup.name, failoverDetector: false },
      ackReplicas: ack,
    }),
    masterPort: () => setup.masterPort,
    disturb: () => setup.failover(),
  }));
});
