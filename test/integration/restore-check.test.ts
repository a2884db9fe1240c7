/**
 * Issue 9, defects 1 and 2: damaged records in a client's hash are set aside before Paho reads
 * them (no crash, the sound records restore, the damaged ones wait in quarantine, each reported
 * as ERR_PERSISTENCE_CORRUPT to a listener attached right after create()), random mutations of
 * real records never kill the process, and a store failure during restore makes create() fail
 * with nothing overwritten.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { AsyncClient, MemoryPersistence, PersistenceError, RedisPersistence } from '../../src';
import { restoreProblem } from '../../src/persistence/bridge/restore-check';
import { quarantineHashName } from '../../src/persistence/redis/quarantine';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, runFixture, sleep, uid, waitFor } from '../helpers/client-common';
import { CAPTURED } from '../helpers/captured-records';
import { LE, cstr, int } from '../helpers/paho-record-builders';
import { seededRandom } from '../helpers/seeded-random';

let db: Redis;
const servers = useFileServers({
  setUp: ({ redis }) => {
    db = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  },
  tearDown: () => db?.disconnect(),
});
const { clients } = servers;

/** Paho opens the store with the server URI without its `tcp://`. */
const storeURI = (): string => servers.broker.url.replace(/^tcp:\/\//, '');
const hashOf = (clientId: string): string => `${clientId}:${storeURI()}`;

/** Three damaged records that crashed Paho at create or connect before the restore check. */
const DAMAGED: Record<string, Buffer> = {
  // payload length 0x7fffffff: memcpy far past the value (SIGSEGV at create)
  'q-1': Buffer.from('ffffff7f0102', 'hex'),
  // a PUBLISH command with payload length -8 (abort: free(): invalid pointer)
  'c-7': Buffer.concat([int(3), int(1), cstr('t'), int(-8), int(1), int(0)]),
  // a v5 PUBLISH command whose property block names an unknown property (SIGSEGV on the send thread)
  'c5-9': Buffer.concat([
    int(3),
    int(9),
    cstr('t'),
    int(1),
    Buffer.from('x'),
    int(1),
    int(0),
    Buffer.from([2, 0x7f, 0]),
  ]),
};

/** Real records: a v5 client publishes while never connected, so Paho stores `c5-` commands. */
async function storeOfflinePublishes(clientId: string, topics: string[]): Promise<Record<string, Buffer>> {
  const client = await AsyncClient.create({
    serverURI: servers.broker.url,
    clientId,
    mqttVersion: 5,
    persistence: new RedisPersistence({ url: servers.redis.url }),
    sendWhileDisconnected: true,
  });
  const sent = topics.map((t) =>
    client.publish(t, Buffer.from(`payload of ${t}`), { qos: 1, properties: { messageExpiryInterval: 600 } }),
  );
  for (const p of sent) p.catch(() => undefined); // rejected by close(): the records stay
  try {
    await waitFor(async () => (await db.hlen(hashOf(clientId))) === topics.length, 'the offline publishes stored');
  } finally {
    await client.close();
  }
  return db.hgetallBuffer(hashOf(clientId));
}

describe('damaged records at restore', () => {
  it('the three records of the issue are set aside; create succeeds and the sound ones are delivered', async () => {
    const clientId = uid('rc-damaged');
    const good = await storeOfflinePublishes(clientId, ['rc/a', 'rc/b']);
    assert.deepEqual(Object.keys(good).sort(), ['c5-1', 'c5-2']);
    for (const [key, value] of Object.entries(DAMAGED)) await db.hset(hashOf(clientId), key, value);

    const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('rc-sub') });
    clients.add(subscriber);
    const inbox = new Inbox(subscriber);
    await subscriber.connect();
    await subscriber.subscribe('rc/#', { qos: 1 });

    const child = runFixture('restore-child', {
      serverURI: servers.broker.url,
      clientId,
      redisUrl: servers.redis.url,
      mqttVersion: 5,
      connect: true,
    });
    const exit = await child.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null], `child died: ${child.stderr()}`);
    const created = JSON.parse(child.lines.find((l) => l.includes('"created"'))!) as {
      pending: number[];
      reports: { code: string; key: string; message: string }[];
    };
    assert.equal(created.pending.length, 2, 'both sound publishes restored');
    assert.deepEqual(created.reports.map((r) => [r.code, r.key]).sort(), [
      ['ERR_PERSISTENCE_CORRUPT', 'c-7'],
      ['ERR_PERSISTENCE_CORRUPT', 'c5-9'],
      ['ERR_PERSISTENCE_CORRUPT', 'q-1'],
    ]);
    assert.match(created.reports.find((r) => r.key === 'q-1')!.message, /payload length 2147483647 is out of range/);
    assert.ok(child.lines.includes('{"drained":true}'), child.lines.join('\n'));
    const received = await inbox.count(2, 10_000, 'rc/');
    assert.deepEqual(received.map((m) => m.payload.toString()).sort(), ['payload of rc/a', 'payload of rc/b']);

    // Set aside, not deleted: the same bytes, with a reason, in the sibling hash.
    assert.deepEqual(await db.hkeys(hashOf(clientId)), []);
    const persistence = new RedisPersistence({ url: servers.redis.url });
    await persistence.open(clientId, storeURI());
    const quarantined = await persistence.quarantined();
    await persistence.close();
    assert.deepEqual(quarantined.map((r) => r.key).sort(), ['c-7', 'c5-9', 'q-1']);
    for (const r of quarantined) {
      assert.deepEqual(r.value, DAMAGED[r.key], r.key);
      assert.ok(r.reason.length > 0);
    }
  });

  it('a store without quarantine() makes create fail with ERR_PERSISTENCE_CORRUPT naming the key', async () => {
    const store = new MemoryPersistence();
    store.open('plain', storeURI());
    store.put('q-1', DAMAGED['q-1']);
    store.close();
    const bare: Partial<MemoryPersistence> = store;
    bare.quarantine = undefined;
    await assert.rejects(
      AsyncClient.create({ serverURI: servers.broker.url, clientId: 'plain', persistence: store }),
      (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_CORRUPT' && e.key === 'q-1',
    );
    store.open('plain', storeURI());
    assert.deepEqual(store.keys(), ['q-1'], 'left where it was');
  });

  it('the quarantine hash shares the Cluster slot of the client hash', () => {
    assert.equal(quarantineHashName('c1:tcp://h:1883'), '{c1:tcp://h:1883}:quarantine');
    assert.equal(quarantineHashName('{app}c1:tcp://h:1883'), '{app}c1:tcp://h:1883:quarantine');
  });
});

const INTERESTING = [-1, -8, 0, 1, 2, 3, 255, 65535, 65536, 0x7fffffff, -0x80000000];

function mutate(source: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(source);
  const pick = (n: number): number => Math.floor(rnd() * n);
  for (let ops = 1 + pick(3); ops > 0; ops--) {
    switch (pick(5)) {
      case 0: // one byte to anything
        if (b.length > 0) b[pick(b.length)] = pick(256);
        break;
      case 1: // a length-looking int
        if (b.length >= 4) {
          const at = pick(b.length - 3);
          const v = INTERESTING[pick(INTERESTING.length)];
          if (LE) b.writeInt32LE(v, at);
          else b.writeInt32BE(v, at);
        }
        break;
      case 2: // truncated
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 3: // extended
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256)))]);
        break;
      default: // a continuation bit or a NUL where it hurts
        if (b.length > 0) b[pick(b.length)] = [0x00, 0x80, 0xff][pick(3)];
    }
  }
  return b;
}

describe('mutated real records', () => {
  const TRIALS = 8;
  const PER_TRIAL = 30;

  it(`${TRIALS} x ${PER_TRIAL} mutated records: the process never dies by a signal`, async () => {
    const captured: Array<[string, Buffer]> = CAPTURED.map(([key, hex]) => [key, Buffer.from(hex, 'hex')]);
    const real = await storeOfflinePublishes(uid('rc-corpus'), ['m/a', 'm/b']);
    captured.push(...Object.entries(real));
    // A client restores only its own version's records (others fail create: see restore-check.ts).
    const corpora = [captured.filter(([k]) => !/^[a-z]+5-/.test(k)), captured.filter(([k]) => /^[a-z]+5-/.test(k))];
    let setAside = 0;
    let sound = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const seed = 9000 + trial;
      const rnd = seededRandom(seed);
      const mqttVersion = trial % 2 === 0 ? 4 : 5;
      const corpus = corpora[trial % 2];
      const clientId = uid(`rc-mut${trial}`);
      const seeded = new Map<string, Buffer>();
      for (let i = 0; i < PER_TRIAL; i++) {
        const [key, value] = corpus[Math.floor(rnd() * corpus.length)];
        // Sequence-numbered kinds get a number of their own; packet-id kinds keep theirs.
        const target = /^[cq]5?-/.test(key) ? `${key.replace(/-\d+$/, '')}-${i + 1}` : key;
        seeded.set(target, mutate(value, rnd));
      }
      for (const [key, value] of seeded) await db.hset(hashOf(clientId), key, value);
      const damaged = [...seeded].filter(([k, v]) => restoreProblem(k, v) !== undefined).map(([k]) => k);
      const child = runFixture('restore-child', {
        serverURI: servers.broker.url,
        clientId,
        redisUrl: servers.redis.url,
        mqttVersion,
        connect: true,
      });
      const exit = await child.exited;
      const replay = JSON.stringify([...seeded].map(([k, v]) => [k, v.toString('hex')]));
      assert.equal(exit.signal, null, `seed ${seed}: killed by ${exit.signal} restoring ${replay}; ${child.stderr()}`);
      assert.equal(exit.code, 0, `seed ${seed}: ${child.stderr()}`);
      const created = child.lines.find((l) => l.includes('"created"'));
      assert.ok(created, `seed ${seed}: ${child.lines.join('\n')}`);
      const reports = (JSON.parse(created) as { reports: { key: string }[] }).reports.map((r) => r.key).sort();
      assert.deepEqual(reports, damaged.sort(), `seed ${seed}: every damaged record reported`);
      const quarantine = await db.hkeys(quarantineHashName(hashOf(clientId)));
      assert.equal(quarantine.filter((f) => !f.endsWith('#reason')).length, damaged.length);
      setAside += damaged.length;
      sound += seeded.size - damaged.length;
    }
    assert.ok(setAside > 0 && sound > 0, `both kinds exercised (set aside ${setAside}, sound ${sound})`);
    process.stdout.write(`# mutated records: ${setAside} set aside, ${sound} sound and handed to Paho\n`);
  });
});

describe('a store failure during restore', () => {
  /** Two QoS 1 messages queued offline into `store`, then a store whose `get` of c-1 fails once, at call `failAt`. */
  async function queuedStore(clientId: string): Promise<MemoryPersistence> {
    const store = new MemoryPersistence();
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId,
      persistence: store,
      sendWhileDisconnected: true,
    });
    for (const name of ['A', 'B']) client.publish('rf/t', Buffer.from(name), { qos: 1 }).catch(() => undefined);
    try {
      store.open(clientId, storeURI());
      await waitFor(() => store.keys().length === 2, 'two queued commands stored');
    } finally {
      await client.close();
    }
    return store;
  }

  for (const failAt of [1, 2]) {
    it(`get('c-1') failing once (call ${failAt}) makes create fail and overwrites nothing`, async () => {
      const clientId = uid(`rf${failAt}`);
      const store = await queuedStore(clientId);
      store.open(clientId, storeURI());
      const before = new Map(store.keys().map((k) => [k, store.get(k)]));
      assert.deepEqual([...before.keys()].sort(), ['c-1', 'c-2']);
      store.close();
      const get = store.get.bind(store);
      let calls = 0;
      store.get = (key: string) => {
        if (key === 'c-1' && ++calls === failAt) throw new Error('injected transient get failure');
        return get(key);
      };
      await assert.rejects(
        AsyncClient.create({ serverURI: servers.broker.url, clientId, persistence: store }),
        (e: unknown) =>
          e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_RESTORE' && /injected/.test(e.message),
      );
      store.open(clientId, storeURI());
      assert.deepEqual(new Map(store.keys().map((k) => [k, store.get(k)])), before, 'nothing changed');
      store.close();

      // The failure was transient: the next create restores both, and both are delivered.
      const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('rf-sub') });
      clients.add(subscriber);
      const inbox = new Inbox(subscriber);
      await subscriber.connect();
      await subscriber.subscribe('rf/t', { qos: 1 });
      const again = await AsyncClient.create({ serverURI: servers.broker.url, clientId, persistence: store });
      clients.add(again);
      assert.equal((await again.getPendingTokens()).length, 2);
      await again.connect({ cleanSession: false });
      const got = await inbox.count(2, 10_000, 'rf/');
      assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['A', 'B']);
    });
  }
});

describe('a queued command whose message was already sent', () => {
  /** Paho's `c-N` record of a PUBLISH command: type, token (= packet id), topic, payload, qos, retained. */
  const command = (token: number, topic: string, payload: string, qos: number): Buffer =>
    Buffer.concat([int(3), int(token), cstr(topic), int(payload.length), Buffer.from(payload), int(qos), int(0)]);
  /** The PUBLISH packet as sent (`s-T`): fixed header, remaining length, topic, packet id, payload. */
  function sentPublish(packetId: number, topic: string, payload: string, qos: number): Buffer {
    const topicLength = Buffer.alloc(2);
    topicLength.writeUInt16BE(topic.length);
    const id = Buffer.alloc(2);
    id.writeUInt16BE(packetId);
    const body = Buffer.concat([topicLength, Buffer.from(topic), id, Buffer.from(payload)]);
    assert.ok(body.length < 128, 'a one-byte remaining length');
    return Buffer.concat([Buffer.from([0x30 | (qos << 1), body.length]), body]);
  }
  /** A PUBREL as sent (`sc-T`). */
  const sentPubrel = (packetId: number): Buffer => Buffer.from([0x62, 2, packetId >> 8, packetId & 0xff]);

  it('is removed at restore when s-T holds the same message (PUBLISH or PUBREL sent); another message in s-T is set aside', async () => {
    const clientId = uid('rc-sent');
    const topic = `rc6/${clientId}`;
    const hash = hashOf(clientId);
    // The broker must hold the publisher's session: with session present 0, Paho discards every
    // restored in-flight message at connect (MQTT 3.1.1, 3.2.2.2).
    const earlier = await AsyncClient.create({ serverURI: servers.broker.url, clientId });
    await earlier.connect({ cleanSession: false });
    await earlier.disconnect();
    await earlier.close();
    // What a crash between the s-T put and the c-N remove leaves (a kill between the two writes):
    await db.hset(hash, 'c-1', command(5, topic, 'five', 2), 's-5', sentPublish(5, topic, 'five', 2));
    // A QoS 2 message past PUBREL (s-6 + sc-6; its command remove also lost), and a command claiming
    // an id that s-7 holds for a different message (not the same message: set aside, not dropped).
    await db.hset(hash, 'c-2', command(6, topic, 'six', 2), 's-6', sentPublish(6, topic, 'six', 2));
    await db.hset(hash, 'sc-6', sentPubrel(6));
    await db.hset(hash, 'c-3', command(7, topic, 'other', 1), 's-7', sentPublish(7, topic, 'seven', 1));

    const subscriber = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('rc6-sub') });
    clients.add(subscriber);
    const inbox = new Inbox(subscriber);
    await subscriber.connect();
    await subscriber.subscribe(topic, { qos: 2 });

    const child = runFixture('restore-child', {
      serverURI: servers.broker.url,
      clientId,
      redisUrl: servers.redis.url,
      connect: true,
    });
    const exit = await child.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null], `child died: ${child.stderr()}`);
    const created = JSON.parse(child.lines.find((l) => l.includes('"created"'))!) as {
      pending: number[];
      reports: { code: string; key: string; message: string }[];
    };
    assert.deepEqual(
      created.reports.map((r) => [r.code, r.key]),
      [['ERR_PERSISTENCE_CORRUPT', 'c-3']],
    );
    assert.match(created.reports[0].message, /holds packet id 7, which 's-7' holds for another message/);
    assert.deepEqual([...created.pending].sort(), [5, 6, 7], 'one pending token per message, none twice');
    // Before the fix a restored c-1 stayed pending forever and this never came.
    assert.ok(child.lines.includes('{"drained":true}'), child.lines.join('\n'));

    await inbox.count(2, 10_000, topic);
    await sleep(300); // a duplicate of 'five', if any, would arrive now
    assert.deepEqual(
      inbox
        .on(topic)
        .map((m) => m.payload.toString())
        .sort(),
      ['five', 'seven'],
    );
    assert.deepEqual(await db.hkeys(hash), [], 'c-1 and c-2 removed, the flows completed');
    assert.deepEqual(
      (await db.hkeys(quarantineHashName(hash))).filter((k) => !k.includes('#')).map((k) => k.split('@')[0]),
      ['c-3'],
    );
  });
});
