import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OutboxClock, WALL_CLOCK_FLOOR, resumedAt } from '../../src/client/outbox-clock';
import { expired, onTheWire, timesAt } from '../../src/client/outbox-limits';

const SET = Date.UTC(2026, 11, 6, 12, 0, 0); // a wall clock that NTP has set

describe('outbox clock', () => {
  it('starts at 0 without a checkpoint, then runs on the monotonic clock only', () => {
    const clock = new OutboxClock(undefined, 0, 1000);
    assert.equal(clock.now(1000), 0);
    assert.equal(clock.now(1500), 500, 'a wall-clock jump cannot move it: it is not read');
  });

  it('counts the downtime when both wall readings are set and in order', () => {
    assert.equal(resumedAt({ outboxMs: 10_000, wallMs: SET }, SET + 60_000), 70_000);
  });

  it('does not count the downtime when a wall reading looks unset or went backwards', () => {
    // Checkpointed while the wall clock still said 1970 (no RTC, before NTP), started after NTP.
    assert.equal(resumedAt({ outboxMs: 10_000, wallMs: 5_000 }, SET), 10_000);
    // Checkpointed after NTP, restarted in 1970 (before NTP).
    assert.equal(resumedAt({ outboxMs: 10_000, wallMs: SET }, 3_000), 10_000);
    // The wall clock went back (set by hand, or a bad NTP answer before).
    assert.equal(resumedAt({ outboxMs: 10_000, wallMs: SET }, SET - 1), 10_000);
    assert.ok(WALL_CLOCK_FLOOR > 5_000 && WALL_CLOCK_FLOOR < SET);
  });

  it('expiry and the MQTT 5 interval on the wire are measured from enqueue on that clock', () => {
    const message = { topic: 't', payload: Buffer.alloc(0), qos: 1, retained: false };
    const withInterval = { ...message, properties: [{ id: 2, value: 60 }] };
    assert.deepEqual(timesAt(message, undefined, 100), { enqueuedAt: 100, expiresAt: 0 });
    assert.deepEqual(timesAt(message, 500, 100), { enqueuedAt: 100, expiresAt: 600 });
    assert.deepEqual(timesAt(withInterval, 500_000, 100), { enqueuedAt: 100, expiresAt: 60_100 }, 'the sooner');
    const times = timesAt(withInterval, undefined, 100);
    assert.equal(expired(times, 60_099), false);
    assert.equal(expired(times, 60_100), true);
    assert.equal(expired(undefined, 1e12), false, 'a version 1 entry never expires');
    assert.deepEqual(onTheWire(withInterval, times, 100 + 2_500).properties, [{ id: 2, value: 58 }]);
    assert.equal(onTheWire(message, times, 5_000), message, 'no interval: the message as it is');
  });
});
