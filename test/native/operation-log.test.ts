/**
 * The operation log ('batched' durability), driven as Paho drives the bridge: writes are
 * answered at once and reach the store in order, in batches; barriers make the writing
 * thread wait until the store acknowledged them and everything before; a put and its remove
 * inside an unsent batch cancel out; the log is bounded; failures surface as errors.
 *
 * Timing is made deterministic by holding the store's batches (recording-store hold/release):
 * whatever a thread logs while a batch is held lands in the next batch, unless the thread waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PersistenceError } from '../../src';
import { recordingStore, type AsyncBatch, type RecordingStore } from '../helpers/recording-store';
import { type Fixture, fixture, put, remove, sentPublish, started } from '../helpers/log-fixture';
import type { DriverStepSpec } from '../helpers/test-driver';
import { sleep, waitFor } from '../helpers/wait';

/** The store's writes grouped by batch, as "put k" / "remove k". */
function batchesOf(rec: RecordingStore): string[][] {
  const writes = rec.log.filter(([op]) => op === 'put' || op === 'remove').map(([op, key]) => `${op} ${key}`);
  const out: string[][] = [];
  let at = 0;
  for (const size of rec.batches) {
    out.push(writes.slice(at, at + size));
    at += size;
  }
  return out;
}

/** `barrier` is stored with or after `before`, and `after` only in a later batch. */
function assertOrder(rec: RecordingStore, before: string, barrier: string, after: string): void {
  const batches = batchesOf(rec);
  const batchOf = (write: string): number => batches.findIndex((b) => b.includes(write));
  assert.ok(batchOf(before) >= 0 && batchOf(before) <= batchOf(barrier), JSON.stringify(batches));
  assert.ok(batchOf(after) > batchOf(barrier), `${after} was stored with its barrier: ${JSON.stringify(batches)}`);
}

/** Holds the store, and puts `key` into a batch the store holds: what follows is unsent. */
async function inFlight(f: Fixture, key: string): Promise<void> {
  f.rec.hold();
  assert.deepEqual(await f.run([put(key)]), [0]);
  await waitFor(() => f.rec.held() === 1, `the batch of ${key} held by the store`);
}

describe('operation log: barriers', () => {
  const delivered: DriverStepSpec = { op: 'delivered' };
  const barriers: Array<[string, DriverStepSpec | DriverStepSpec[], string]> = [
    ['the sc- put (PUBREL leaves next)', put('sc-1'), 'put sc-1'],
    ['the sc5- put', put('sc5-1'), 'put sc5-1'],
    ['the r- put (PUBREC leaves next)', put('r-1'), 'put r-1'],
    [
      'the r5- put, once the listeners of its message returned (PUBREC leaves next)',
      [put('r5-1'), delivered],
      'put r5-1',
    ],
    ['the s- put of a QoS 2 PUBLISH', sentPublish('s-1', 2), 'put s-1'],
    ['the s5- put of a QoS 2 PUBLISH', sentPublish('s5-1', 2), 'put s5-1'],
  ];
  for (const [what, step, written] of barriers) {
    it(`${what}: the thread waits until it and everything before it are stored`, async () => {
      const f = fixture();
      await started(f);
      f.rec.hold();
      let done = false;
      const steps = [put('c-0'), ...[step].flat(), put('c-2')];
      const script = f.run(steps).finally(() => {
        done = true;
      });
      // c-0 is in the held batch, the barrier is logged behind it and its thread waits.
      await waitFor(() => f.bridge.stats().queueDepth === 2, 'c-0 in flight and the barrier logged');
      assert.equal(done, false, 'the script went on past a barrier whose batch is held');
      f.rec.release();
      assert.deepEqual(
        await script,
        steps.map(() => 0),
      );
      await f.bridge.flush();
      // Had the thread not waited, c-2 would have joined the barrier's batch.
      assertOrder(f.rec, 'put c-0', written, 'put c-2');
      assert.equal(f.bridge.stats().barrierWaits, 1);
      f.bridge.close();
    });
  }

  it('the r5- remove (MQTT 5 delivers at PUBLISH time: a stale r5- record would swallow a reused id)', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([put('r5-1'), delivered]), [0, 0]);
    await f.bridge.flush();
    f.rec.hold();
    const script = f.run([put('c-0'), remove('r5-1'), put('c-2')]);
    await waitFor(() => f.bridge.stats().queueDepth === 2, 'c-0 in flight and the remove logged');
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0]);
    await f.bridge.flush();
    assertOrder(f.rec, 'put c-0', 'remove r5-1', 'put c-2');
    f.bridge.close();
  });

  it('the r5- put is held while the listeners of its message run: a crash then leaves no record, so the PUBLISH comes again', async () => {
    const f = fixture();
    await started(f);
    // Paho puts r5-1 as it reads the PUBLISH, then delivers it; the listeners never return (the process dies).
    assert.deepEqual(await f.run([put('c-0'), put('r5-1')]), [0, 0]);
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec).flat(), ['put c-0']);
    assert.equal(f.bridge.stats().barrierWaits, 0);
    f.bridge.close();
  });

  it('an r5- put of a record already stored (a resent PUBLISH Paho does not deliver again) is a barrier at once', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([put('r5-1'), delivered]), [0, 0]);
    await f.bridge.flush();
    f.rec.log.length = 0;
    f.rec.batches.length = 0;
    f.rec.hold();
    let done = false;
    const script = f.run([put('c-0'), put('r5-1'), put('c-2')]).finally(() => {
      done = true;
    });
    await waitFor(() => f.bridge.stats().queueDepth === 2, 'c-0 in flight and the r5- put logged');
    assert.equal(done, false, 'the script went on past the r5- put');
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0]);
    await f.bridge.flush();
    assertOrder(f.rec, 'put c-0', 'put r5-1', 'put c-2');
    f.bridge.close();
  });

  it('a held r5- put whose message Paho queued (q5-) is stored with the q5- put, in one unit the thread waits for', async () => {
    const f = fixture();
    await started(f);
    f.rec.hold();
    let done = false;
    const script = f.run([put('c-0'), put('r5-1'), put('q5-1'), put('c-2')]).finally(() => {
      done = true;
    });
    await waitFor(() => f.bridge.stats().queueDepth === 3, 'c-0 in flight, r5-1 and q5-1 logged');
    assert.equal(done, false, 'the script went on past the q5- put');
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0, 0]);
    await f.bridge.flush();
    const batches = batchesOf(f.rec);
    const unit = batches.find((b) => b.includes('put r5-1'));
    assert.ok(unit?.includes('put q5-1'), JSON.stringify(batches));
    assertOrder(f.rec, 'put c-0', 'put q5-1', 'put c-2');
    f.bridge.close();
  });

  it('QoS 1 records and commands are written behind: the thread never waits', async () => {
    const f = fixture();
    await started(f);
    f.rec.hold();
    // The whole script completes while the first batch is still held.
    const rcs = await f.run([put('c-0'), put('c-1'), sentPublish('s-1', 1), put('q-9')]);
    assert.deepEqual(rcs, [0, 0, 0, 0]);
    assert.equal(f.rec.held(), 1);
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec).flat(), ['put c-0', 'put c-1', 'put s-1', 'put q-9']);
    assert.equal(f.bridge.stats().barrierWaits, 0);
    f.bridge.close();
  });

  it('a deferred command remove is logged with its s- put, in the same batch (never one without the other)', async () => {
    const f = fixture();
    await started(f);
    // A QoS 1 PUBLISH command: type 3, token, topic, payload length, payload, qos 1.
    const int = (n: number): number[] => [n & 255, (n >> 8) & 255, 0, 0];
    const command = [...int(3), ...int(1), 0x61, 0, ...int(1), 0x78, ...int(1), ...int(0)];
    assert.deepEqual(await f.run([put('c-1', command)]), [0]);
    await f.bridge.flush();
    f.rec.hold();
    const rcs = await f.run([put('c-0'), remove('c-1'), sentPublish('s-1', 1)]);
    assert.deepEqual(rcs, [0, 0, 0]);
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    const batches = batchesOf(f.rec);
    const unit = batches.find((b) => b.includes('put s-1'));
    assert.ok(unit, JSON.stringify(batches));
    assert.ok(unit.indexOf('remove c-1') > unit.indexOf('put s-1'), `one unit, put first: ${JSON.stringify(batches)}`);
    f.bridge.close();
  });
});

describe('operation log: a failed s- put', () => {
  it('keeps the command record: the store holds c-N or s-N, never neither', async () => {
    const rec = recordingStore();
    let failing = false;
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) => (failing ? Promise.reject(new Error('refused')) : apply(writes));
    const f = fixture({}, rec);
    await started(f);
    // A QoS 1 PUBLISH command: type 3, token 1, topic, payload length, payload, qos 1, retained 0.
    const int = (n: number): number[] => [n & 255, (n >> 8) & 255, 0, 0];
    assert.deepEqual(
      await f.run([put('c-1', [...int(3), ...int(1), 0x61, 0, ...int(1), 0x78, ...int(1), ...int(0)])]),
      [0],
    );
    await f.bridge.flush();
    failing = true;
    // Paho's send thread: the command's remove (deferred), then the PUBLISH record, whose batch fails.
    assert.deepEqual(await f.run([remove('c-1'), sentPublish('s-1', 1)]), [0, 0]);
    await assert.rejects(f.bridge.flush(), PersistenceError);
    failing = false;
    assert.deepEqual(rec.store.keys(), ['c-1'], 'the message is still stored, as its command');
    assert.ok(
      f.failures.some((e) => e.key === 's-1'),
      'the failed s-1 put is reported',
    );
    f.bridge.close();
  });
});

describe('operation log: a QoS 2 PUBLISH is durable once its command is', () => {
  const int = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n); // the test machines are little-endian, as Paho's ints here
    return b;
  };
  /** MQTTAsync_persistCommand's buffers for a QoS 2 PUBLISH: type, token, topic, length, payload, qos, retained. */
  const qos2Command = (key: string, token: number): DriverStepSpec => ({
    op: 'put',
    key,
    buffers: [int(3), int(token), Buffer.from('a\0'), int(1), Buffer.from('x'), int(2), int(0)],
  });

  it('its command stored: the s- put does not wait (a crash restores c-N, resent with the same packet id)', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await f.bridge.flush();
    f.rec.hold();
    // Paho's send thread: the command's remove (deferred), the PUBLISH record, then on.
    const script = f.run([remove('c-1'), sentPublish('s-7', 2), put('c-2')]);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise((resolve) => (timer = setTimeout(() => resolve('waited for the held batch'), 2000)));
    try {
      assert.deepEqual(await Promise.race([script, waited]), [0, 0, 0]);
      assert.equal(f.rec.held(), 1, 'the s-7 batch is still held by the store');
    } finally {
      clearTimeout(timer);
      f.rec.release();
    }
    await f.bridge.flush();
    const unit = batchesOf(f.rec).find((b) => b.includes('put s-7'))!;
    assert.ok(unit.includes('remove c-1'), 'c-1 removed with s-7, as one unit');
    assert.equal(f.bridge.stats().barrierWaits, 0);
    f.bridge.close();
  });

  it('its command not yet stored: the s- put waits for the command, not for itself', async () => {
    const f = fixture();
    await started(f);
    f.rec.hold();
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await waitFor(() => f.rec.held() === 1, 'the batch of c-1 held by the store');
    let done = false;
    const script = f.run([remove('c-1'), sentPublish('s-7', 2), put('c-2')]).finally(() => {
      done = true;
    });
    await sleep(100); // a put that did not wait would be done by now
    assert.equal(done, false, 'the s-7 put went on while its command was unacknowledged');
    f.rec.release(true); // c-1's batch is stored; the next one (s-7 with c-1's remove) is held
    assert.deepEqual(await script, [0, 0, 0]);
    assert.equal(f.rec.held(), 1, 'the script completed while the s-7 batch is held');
    f.rec.release();
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec)[0], ['put c-1']);
    f.bridge.close();
  });

  it('a command with another token (not this message): the s- put waits for itself', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([qos2Command('c-1', 7)]), [0]);
    await f.bridge.flush();
    f.rec.hold();
    let done = false;
    const script = f.run([remove('c-1'), sentPublish('s-8', 2)]).finally(() => {
      done = true;
    });
    await waitFor(() => f.rec.held() === 1, 'the s-8 batch held by the store');
    await sleep(100); // a put that did not wait would be done by now
    assert.equal(done, false, 'the s-8 put did not wait although c-1 is not its command');
    f.rec.release();
    assert.deepEqual(await script, [0, 0]);
    assert.ok(f.bridge.stats().barrierWaits > 0);
    f.bridge.close();
  });
});

describe('operation log: absorption', () => {
  it('a put and its remove inside an unsent batch never reach the store', async () => {
    const f = fixture();
    await started(f);
    await inFlight(f, 'c-0');
    const rcs = await f.run([sentPublish('s-1', 1), remove('s-1'), put('c-2'), remove('c-2')]);
    assert.deepEqual(rcs, [0, 0, 0, 0]);
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec).flat(), ['put c-0']);
    const stats = f.bridge.stats();
    assert.equal(stats.opsLogged, 5);
    assert.equal(stats.opsAbsorbed, 4);
    assert.equal(stats.opsWritten, 1);
    assert.deepEqual(f.rec.store.keys(), ['c-0']);
    f.bridge.close();
  });

  it('the remove stays when the store already holds the key (only the newer put goes)', async () => {
    const f = fixture();
    await started(f);
    assert.deepEqual(await f.run([put('s-1', [1])]), [0]);
    await f.bridge.flush();
    await inFlight(f, 'c-0');
    assert.deepEqual(await f.run([put('s-1', [2]), remove('s-1')]), [0, 0]);
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    assert.deepEqual(batchesOf(f.rec).flat(), ['put s-1', 'put c-0', 'remove s-1']);
    assert.deepEqual(f.rec.store.keys(), ['c-0']);
    f.bridge.close();
  });

  it('two unsent puts of one key and a remove: the older put is not lost to the store', async () => {
    const f = fixture();
    await started(f);
    f.rec.hold();
    assert.deepEqual(await f.run([put('c-0'), put('s-1', [1]), put('s-1', [2]), remove('s-1')]), [0, 0, 0, 0]);
    f.rec.release();
    await waitFor(() => f.bridge.stats().queueDepth === 0, 'the held writes stored');
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys(), ['c-0'], 's-1 must not survive its remove');
    f.bridge.close();
  });
});

describe('operation log: bounds and failures', () => {
  it('a full log makes the writer wait for room, and go on once a batch settles', async () => {
    const f = fixture({ maxQueuedOps: 2 });
    await started(f);
    f.rec.hold();
    const script = f.run([put('c-1'), put('c-2'), put('c-3'), put('c-4')]);
    await waitFor(() => f.bridge.stats().roomWaits === 1, 'a writer waiting for room');
    assert.ok(f.bridge.stats().queueDepth <= 2);
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys().sort(), ['c-1', 'c-2', 'c-3', 'c-4']);
    f.bridge.close();
  });

  it('maxQueuedBytes bounds the log by bytes: a writer waits while the unsent bytes would pass it', async () => {
    const f = fixture({ maxQueuedBytes: 1024 });
    await started(f);
    f.rec.hold();
    const big = (key: string) => put(key, new Array<number>(400).fill(7));
    // c-1 is taken as a batch (held by the store); c-2 fits beside it; c-3 would pass 1,024 bytes.
    const script = f.run([big('c-1'), big('c-2'), big('c-3')]);
    await waitFor(() => f.bridge.stats().roomWaits === 1, 'a writer waiting for room');
    assert.equal(f.bridge.stats().queueDepth, 2, 'c-3 is not logged while it would not fit');
    assert.ok(f.bridge.stats().queueBytes <= 1024, JSON.stringify(f.bridge.stats()));
    f.rec.release();
    assert.deepEqual(await script, [0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(f.rec.store.keys().sort(), ['c-1', 'c-2', 'c-3']);
    f.bridge.close();
  });

  it('a single write larger than maxQueuedBytes is still logged and stored (alone)', async () => {
    const f = fixture({ maxQueuedBytes: 1024 });
    await started(f);
    assert.deepEqual(await f.run([put('c-1', new Array<number>(4096).fill(1))]), [0]);
    await f.bridge.flush();
    assert.equal(f.rec.store.get('c-1').length, 4096);
    f.bridge.close();
  });

  it('a failed batch is reported once with op, key and cause, and flush() rejects with it', async () => {
    const rec = recordingStore();
    const cause = new Error('disk on fire');
    let failing = true;
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) => (failing ? Promise.reject(cause) : apply(writes));
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(
      await f.run([put('r-1'), put('c-2')]),
      [-2, 0],
      'the barrier hears its failure; c-2 does not wait',
    );
    await assert.rejects(f.bridge.flush(), (e: unknown) => e instanceof PersistenceError && e.cause === cause);
    await waitFor(() => f.failures.length >= 2, 'both failed batches reported');
    for (const failure of f.failures) {
      assert.equal(failure.code, 'ERR_PERSISTENCE_STORE');
      assert.equal(failure.cause, cause);
      assert.match(failure.message, /disk on fire/);
    }
    assert.deepEqual(
      f.failures.map((e) => [e.op, e.key]),
      [
        ['put', 'r-1'],
        ['put', 'c-2'],
      ],
    );
    failing = false;
    assert.deepEqual(await f.run([put('c-3'), remove('r-1'), put('c-2')]), [0, 0, 0]);
    await f.bridge.flush(); // r-1 removed and c-2 rewritten: the store holds what the log says
    assert.equal(f.bridge.stats().failedOps, 2);
    f.bridge.close();
  });

  it('after a failed write, every flush() rejects until a later write of that key is stored', async () => {
    const rec = recordingStore();
    const cause = new Error('refused');
    let failKey: string | undefined = 'c-2';
    const apply = rec.store.batch.bind(rec.store);
    (rec.store as AsyncBatch).batch = (writes) =>
      writes.some((w) => w.key === failKey) ? Promise.reject(cause) : apply(writes);
    const f = fixture({}, rec);
    await started(f);
    assert.deepEqual(await f.run([put('c-2')]), [0]);
    await assert.rejects(f.bridge.flush(), (e: unknown) => e instanceof PersistenceError && e.cause === cause);
    failKey = undefined;
    assert.deepEqual(await f.run([put('c-3')]), [0]);
    for (const attempt of [1, 2]) {
      await assert.rejects(
        f.bridge.flush(),
        (e: unknown) => e instanceof PersistenceError && e.cause === cause,
        `flush ${attempt} after the failure: c-2 is still not stored`,
      );
    }
    assert.equal(rec.store.containsKey('c-3'), true, 'the later write itself was stored');
    assert.deepEqual(await f.run([put('c-2')]), [0]);
    await f.bridge.flush();
    assert.equal(rec.store.containsKey('c-2'), true);
    f.bridge.close();
  });

  it('a store without batch(): writes apply one by one, in order', async () => {
    const f = fixture({}, recordingStore({ batch: false }));
    await started(f);
    f.rec.hold(); // no effect without batch(): nothing is held
    assert.deepEqual(await f.run([put('c-1'), sentPublish('s-1', 2), put('c-2'), remove('c-1')]), [0, 0, 0, 0]);
    await f.bridge.flush();
    assert.deepEqual(
      f.rec.log.map(([op, key]) => `${op} ${key}`),
      ['put c-1', 'put s-1', 'put c-2', 'remove c-1'],
    );
    f.bridge.close();
  });
});
