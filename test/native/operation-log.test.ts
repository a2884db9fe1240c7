/**
 * The operation log ('batched' durability), driven as Paho drives the bridge: writes are
 * answered at once and reach the store in order, in batches; barriers make the writing
 * thread wait until the store acknowledged them and everything before; a put and its remove
 * inside an unsent batch cancel out. The other themes: operation-log-publish.test.ts (a sent
 * PUBLISH and its command), operation-log-bounds.test.ts (bounds and failures),
 * operation-log-refusals.test.ts (a batch refused for good).
 *
 * Timing is made deterministic by holding the store's batches (recording-store hold/release):
 * whatever a thread logs while a batch is held lands in the next batch, unless the thread waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertOrder, batchesOf, fixture, inFlight, put, remove, sentPublish, started } from '../helpers/log-fixture';
import type { DriverStepSpec } from '../helpers/test-driver';
import { waitFor } from '../helpers/wait';

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
