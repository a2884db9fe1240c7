/**
 * outbox.drainRate's token bucket on a clock the test moves: a burst of 100 ms worth at the
 * start, then the rate, also when the timers that wake the pump fire late.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DrainPacer } from '../../src/client/drain-pacer';
import { seededRandom } from '../helpers/seeded-random';

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('DrainPacer', () => {
  it('starts with a burst of 100 ms worth, then one message per 1/rate', () => {
    const time = clock();
    const pacer = new DrainPacer(200, time.now);
    assert.equal(pacer.burst, 20);
    assert.equal(pacer.available(), 20, 'a full burst at the start');
    pacer.take(20);
    assert.equal(pacer.available(), 0);
    assert.equal(pacer.msUntilNext(), 5, 'the next message after 1/200 s');
    time.advance(4);
    assert.equal(pacer.available(), 0, 'not before');
    time.advance(1);
    assert.equal(pacer.available(), 1);
    assert.equal(pacer.msUntilNext(), 0);
  });

  it('an idle pacer fills up to the burst, not beyond', () => {
    const time = clock();
    const pacer = new DrainPacer(1000, time.now);
    pacer.take(pacer.available());
    time.advance(60_000);
    assert.equal(pacer.available(), 100);
  });

  it('a rate below 1 msg/s has a burst of 1', () => {
    const time = clock();
    const pacer = new DrainPacer(0.5, time.now);
    assert.equal(pacer.available(), 1);
    pacer.take(1);
    assert.equal(pacer.msUntilNext(), 2000);
  });

  for (const rate of [200, 1000, 10_000]) {
    it(`${rate} msg/s over 10 s with wake-ups up to 15 ms late: the rate within 1% (after the burst)`, () => {
      const time = clock();
      const random = seededRandom(rate);
      const pacer = new DrainPacer(rate, time.now);
      let handed = 0;
      while (time.now() < 10_000) {
        const allowed = pacer.available();
        pacer.take(allowed);
        handed += allowed;
        time.advance(Math.max(1, pacer.msUntilNext()) + Math.floor(random() * 16));
      }
      const expected = rate * (time.now() / 1000);
      assert.ok(handed <= pacer.burst + expected, `not above the rate: ${handed} handed, ${expected} + burst`);
      assert.ok(handed >= expected * 0.99, `not below it: ${handed} handed, ${expected} expected`);
    });
  }
});
