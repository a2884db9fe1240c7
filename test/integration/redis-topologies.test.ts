/**
 * RedisPersistence on real Redis topologies started by the test: a 3-master Cluster (with one
 * replica each) and a Sentinel setup (master + replica + sentinel), including a failover in
 * the middle of a stream of writes, with and without WAIT acknowledgements (ackReplicas).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Redis, { Cluster } from 'ioredis';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PahoMqttRedisError } from '../../src/errors';
import { persistenceSuite, assertPersistenceError, uniqueClientId } from '../helpers/persistence-suite';
import { runningServerCount } from '../helpers/servers';
import { startRedisCluster, type RedisClusterSetup } from '../helpers/redis-cluster';
import { startSentinelSetup, runningSentinelCount, type SentinelSetup } from '../helpers/redis-sentinel';
import { sleep, waitFor } from '../helpers/wait';

const URI = 'tcp://127.0.0.1:1883';

after(() => {
  assert.equal(runningServerCount(), 0, 'a redis-server started by this file is still running');
  assert.equal(runningSentinelCount(), 0, 'a sentinel started by this file is still running');
});

describe('Redis Cluster (3 masters, 1 replica each)', () => {
  let cluster: RedisClusterSetup;
  let client: Cluster;
  /** port of every master -> a raw connection to it */
  const masters = new Map<number, Redis>();
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    client = new Cluster(cluster.nodes.slice(0, 1), { redisOptions: { commandTimeout: 3000 } });
    for (const n of cluster.nodes) {
      const r = new Redis(n.port, n.host);
      if ((await r.info('replication')).includes('role:master')) masters.set(n.port, r);
      else r.disconnect();
    }
    assert.equal(masters.size, 3);
  });
  after(async () => {
    await client?.quit();
    for (const r of masters.values()) r.disconnect();
    await cluster?.stop();
  });

  persistenceSuite('RedisPersistence with a Cluster client', async () => ({
    store: new RedisPersistence({ client, operationTimeoutMs: 3000 }),
    cleanup: async () => undefined,
  }));

  /**
   * Opens stores under fresh client ids until there are at least `n` and every master holds
   * one (random ids miss a master now and then: 3 x (2/3)^12 = 2% for 12 ids), at most 60.
   * Answers, per store, the master port holding its hash, checked against the slot table.
   */
  async function spread(n: number, options: object = {}): Promise<Array<{ store: RedisPersistence; port: number }>> {
    const out: Array<{ store: RedisPersistence; port: number }> = [];
    while (out.length < n || new Set(out.map((s) => s.port)).size < masters.size) {
      assert.ok(out.length < 60, `60 client ids did not reach all ${masters.size} masters`);
      const i = out.length;
      const store = new RedisPersistence({ client, operationTimeoutMs: 3000, ...options });
      await store.open(uniqueClientId(`spread${i}`), URI);
      await store.put('s-1', Buffer.from(`client ${i}`));
      const holders = [];
      for (const [port, r] of masters) {
        // A master not owning the slot answers MOVED.
        if (
          await r.exists(store.hashName!).catch((e: Error) => {
            assert.match(e.message, /^MOVED/);
            return 0;
          })
        )
          holders.push(port);
      }
      assert.equal(holders.length, 1, 'each hash lives on exactly one master');
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', store.hashName!));
      assert.equal(Number(client.slots[slot][0].split(':')[1]), holders[0], 'the hash sits on its slot owner');
      out.push({ store, port: holders[0] });
    }
    return out;
  }

  it("clients' hashes spread over all masters, each hash whole on one of them", async () => {
    // spread() fails unless 60 random client ids reach all three masters, each hash on its slot owner
    const stores = await spread(12);
    try {
      for (const [i, { store }] of stores.entries()) assert.equal((await store.get('s-1')).toString(), `client ${i}`);
    } finally {
      for (const { store } of stores) {
        await store.clear();
        await store.close();
      }
    }
  });

  it("ackReplicas: WAIT runs on the master owning the hash (freezing one replica fails only its master's writes)", async () => {
    const stores = await spread(9, { ackReplicas: { replicas: 1, timeoutMs: 300 } });
    const ports = [...new Set(stores.map((s) => s.port))];
    assert.ok(ports.length >= 2, 'need hashes on two masters');
    const victim = ports[0];
    const replicaPort = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(await masters.get(victim)!.info('replication'))![1]);
    const replica = cluster.servers.find((s) => s.port === replicaPort)!;
    try {
      for (const { store } of stores) await store.put('s-2', Buffer.from('acked'));
      replica.freeze();
      try {
        for (const { store, port } of stores) {
          if (port === victim) {
            const err = await assertPersistenceError(() => store.put('s-3', Buffer.from('x')), 'ERR_PERSISTENCE_STORE');
            assert.match(
              err.message,
              /only 0 of 1 required replica\(s\) acknowledged the write within 300 ms \(WAIT\)/,
            );
          } else {
            await store.put('s-3', Buffer.from('acked'));
          }
        }
      } finally {
        replica.thaw();
      }
    } finally {
      for (const { store } of stores) {
        await store.clear();
        await store.close();
      }
    }
  });

  it("ackReplicas after the hash's slot moved (MOVED): the write follows it and WAIT runs on the new owner", async () => {
    const store = new RedisPersistence({
      client,
      operationTimeoutMs: 3000,
      ackReplicas: { replicas: 1, timeoutMs: 300 },
      lease: false, // the lease would be a key in the slot, which must stay empty to be moved
    });
    let slot: number;
    for (;;) {
      // a client id whose slot holds no key yet (an empty slot can be moved without MIGRATE)
      await store.open(uniqueClientId('moved'), URI);
      slot = Number(await client.call('CLUSTER', 'KEYSLOT', store.hashName!));
      if (Number(await client.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))) === 0) break;
    }
    const from = Number(client.slots[slot][0].split(':')[1]);
    const to = [...masters.keys()].find((p) => p !== from)!;
    const id = async (port: number): Promise<string> => String(await masters.get(port)!.call('CLUSTER', 'MYID'));
    const [fromId, toId] = [await id(from), await id(to)];
    await masters.get(to)!.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
    await masters.get(from)!.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
    for (const port of [to, from, ...[...masters.keys()].filter((p) => p !== to && p !== from)]) {
      await masters.get(port)!.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
    }
    assert.equal(client.slots[slot][0], `127.0.0.1:${from}`, 'the client still routes the slot to the old owner');
    const replicaPort = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(await masters.get(to)!.info('replication'))![1]);
    const replica = cluster.servers.find((s) => s.port === replicaPort)!;
    try {
      await store.put('s-1', Buffer.from('followed the slot'));
      assert.equal(await masters.get(to)!.hget(store.hashName!, 's-1'), 'followed the slot');
      replica.freeze(); // the new owner's replica: WAIT must now fail
      try {
        const err = await assertPersistenceError(() => store.put('s-2', Buffer.from('x')), 'ERR_PERSISTENCE_STORE');
        assert.match(err.message, /only 0 of 1 required replica/);
      } finally {
        replica.thaw();
      }
    } finally {
      await store.clear();
      await store.close();
    }
  });
});

describe('Redis Sentinel (master + replica + 1 sentinel)', () => {
  let setup: SentinelSetup;
  before(async () => {
    setup = await startSentinelSetup();
  });
  after(async () => {
    await setup?.stop();
  });

  const sentinelStore = (extra: object = {}): RedisPersistence =>
    new RedisPersistence({
      redisOptions: { sentinels: setup.sentinels, name: setup.name },
      operationTimeoutMs: 1000,
      ...extra,
    });

  it('redisOptions { sentinels, name } finds the master; put/get work', async () => {
    const store = sentinelStore();
    const id = uniqueClientId('sentinel');
    await store.open(id, URI);
    const master = new Redis(setup.masterPort, '127.0.0.1');
    try {
      await store.put('s-1', Buffer.from('via sentinel'));
      assert.equal((await store.get('s-1')).toString(), 'via sentinel');
      assert.equal(await master.hget(`${id}:${URI}`, 's-1'), 'via sentinel');
    } finally {
      master.disconnect();
      await store.clear();
      await store.close();
    }
  });

  it('an unknown master name fails open() with a clear, credential-free message', async () => {
    const store = new RedisPersistence({
      redisOptions: { sentinels: setup.sentinels, name: 'nope', password: 'M4ster-S3cret', connectTimeout: 1500 },
      operationTimeoutMs: 1000,
    });
    const err = await assertPersistenceError(() => store.open('c', URI), 'ERR_PERSISTENCE_CONNECTION');
    assert.match(err.message, new RegExp(`master 'nope' via sentinels 127\\.0\\.0\\.1:${setup.sentinels[0].port}`));
    assert.ok(!err.message.includes('M4ster-S3cret') && !String(err.stack).includes('M4ster-S3cret'));
  });

  it('rejects sentinels without a name, and url together with sentinels', () => {
    for (const options of [
      { redisOptions: { sentinels: setup.sentinels } },
      { url: 'redis://127.0.0.1:1', redisOptions: { sentinels: setup.sentinels, name: 'x' } },
    ]) {
      assert.throws(
        () => new RedisPersistence(options),
        (e: unknown) =>
          e instanceof PahoMqttRedisError && e.code === 'ERR_INVALID_ARG' && /Sentinel|sentinels/.test(e.message),
      );
    }
  });

  /**
   * Puts s-0, s-1, ... one after another while failover() runs; then counts failed puts and
   * acknowledged puts that the new master does not have (lost by asynchronous replication).
   */
  async function putsAcrossFailover(
    store: RedisPersistence,
  ): Promise<{ puts: number; failed: number; lost: number; recoveredMs: number }> {
    const id = uniqueClientId('failover');
    await store.open(id, URI);
    const acked: string[] = [];
    let failed = 0;
    let n = 0;
    let stop = false;
    let failoverDone = 0;
    let firstOkAfter = 0;
    const loop = (async () => {
      while (!stop) {
        const k = `s-${n++}`;
        try {
          await store.put(k, Buffer.from(k));
          acked.push(k);
          if (failoverDone && !firstOkAfter) firstOkAfter = Date.now();
        } catch {
          failed += 1;
          await sleep(50); // back off while the master is away
        }
        await sleep(2); // pace the puts
      }
    })();
    try {
      await sleep(500); // puts under way before the failover
      await setup.failover();
      failoverDone = Date.now();
      // The store must write again within a few seconds after the failover (the callers
      // assert recoveredMs, -1 when it did not).
      await waitFor(() => firstOkAfter !== 0, 'a put acknowledged after the failover', 5000).catch(() => undefined);
      await sleep(300); // puts go on after the recovery too
    } finally {
      stop = true;
      await loop;
    }
    const master = new Redis(setup.masterPort, '127.0.0.1');
    try {
      const have = new Set(await master.hkeys(`${id}:${URI}`));
      await master.del(`${id}:${URI}`);
      return {
        puts: n,
        failed,
        lost: acked.filter((k) => !have.has(k)).length,
        recoveredMs: firstOkAfter ? firstOkAfter - failoverDone : -1,
      };
    } finally {
      master.disconnect();
      await store.close();
    }
  }

  it('survives a failover during a stream of puts (acknowledged writes may be lost)', async (t) => {
    const r = await putsAcrossFailover(sentinelStore());
    t.diagnostic(
      `no WAIT: ${r.puts} puts, ${r.failed} failed, ${r.lost} acknowledged but lost, first put after failover() ${r.recoveredMs} ms`,
    );
    assert.ok(
      r.recoveredMs >= 0 && r.recoveredMs < 5000,
      `no successful put within 5 s after the failover (${r.recoveredMs})`,
    );
  });

  it('with ackReplicas, no acknowledged write is lost in the failover (writes fail instead)', async (t) => {
    const r = await putsAcrossFailover(sentinelStore({ ackReplicas: { replicas: 1, timeoutMs: 200 } }));
    t.diagnostic(
      `WAIT 1 replica: ${r.puts} puts, ${r.failed} failed, ${r.lost} acknowledged but lost, first put after failover() ${r.recoveredMs} ms`,
    );
    assert.equal(r.lost, 0, 'an acknowledged write was lost');
    assert.ok(
      r.recoveredMs >= 0 && r.recoveredMs < 5000,
      `no successful put within 5 s after the failover (${r.recoveredMs})`,
    );
  });
});
