/**
 * The native persistence bridge's failure paths, driven as Paho drives it (native threads calling
 * the MQTTClient_persistence struct through the test driver): stores that throw, reject, answer
 * the wrong type or never settle, a closed bridge, calls on the JS thread, and Buffers a store
 * keeps or writes into. The working paths are in bridge.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { testDriver, type DriverStepSpec } from '../helpers/test-driver';
import { MemoryPersistence } from '../../src/persistence/memory';
import { customStore, harness, rcs, sleep, waitFor } from '../helpers/bridge-harness';

const URI = 'tcp://127.0.0.1:1883';

/** Every operation once, as Paho would call them. */
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
