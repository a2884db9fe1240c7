/**
 * The native persistence bridge, driven exactly as Paho drives it (native threads calling
 * the MQTTClient_persistence struct through the test driver), against MemoryPersistence,
 * RedisPersistence and misbehaving custom stores.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { testDriver, type DriverStepResult, type DriverStepSpec } from '../helpers/test-driver';
import { MemoryPersistence } from '../../src/persistence/memory';
import { RedisPersistence } from '../../src/persistence/redis/redis-persistence';
import { PersistenceError } from '../../src/errors';
import { PERSISTENCE_OPS, type ClientPersistence } from '../../src/persistence/client-persistence';
import { startRedis, type RedisServer } from '../helpers/servers';
import { buffersOf, customStore, harness, rcs, sleep, waitFor, type Harness } from '../fixtures/bridge-harness';

const URI = 'tcp://127.0.0.1:1883';

const ALL_OPS: DriverStepSpec[] = [
  { op: 'open', clientId: 'fails', serverURI: URI },
  { op: 'put', key: 's-1', buffers: [Buffer.from('x')] },
  { op: 'get', key: 's-2' }, // s-1 would be answered from memory
  { op: 'remove', key: 's-1' },
  { op: 'keys' },
  { op: 'containsKey', key: 's-1' },
  { op: 'clear' },
  { op: 'close' },
];

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

describe('bridge failure paths', () => {
  for (const how of ['throws', 'rejects'] as const) {
    it(`a store method that ${how}: rc -2 and ERR_PERSISTENCE_STORE with op, key and cause`, async () => {
      const errors = new Map<string, Error>();
      const overrides: Record<string, () => unknown> = {};
      for (const step of ALL_OPS) {
        const error = new Error(`${step.op} broke`);
        errors.set(step.op, error);
        overrides[step.op] =
          how === 'throws'
            ? () => {
                throw error;
              }
            : () => Promise.reject(error);
      }
      const h = harness(customStore(overrides), { durability: 'sync' });
      const r = await h.run(ALL_OPS);
      assert.deepEqual(
        rcs(r),
        ALL_OPS.map(() => -2),
      );
      assert.deepEqual(
        h.failures.map((f) => f.op),
        ALL_OPS.map((s) => s.op),
      );
      for (const [i, f] of h.failures.entries()) {
        assert.equal(f.code, 'ERR_PERSISTENCE_STORE');
        assert.equal(f.key, ALL_OPS[i].key);
        assert.equal(f.cause, errors.get(f.op), `cause of ${f.op}`);
        assert.match(f.message, new RegExp(`${f.op} broke`));
      }
      h.bridge.close();
    });
  }

  it('answers of the wrong type: rc -2 and ERR_PERSISTENCE_BAD_RESULT', async () => {
    const h = harness(
      customStore({
        get: () => 'a string',
        keys: () => 42,
        containsKey: () => Promise.resolve('yes'),
      }),
    );
    const r = await h.run([
      { op: 'open', clientId: 'bad', serverURI: URI },
      { op: 'put', key: 's-1', buffers: [Buffer.from('x')] },
      { op: 'get', key: 's-9' }, // s-1 would be answered from memory
      { op: 'keys' },
      { op: 'containsKey', key: 's-1' },
    ]);
    assert.deepEqual(rcs(r), [0, 0, -2, -2, -2]);
    assert.deepEqual(
      h.failures.map((f) => [f.code, f.op, f.key]),
      [
        ['ERR_PERSISTENCE_BAD_RESULT', 'get', 's-9'],
        ['ERR_PERSISTENCE_BAD_RESULT', 'keys', undefined],
        ['ERR_PERSISTENCE_BAD_RESULT', 'containsKey', 's-1'],
      ],
    );
    assert.match(h.failures[0].message, /Buffer.*string/);
    assert.match(h.failures[1].message, /array.*number/);
    assert.match(h.failures[2].message, /boolean.*string/);
    h.bridge.close();
  });

  it('keys() answering a non-Paho key: rc 0, the key is skipped and reported', async () => {
    const h = harness(customStore({ keys: () => ['c-1', 'bogus'] }));
    const r = await h.run([{ op: 'open', clientId: 'bogus', serverURI: URI }, { op: 'keys' }]);
    assert.deepEqual(rcs(r), [0, 0]);
    assert.deepEqual(r[1].keys, ['c-1']);
    assert.equal(h.failures.length, 1);
    assert.equal(h.failures[0].code, 'ERR_PERSISTENCE_BAD_RESULT');
    assert.equal(h.failures[0].op, 'keys');
    assert.equal(h.failures[0].key, 'bogus');
    assert.match(h.failures[0].message, /'bogus'/);
    h.bridge.close();
  });

  it('a store that never settles: rc -2 after operationTimeoutMs and ERR_PERSISTENCE_TIMEOUT', async () => {
    const h = harness(customStore({ get: () => new Promise(() => undefined) }), { operationTimeoutMs: 300 });
    await h.run([{ op: 'open', clientId: 'slow', serverURI: URI }]);
    const started = performance.now();
    const r = await h.run([{ op: 'get', key: 'c-3' }]);
    const elapsed = performance.now() - started;
    assert.equal(r[0].rc, -2);
    assert.ok(elapsed >= 300, `answered after ${elapsed} ms, before the 300 ms timeout`);
    assert.ok(elapsed < 5000, `the wait is not bounded: ${elapsed} ms`);
    await waitFor(() => h.failures.length > 0, 'the timeout report');
    assert.equal(h.failures[0].code, 'ERR_PERSISTENCE_TIMEOUT');
    assert.equal(h.failures[0].op, 'get');
    assert.equal(h.failures[0].key, 'c-3');
    assert.match(h.failures[0].message, /300 ms/);
    h.bridge.close();
  });

  for (const late of ['resolves', 'rejects'] as const) {
    it(`an answer that ${late} after the timeout is dropped without a second report`, async () => {
      let answer: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
      const h = harness(
        customStore({
          get: (key: string) =>
            key === 'c-9'
              ? new Promise<Buffer>((resolve, reject) => {
                  answer = { resolve, reject };
                })
              : Buffer.from('ok'),
        }),
        { operationTimeoutMs: 200 },
      );
      const answers: Array<[string, boolean]> = [];
      const nb = h.bridge.native as unknown as Record<'settle' | 'fail', (...a: unknown[]) => boolean>;
      for (const name of ['settle', 'fail'] as const) {
        const original = nb[name].bind(nb);
        // The native methods are read-only on the prototype: shadow them on the instance.
        Object.defineProperty(nb, name, {
          value: (...args: unknown[]) => {
            const ok = original(...args);
            answers.push([name, ok]);
            return ok;
          },
        });
      }
      const r = await h.run([
        { op: 'open', clientId: 'late', serverURI: URI },
        { op: 'get', key: 'c-9' },
      ]);
      assert.deepEqual(rcs(r), [0, -2]);
      await waitFor(() => h.failures.length === 1, 'the timeout report');
      answers.length = 0;
      if (late === 'resolves') answer!.resolve(Buffer.from('too late'));
      else answer!.reject(new Error('too late'));
      await waitFor(() => answers.length === 1, 'the late answer');
      assert.deepEqual(answers, [[late === 'resolves' ? 'settle' : 'fail', false]]);
      await sleep(100); // a second report, if the bridge made one, would be in by now
      assert.deepEqual(
        h.failures.map((f) => f.code),
        ['ERR_PERSISTENCE_TIMEOUT'],
      );
      // The bridge still works afterwards.
      const again = await h.run([
        { op: 'put', key: 's-10', buffers: [Buffer.from('y')] },
        { op: 'get', key: 's-10' },
      ]);
      assert.deepEqual(rcs(again), [0, 0]);
      h.bridge.close();
    });
  }

  it('after bridge.close() every call fails at once without reaching the store', async () => {
    let invoked = 0;
    const counting = customStore(
      Object.fromEntries(
        ALL_OPS.map((s) => [
          s.op,
          () => {
            invoked += 1;
            return new Promise(() => undefined);
          },
        ]),
      ),
    );
    const h = harness(counting, { operationTimeoutMs: 60_000, durability: 'sync' });
    h.bridge.close();
    h.bridge.close(); // idempotent
    const started = performance.now();
    const r = await h.run(ALL_OPS);
    const elapsed = performance.now() - started;
    assert.deepEqual(
      rcs(r),
      ALL_OPS.map(() => -2),
    );
    assert.ok(elapsed < 2000, `calls after close() waited ${elapsed} ms`);
    assert.equal(invoked, 0);
  });

  it('a callback on the JS thread is refused at once with ERR_PERSISTENCE_JS_THREAD', async () => {
    let invoked = 0;
    const h = harness(
      customStore({
        get: () => {
          invoked += 1;
          return new Promise(() => undefined);
        },
      }),
      { operationTimeoutMs: 60_000 },
    );
    const started = performance.now();
    const rc = testDriver.callOnJsThread(h.bridge.native, 'get', 'c-1');
    assert.equal(rc, -2);
    assert.ok(performance.now() - started < 1000, 'callOnJsThread waited');
    await waitFor(() => h.failures.length > 0, 'the JS-thread report');
    assert.equal(h.failures[0].code, 'ERR_PERSISTENCE_JS_THREAD');
    assert.equal(h.failures[0].op, 'get');
    assert.equal(h.failures[0].key, 'c-1');
    assert.equal(invoked, 0);
    h.bridge.close();
  });

  it('a store writing into the Buffer it was given cannot change what Paho reads back', async () => {
    // Legal by the store contract (e.g. in-place encryption, or zeroing after use).
    const memory = new MemoryPersistence();
    const h = harness(
      customStore({
        open: (c: string, s: string) => memory.open(c, s),
        get: (k: string) => memory.get(k),
        put: (k: string, d: Buffer) => {
          memory.put(k, d);
          d.fill(0x55);
        },
      }),
    );
    const r = await h.run([
      { op: 'open', clientId: 'scribble', serverURI: URI },
      { op: 'put', key: 'c-1', buffers: [Buffer.from('command')] },
      { op: 'put', key: 's-1', buffers: [Buffer.from('publish')] },
      { op: 'get', key: 'c-1' },
      { op: 'get', key: 's-1' },
    ]);
    assert.deepEqual(rcs(r), [0, 0, 0, 0, 0]);
    assert.equal(r[4].data?.toString(), 'publish');
    assert.equal(r[3].data?.toString('latin1'), 'command', 'Paho would read back the bytes the store scribbled on');
    h.bridge.close();
  });

  it('the Buffer a put hands to the store stays intact after later puts (the store may keep it)', async () => {
    const kept: Array<{ key: string; data: Buffer; snapshot: Buffer }> = [];
    const h = harness(
      customStore({
        put: (key: string, data: Buffer) => {
          kept.push({ key, data, snapshot: Buffer.from(data) });
        },
      }),
    );
    const steps: DriverStepSpec[] = [{ op: 'open', clientId: 'keep', serverURI: URI }];
    for (let i = 0; i < 200; i++) {
      const size = [1, 17, 64, 1000, 5000][i % 5];
      steps.push({
        op: 'put',
        key: `s-${i + 1}`,
        buffers: [Buffer.alloc(size, i % 256), Buffer.from([i % 7, 0, 255])],
      });
    }
    const r = await h.run(steps);
    assert.ok(r.every((x) => x.rc === 0));
    // More native puts through another bridge, then check every kept Buffer.
    const other = harness(new MemoryPersistence());
    const s = await testDriver.runStress(other.bridge.native, {
      threads: 4,
      iterations: 2000,
      clientId: 'churn',
      serverURI: URI,
    });
    assert.equal(s.failures, 0);
    assert.equal(kept.length, 200);
    for (const [i, k] of kept.entries()) {
      assert.equal(k.key, `s-${i + 1}`);
      assert.deepEqual(k.data, k.snapshot, `kept Buffer of ${k.key} was altered`);
      assert.equal(k.data[0], i % 256);
    }
    h.bridge.close();
    other.bridge.close();
  });
});

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
          const round = await testDriver.runStress(h.bridge.native, {
            threads: 2,
            iterations: 2000,
            clientId: 'outage',
            serverURI: URI,
          });
          failedCalls += round.failures;
        }
      })();
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
