/**
 * Power loss with a cut append-only file. A publisher (test/fixtures/outbox-publisher.ts)
 * enqueues a backlog into a Redis of the test's own (appendonly yes, appendfsync always) and
 * drains part of it to a mosquitto of the test's own; then the publisher and Redis are killed
 * with SIGKILL, the AOF's incr file is cut at a seeded random byte offset (the tail a power loss
 * takes with it), and Redis starts again from what is left (aof-load-truncated yes).
 *
 * A cut file is Redis as it was at an earlier instant T (a MULTI cut in half is dropped whole),
 * so the writes after T are gone although Redis acknowledged them. The test asserts what must
 * hold whatever T is: each message the publisher was told is stored is in the outbox or in
 * Paho's records (never both, never twice), or was delivered before the crash, or is lost, and
 * only messages enqueued after everything still stored are lost (the store is a prefix of its
 * history). The restarted client opens and delivers what is left: QoS 2 once, except a message
 * delivered after T, which the cut puts back (delivered again: counted, and QoS 1 anyway).
 * The same trials under MQTT 3.1.1 (c-/s- records) and MQTT 5 (c5-/s5-). AOF_CUT_SEED replays
 * a run's offsets.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { AsyncClient, RedisPersistence } from '../../src';
import { runFixture, uid, waitFor } from '../helpers/client-common';
import { numberIn } from '../helpers/crash-tally';
import { seededRandom } from '../helpers/seeded-random';
import { aofIncrFile, storedNumbers, type StoredNumbers } from '../helpers/aof-store';
import { qosOf, type OutboxPublisherConfig } from '../fixtures/outbox-publisher';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

const SEED = Number(process.env.AOF_CUT_SEED ?? 20261206);
const TRIALS = 6;
const TOTAL = 600;
const WINDOW = 50;
/** Redis as a gateway runs it (see docs/redis-aof.md), no rewrite during a trial. */
const REDIS_ARGS = ['--aof-load-truncated', 'yes', '--auto-aof-rewrite-percentage', '0'];

let broker: MosquittoServer;
let watcher: AsyncClient;
/** Arrivals per topic, in order. */
const arrivals = new Map<string, number[]>();
let lastArrival = Date.now();

before(async () => {
  broker = await startMosquitto({ extraConfig: 'max_queued_messages 0\nmax_inflight_messages 0' });
  watcher = await AsyncClient.create({ serverURI: broker.url, clientId: uid('aof-cut-watcher') });
  watcher.on('message', (m) => {
    lastArrival = Date.now();
    const n = numberIn(m.payload.toString('latin1'));
    if (n !== undefined) arrivals.get(m.topic)?.push(n);
  });
  await watcher.connect({ cleanSession: false });
  await watcher.subscribe('aof-cut/#', { qos: 2 });
});

after(async () => {
  await watcher?.close().catch(() => undefined);
  await broker?.stop();
});

/** Runs the publisher to 'done', or kills it (SIGKILL) at the line `killAt` accepts. */
async function runPublisher(
  cfg: OutboxPublisherConfig,
  killAt?: (line: string) => boolean,
): Promise<{ lines: string[]; stderr: string }> {
  let killed = false;
  const child = runFixture('outbox-publisher', cfg, (line) => {
    if (!killed && killAt?.(line)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const exit = await child.exited;
  if (killAt === undefined) assert.ok(child.lines.includes('done'), `the publisher finished: ${child.stderr()}`);
  else assert.equal(exit.signal, 'SIGKILL', `killed as planned: ${child.stderr()}`);
  return { lines: child.lines, stderr: child.stderr() };
}

const quiet = (ms: number) => (): boolean => Date.now() - lastArrival >= ms;

const count = (list: readonly number[]): Map<number, number> => {
  const seen = new Map<number, number>();
  for (const n of list) seen.set(n, (seen.get(n) ?? 0) + 1);
  return seen;
};

interface TrialRow {
  offset: string;
  outbox: number;
  paho: number;
  delivered: number;
  lost: number;
  unacknowledged: number;
  /** Delivered before the crash, put back by the cut, delivered again: QoS 1 and QoS 2. */
  again: [number, number];
  /** The families of Paho's records the cut left (`c-`, `s5-`, ...). */
  families: Set<string>;
}

/** Paho's record families of each MQTT version. */
const familiesOf = (mqttVersion: 4 | 5): string[] => (mqttVersion === 5 ? ['c5-', 's5-', 'sc5-'] : ['c-', 's-', 'sc-']);

/**
 * Checks the store after the cut against what the publisher was told is stored and what
 * arrived before the crash; answers the per-trial counts.
 */
function classify(
  mqttVersion: 4 | 5,
  stored: StoredNumbers,
  acknowledged: Set<number>,
  deliveredBefore: Set<number>,
): TrialRow {
  assert.deepEqual(stored.unreadable, [], 'every entry and record decodes and holds its number');
  const mine = familiesOf(mqttVersion);
  assert.deepEqual(
    [...stored.families].filter((family) => !mine.includes(family)),
    [],
    `Paho's records are all of MQTT ${mqttVersion === 5 ? '5' : '3.1.1'}`,
  );
  const inOutbox = count(stored.outbox);
  const inPaho = count([...stored.commands, ...stored.sent]);
  const twice = [...inOutbox, ...inPaho].filter(([, c]) => c > 1).map(([n]) => n);
  assert.deepEqual(twice, [], 'no message is twice in the outbox or twice in Paho');
  const both = [...inOutbox.keys()].filter((n) => inPaho.has(n));
  assert.deepEqual(both, [], 'no message is in both the outbox and Paho');
  const inStore = new Set([...inOutbox.keys(), ...inPaho.keys()]);
  assert.ok(
    [...inStore].every((n) => n >= 1 && n <= TOTAL),
    'the store holds nothing that was not enqueued',
  );
  const lost = [...acknowledged].filter((n) => !inStore.has(n) && !deliveredBefore.has(n));
  const highestStored = Math.max(0, ...inStore);
  assert.ok(
    lost.every((n) => n > highestStored),
    `only messages enqueued after the cut's instant are lost: lost ${lost.filter((n) => n < highestStored).join(',')} ` +
      `while ${highestStored} is still stored`,
  );
  return {
    offset: '',
    outbox: inOutbox.size,
    paho: inPaho.size,
    delivered: [...deliveredBefore].filter((n) => !inStore.has(n)).length,
    lost: lost.length,
    unacknowledged: TOTAL - acknowledged.size,
    again: [0, 0],
    families: stored.families,
  };
}

async function trial(mqttVersion: 4 | 5, index: number, random: () => number): Promise<TrialRow> {
  const redis: RedisServer = await startRedis({ aof: true, args: REDIS_ARGS });
  try {
    const clientId = uid(`aof-cut-v${mqttVersion === 5 ? 5 : 3}-${index}`);
    const topic = `aof-cut/${clientId}`;
    arrivals.set(topic, []);
    const cfg: OutboxPublisherConfig = {
      mqttVersion,
      serverURI: broker.url,
      clientId,
      redisUrl: redis.url,
      topic,
      from: 1,
      to: TOTAL,
      window: WINDOW,
      connect: true,
    };
    // Power loss while a third to a half of the backlog has been delivered.
    const killAfter = Math.floor(TOTAL * (1 / 3 + random() / 6));
    let delivered = 0;
    const first = await runPublisher(cfg, (line) => line.startsWith('delivered ') && ++delivered >= killAfter);
    await redis.kill();
    await waitFor(quiet(500), 'the broker to deliver what it had', 10_000);
    const deliveredBefore = new Set(arrivals.get(topic));
    const acknowledged = new Set(
      first.lines.filter((l) => l.startsWith('stored ')).map((l) => Number(l.slice('stored '.length))),
    );

    // Cuts spread over the file: trial i cuts within the i-th of TRIALS equal parts.
    const incr = aofIncrFile(redis.dir);
    const size = fs.statSync(incr).size;
    const cut = Math.floor(((index + random()) / TRIALS) * size);
    fs.truncateSync(incr, cut);
    await redis.restart();
    const stored = await storedNumbers(redis.port, clientId, broker.url);
    const row = classify(mqttVersion, stored, acknowledged, deliveredBefore);
    row.offset = `${cut} of ${size}`;

    // The restarted client opens over what is left and delivers it.
    const splitAt = arrivals.get(topic)!.length;
    await runPublisher({ ...cfg, to: 0 });
    const inStore = new Set([...stored.outbox, ...stored.commands, ...stored.sent]);
    const owed = [...inStore].filter((n) => !deliveredBefore.has(n));
    await waitFor(() => owed.every((n) => arrivals.get(topic)!.includes(n)), 'what is left to arrive', 30_000);
    await waitFor(quiet(300), 'duplicates still on their way', 10_000);
    const second = count(arrivals.get(topic)!.slice(splitAt));
    const strangers = [...second.keys()].filter((n) => !inStore.has(n) && !deliveredBefore.has(n));
    assert.deepEqual(strangers, [], 'after the restart, only what the store held (or the broker had) arrives');
    const qos2Twice = [...second].filter(([n, c]) => qosOf(n) === 2 && c > 1).map(([n]) => n);
    assert.deepEqual(qos2Twice, [], 'the restarted client delivers each QoS 2 message once');
    const again = [...second.keys()].filter((n) => deliveredBefore.has(n));
    row.again = [again.filter((n) => qosOf(n) === 1).length, again.filter((n) => qosOf(n) === 2).length];
    return row;
  } finally {
    await redis.stop();
  }
}

for (const mqttVersion of [4, 5] as const) {
  describe(`power loss: the AOF cut at random offsets (MQTT ${mqttVersion === 5 ? '5' : '3.1.1'})`, () => {
    it(`${TRIALS} cuts (seed ${SEED}): every message is in one place, delivered or counted as lost`, async () => {
      const random = seededRandom(SEED);
      console.log(
        '# trial | cut at byte | outbox | Paho | delivered | lost | not acknowledged | delivered again (QoS 1, QoS 2)',
      );
      // Each row as its trial ends, so a failing trial still shows the ones before it.
      const families = new Set<string>();
      for (let i = 0; i < TRIALS; i++) {
        const r = await trial(mqttVersion, i, random);
        console.log(
          `# ${i + 1} | ${r.offset} | ${r.outbox} | ${r.paho} | ${r.delivered} | ${r.lost} | ${r.unacknowledged} | ${r.again.join(', ')}`,
        );
        for (const family of r.families) families.add(family);
      }
      assert.ok(
        familiesOf(mqttVersion).some((family) => families.has(family)),
        `the cuts left records of this version with Paho (${[...families].join() || 'none'})`,
      );
    });
  });
}

describe('RedisPersistence.aofEnabled', () => {
  it('tells a Redis that keeps an AOF from one that does not, once open', async () => {
    const [withAof, withoutAof] = await Promise.all([startRedis({ aof: true }), startRedis()]);
    try {
      const answers: Array<boolean | undefined> = [];
      for (const redis of [withAof, withoutAof]) {
        const store = new RedisPersistence({ url: redis.url });
        answers.push(store.aofEnabled);
        await store.open(uid('aof-enabled'), 'tcp://broker:1883');
        answers.push(store.aofEnabled);
        await store.close();
        answers.push(store.aofEnabled);
      }
      assert.deepEqual(answers, [undefined, true, undefined, undefined, false, undefined]);
    } finally {
      await Promise.all([withAof.stop(), withoutAof.stop()]);
    }
  });
});
