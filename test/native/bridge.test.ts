/**
 * The native persistence bridge, driven exactly as Paho drives it (native threads calling
 * the MQTTClient_persistence struct through the test driver), against MemoryPersistence and
 * RedisPersistence, and through a Redis outage. Misbehaving stores: bridge-failures.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testDriver, type DriverStepResult, type DriverStepSpec } from '../helpers/test-driver';
import { MemoryPersistence } from '../../src/persistence/memory';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PersistenceError } from '../../src/errors';
import { PERSISTENCE_OPS, type ClientPersistence } from '../../src/persistence/client-persistence';
import { startRedis, type RedisServer } from '../helpers/servers';
import { buffersOf, harness, rcs, sleep, waitFor, type Harness } from '../helpers/bridge-harness';

const URI = 'tcp://127.0.0.1:1883';

// ---------------------------------------------------------------------------------------

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

interface Backend {
  name: string;
  make(): ClientPersistence;
  cleanup(store: ClientPersistence): Promise<void>;
}
const backends: Backend[] = [
  { name: 'MemoryPersistence', make: () => new MemoryPersistence(), cleanup: async () => undefined },
  {
    name: 'RedisPersistence',
    make: () => new RedisPersistence({ url: redis.url, operationTimeoutMs: 5000 }),
    cleanup: async (store) => {
      await (store as RedisPersistence).close();
    },
  },
];

for (const [backend, durability] of backends.flatMap((b) => [[b, 'batched'] as const, [b, 'sync'] as const])) {
  describe(`bridge + ${backend.name} (${durability})`, () => {
    async function withStore(body: (h: Harness) => Promise<void>): Promise<void> {
      const store = backend.make();
      const h = harness(store, { durability });
      try {
        await body(h);
      } finally {
        h.bridge.close();
        await backend.cleanup(store);
      }
    }

    it('answers all eight ops as Paho expects', async () => {
      await withStore(async (h) => {
        const data = [Buffer.from([1, 0, 2]), Buffer.from('abc')];
        const r = await h.run([
          { op: 'open', clientId: 'all-ops', serverURI: URI },
          { op: 'remove', key: 'sc-404' }, // missing, asked of the store (before keys): 0
          { op: 'put', key: 's-1', buffers: data },
          { op: 'containsKey', key: 's-1' },
          { op: 'containsKey', key: 's-65535' },
          { op: 'get', key: 's-1' },
          { op: 'keys' },
          { op: 'remove', key: 's-1' },
          { op: 'remove', key: 's-1' }, // missing: still 0 (the native key ledger may answer it)
          { op: 'get', key: 's-1' }, // missing: -2
          { op: 'put', key: 'r-7', buffers: [Buffer.from('r')] },
          { op: 'clear' },
          { op: 'keys' },
          { op: 'close' },
        ]);
        assert.deepEqual(rcs(r), [0, 0, 0, 0, -2, 0, 0, 0, 0, -2, 0, 0, 0, 0]);
        assert.deepEqual(r[5].data, Buffer.concat(data));
        assert.deepEqual(r[6].keys, ['s-1']);
        assert.deepEqual(r[12].keys, []);
        assert.equal(h.failures.length, 1, `one failure expected: ${h.failures.map((f) => f.message).join('; ')}`);
        const [missing] = h.failures;
        assert.ok(missing instanceof PersistenceError);
        assert.equal(missing.code, 'ERR_PERSISTENCE_NO_SUCH_KEY');
        assert.equal(missing.op, 'get');
        assert.equal(missing.key, 's-1');
      });
    });

    it('put of 0..8 buffers (zero bytes, all byte values): get answers exactly their concatenation', async () => {
      await withStore(async (h) => {
        const steps: DriverStepSpec[] = [{ op: 'open', clientId: 'buffers', serverURI: URI }];
        for (let n = 0; n <= 8; n++) steps.push({ op: 'put', key: `s-${n + 1}`, buffers: buffersOf(n) });
        for (let n = 0; n <= 8; n++) steps.push({ op: 'get', key: `s-${n + 1}` });
        steps.push({ op: 'clear' }, { op: 'close' });
        const r = await h.run(steps);
        assert.ok(
          r.every((x) => x.rc === 0),
          `rcs ${rcs(r).join()}`,
        );
        for (let n = 0; n <= 8; n++) {
          const got = r[10 + n].data;
          assert.ok(Buffer.isBuffer(got), `get s-${n + 1} answered no data`);
          assert.deepEqual(got, Buffer.concat(buffersOf(n)), `get s-${n + 1} (${n} buffers)`);
        }
        assert.equal(r[10].data!.length, 0, 'zero buffers store an empty value');
        assert.deepEqual(h.failures, []);
      });
    });

    it('stores keys as Paho forms them', async () => {
      await withStore(async (h) => {
        const keys = ['c-1', 's-65535', 'sc5-12', 'r-7', 'q5-999999'];
        const steps: DriverStepSpec[] = [{ op: 'open', clientId: 'paho-keys', serverURI: URI }];
        keys.forEach((key, i) => steps.push({ op: 'put', key, buffers: [Buffer.from(`${key}:${i}`)] }));
        steps.push({ op: 'keys' });
        keys.forEach((key) => steps.push({ op: 'containsKey', key }, { op: 'get', key }));
        keys.forEach((key) => steps.push({ op: 'remove', key }));
        steps.push({ op: 'keys' }, { op: 'close' });
        const r = await h.run(steps);
        assert.ok(
          r.every((x) => x.rc === 0),
          `rcs ${rcs(r).join()}`,
        );
        assert.deepEqual([...r[6].keys!].sort(), [...keys].sort());
        keys.forEach((key, i) => assert.equal(r[8 + 2 * i].data?.toString(), `${key}:${i}`));
        assert.deepEqual(r[r.length - 2].keys, []);
      });
    });

    it('stress: 8 threads x 10,000 ops, every answer checked', async () => {
      await withStore(async (h) => {
        const s = await testDriver.runStress(h.bridge.native, {
          threads: 8,
          iterations: 10_000,
          clientId: 'stress',
          serverURI: URI,
        });
        assert.equal(s.failures, 0, `problems: ${s.problems.join('; ')}`);
        assert.deepEqual(s.problems, []);
        assert.ok(s.calls >= 80_000, `only ${s.calls} calls`);
        assert.deepEqual(h.failures, []);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------

describe('bridge + RedisPersistence when Redis goes away', () => {
  it('calls fail fast while Redis is down (the outage reported once, not per call) and succeed again after a restart', async () => {
    const server = await startRedis();
    const store = new RedisPersistence({ url: server.url, operationTimeoutMs: 500 });
    const h = harness(store, { operationTimeoutMs: 3000 });
    try {
      const first = await h.run([
        { op: 'open', clientId: 'outage', serverURI: URI },
        { op: 'put', key: 'c-1', buffers: [Buffer.from('a')] },
      ]);
      assert.deepEqual(rcs(first), [0, 0]);
      // Stress rounds until Redis is back, so calls are surely under way when it goes away.
      let stressing = true;
      let failedCalls = 0;
      const stress = (async () => {
        while (stressing) {
          // A round that starts while Redis is down fails at its open: that is a call failing too.
          const round = await testDriver
            .runStress(h.bridge.native, { threads: 2, iterations: 2000, clientId: 'outage', serverURI: URI })
            .catch((e: Error) => {
              if (!/popen failed/.test(e.message)) throw e;
              return undefined;
            });
          if (round === undefined) {
            failedCalls += 1;
            await sleep(50);
            continue;
          }
          failedCalls += round.failures;
        }
      })();
      stress.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      await waitFor(() => h.bridge.stats().opsLogged > 100, 'the stress under way');
      await server.stop();
      await waitFor(
        () => h.failures.some((f) => f.code === 'ERR_PERSISTENCE_UNAVAILABLE'),
        'the outage reported while Redis is down',
        15_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; reports: ${h.failures.map((f) => `${f.code} ${f.message}`).join(' | ')}`);
      });
      await sleep(500); // the stress goes on failing meanwhile
      await server.restart();
      stressing = false;
      await stress;
      assert.ok(failedCalls > 0, 'no call failed while Redis was down');
      for (const f of h.failures) {
        assert.ok(f instanceof PersistenceError);
        assert.ok(
          [
            'ERR_PERSISTENCE_STORE',
            'ERR_PERSISTENCE_TIMEOUT',
            'ERR_PERSISTENCE_NO_SUCH_KEY',
            'ERR_PERSISTENCE_UNAVAILABLE',
          ].includes(f.code),
          f.code,
        );
        assert.ok([...PERSISTENCE_OPS, 'batch'].includes(f.op), `op ${f.op}`);
        assert.match(f.message, /Redis|no such key|timed out/i, f.message);
      }
      // Calls failed by the thousand; reports did not (one per outage, timeouts, failed reads).
      assert.ok(h.failures.length < 50, `${h.failures.length} reports for ${failedCalls} failed calls`);
      assert.ok(
        h.failures.some((f) => f.code !== 'ERR_PERSISTENCE_NO_SUCH_KEY'),
        'no Redis failure was reported',
      );
      // Recovered: the held writes are stored (flush() rejects while Redis is unavailable; ioredis
      // reconnects with a back-off), a script succeeds, then a clean stress.
      await waitFor(
        () =>
          h.bridge.flush().then(
            () => true,
            () => false,
          ),
        'a flush that succeeds after the restart',
        10_000,
      );
      let back: DriverStepResult[] = [];
      await waitFor(
        async () => {
          back = await h.run([
            { op: 'put', key: 's-1', buffers: [Buffer.from('back')] },
            { op: 'get', key: 's-1' },
          ]);
          return rcs(back).every((rc) => rc === 0);
        },
        'calls that succeed after the restart',
        10_000,
      );
      assert.equal(back[1].data?.toString(), 'back');
      const before = h.failures.length;
      const clean = await testDriver.runStress(h.bridge.native, {
        threads: 2,
        iterations: 2000,
        clientId: 'outage',
        serverURI: URI,
      });
      assert.equal(
        clean.failures,
        0,
        `problems after restart: ${clean.problems.slice(0, 5).join('; ')}; reports: ${h.failures
          .slice(before)
          .map((f) => f.message)
          .slice(0, 5)
          .join('; ')}`,
      );
      assert.equal(h.failures.length, before);
    } finally {
      h.bridge.close();
      await store.close();
      await server.stop();
    }
  });
});
