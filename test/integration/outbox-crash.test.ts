/**
 * kill -9 of a process using the outbox (test/fixtures/outbox-publisher.ts), while it enqueues
 * offline and while it drains: every message it was told is stored arrives, no QoS 2 message
 * arrives twice, and each QoS keeps its order. The same trials under MQTT 3.1.1 (c-/s- records)
 * and MQTT 5 (c5-/s5-). Real Redis and mosquitto on free ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AsyncClient } from '../../src';
import { hashName, pahoServerURI } from '../../src/persistence/redis/options';
import { hashKeys, runFixture, sleep, uid, waitFor } from '../helpers/client-common';
import { numberIn } from '../helpers/crash-tally';
import { qosOf, type OutboxPublisherConfig } from '../fixtures/outbox-publisher';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const WINDOW = 50;

let broker: MosquittoServer;
let redis: RedisServer;
let watcher: AsyncClient;
let admin: Redis;
/** Arrivals per topic, in order. */
const arrivals = new Map<string, number[]>();

before(async () => {
  [broker, redis] = await Promise.all([
    startMosquitto({ extraConfig: 'max_queued_messages 0\nmax_inflight_messages 0' }),
    startRedis(),
  ]);
  admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  watcher = await AsyncClient.create({ serverURI: broker.url, clientId: uid('outbox-watcher') });
  watcher.on('message', (m) => {
    const n = numberIn(m.payload.toString('latin1'));
    if (n !== undefined) arrivals.get(m.topic)?.push(n);
  });
  await watcher.connect({ cleanSession: false });
  await watcher.subscribe('outbox-crash/#', { qos: 2 });
});

after(async () => {
  await watcher?.close().catch(() => undefined);
  admin?.disconnect();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

function config(
  mqttVersion: 4 | 5,
  clientId: string,
  topic: string,
  part: Partial<OutboxPublisherConfig>,
): OutboxPublisherConfig {
  return {
    mqttVersion,
    serverURI: broker.url,
    clientId,
    redisUrl: redis.url,
    topic,
    from: 1,
    to: 0,
    window: WINDOW,
    connect: false,
    ...part,
  };
}

/** Runs the publisher until it prints a line matching `until` (then kill -9), or to 'done'. */
async function run(
  cfg: OutboxPublisherConfig,
  killAfter?: (line: string, count: number) => boolean,
): Promise<string[]> {
  let count = 0;
  let killed = false;
  const child = runFixture('outbox-publisher', cfg, (line) => {
    count += 1;
    if (!killed && killAfter?.(line, count)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const exit = await child.exited;
  if (killAfter === undefined) {
    assert.ok(child.lines.includes('done'), `the last run finished (exit ${JSON.stringify(exit)}): ${child.stderr()}`);
  } else {
    assert.equal(exit.signal, 'SIGKILL', `killed as planned: ${child.stderr()}`);
  }
  return child.lines;
}

/** Every number in `stored` arrived; QoS 2 at most once; each QoS in order of first arrival. */
function check(topic: string, stored: Set<number>, total: number): void {
  const got = arrivals.get(topic)!;
  const seen = new Map<number, number>();
  for (const n of got) seen.set(n, (seen.get(n) ?? 0) + 1);
  const lost = [...stored].filter((n) => !seen.has(n));
  assert.deepEqual(lost, [], 'no stored message is lost');
  const twice = [...seen].filter(([n, c]) => qosOf(n) === 2 && c > 1).map(([n]) => n);
  assert.deepEqual(twice, [], 'no QoS 2 message arrives twice');
  assert.ok(
    got.every((n) => n >= 1 && n <= total),
    'nothing arrives that was not enqueued',
  );
  for (const qos of [1, 2]) {
    const firsts = got.filter((n, i) => qosOf(n) === qos && got.indexOf(n) === i);
    const sorted = [...firsts].sort((a, b) => a - b);
    assert.deepEqual(firsts, sorted, `QoS ${qos} arrives in enqueue order`);
  }
  console.log(
    `# ${topic}: ${stored.size} stored, ${seen.size} distinct arrived, ${got.length - seen.size} QoS 1 duplicates`,
  );
}

/**
 * The outbox's bytes account (`{<hash>}:outbox-account`) equals the bytes of the entries in the
 * stream: exact after a kill -9 at any instant (every change of both is one script). Answers the depth.
 */
async function accountExact(clientId: string): Promise<number> {
  const [stream] = await admin.keys(`{${clientId}:*}:outbox`);
  assert.ok(stream !== undefined, 'the outbox stream exists');
  let sum = 0;
  const entries = await admin.xrangeBuffer(stream, '-', '+');
  for (const [, fields] of entries) {
    for (let i = 0; i < fields.length; i += 2) if (fields[i].toString() === 'd') sum += fields[i + 1].length;
  }
  const account = Number((await admin.hget(`${stream}-account`, 'bytes')) ?? 0);
  assert.equal(account, sum, `the account (${account}) is the bytes of the ${entries.length} entries left`);
  return entries.length;
}

const storedIn = (lines: string[]): number[] =>
  lines.filter((l) => l.startsWith('stored ')).map((l) => Number(l.slice(7)));

for (const mqttVersion of [4, 5] as const) {
  const v = mqttVersion === 5 ? 'v5' : 'v3';
  describe(`kill -9 of a process using the outbox (MQTT ${mqttVersion === 5 ? '5' : '3.1.1'})`, () => {
    it('while it enqueues offline: every message it was told is stored is delivered after a restart', async () => {
      const clientId = uid(`outbox-crash-enqueue-${v}`);
      const topic = `outbox-crash/${clientId}`;
      arrivals.set(topic, []);
      const total = 3000;
      // Killed in the middle of the stream, with groups of appends in flight.
      const first = await run(config(mqttVersion, clientId, topic, { to: total }), (line) => line === 'stored 1200');
      const stored = new Set(storedIn(first));
      assert.ok(stored.size >= 1200 && stored.size < total, `killed while enqueueing (${stored.size} stored)`);
      await accountExact(clientId); // killed mid-append (some with Paho already: sendWhileDisconnected)
      await run(config(mqttVersion, clientId, topic, { connect: true }));
      await waitFor(() => arrivals.get(topic)!.length >= stored.size, 'the stored messages to arrive', 30_000);
      await sleep(300); // duplicates still on their way
      check(topic, stored, total);
    });

    it('right after create() and while it drains: every message arrives, QoS 2 once, in order', async () => {
      const clientId = uid(`outbox-crash-drain-${v}`);
      const topic = `outbox-crash/${clientId}`;
      arrivals.set(topic, []);
      const total = 2000;
      const first = await run(config(mqttVersion, clientId, topic, { to: total }), (line) => line === 'enqueued');
      assert.equal(storedIn(first).length, total);
      // Killed right after create() over the full outbox (create reads no backlog), then twice
      // mid-drain, at different depths.
      await run(config(mqttVersion, clientId, topic, { connect: true }), (line) => line === 'created');
      const depths = [await accountExact(clientId)];
      const recordKinds = new Set<string>();
      for (const after of [300, 900]) {
        await run(
          config(mqttVersion, clientId, topic, { connect: true }),
          (line) => line.startsWith('delivered ') && Number(line.slice(10)) >= after,
        );
        // What the kill left with Paho: the window's moved commands and sent PUBLISHes.
        const keys = await hashKeys(redis.port, hashName('', clientId, pahoServerURI(broker.url)));
        for (const key of keys) recordKinds.add(key.slice(0, key.indexOf('-') + 1));
        depths.push(await accountExact(clientId)); // killed mid-drain, moves in flight
      }
      assert.ok(depths[2] < depths[0], `the outbox drained between the kills (${depths.join(', ')})`);
      const [mine, others] =
        mqttVersion === 5
          ? [
              ['c5-', 's5-'],
              ['c-', 's-', 'sc-'],
            ]
          : [
              ['c-', 's-'],
              ['c5-', 's5-', 'sc5-'],
            ];
      assert.ok(
        mine.some((kind) => recordKinds.has(kind)),
        `the kills left records of this version with Paho (${[...recordKinds].join() || 'none'})`,
      );
      assert.deepEqual(
        others.filter((kind) => recordKinds.has(kind)),
        [],
        'and no records of the other version',
      );
      await run(config(mqttVersion, clientId, topic, { connect: true }));
      assert.equal(await accountExact(clientId), 0, 'drained: no bytes left in the account');
      await waitFor(() => new Set(arrivals.get(topic)).size >= total, 'every message to arrive', 30_000);
      await sleep(300);
      check(topic, new Set(Array.from({ length: total }, (_, i) => i + 1)), total);
    });
  });
}
