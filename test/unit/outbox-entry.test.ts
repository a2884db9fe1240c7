import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeOutboxEntry,
  decodeOutboxRecord,
  encodeOutboxEntry,
  OUTBOX_FORMAT_VERSION,
} from '../../src/client/outbox-entry';
import { PersistenceError } from '../../src/errors';

describe('outbox entries', () => {
  it('round-trip topic, payload, QoS, retain and every kind of MQTT 5 property', () => {
    const message = {
      topic: 'a/b/ü',
      payload: Buffer.from([0, 1, 2, 250]),
      qos: 2,
      retained: true,
      properties: [
        { id: 2, value: 3600 },
        { id: 3, value: 'text/plain' },
        { id: 9, value: Buffer.from([7, 8]) },
        { id: 38, value: ['k', 'v'] as [string, string] },
      ],
    };
    const bytes = encodeOutboxEntry(message);
    assert.equal(bytes[0], OUTBOX_FORMAT_VERSION, 'starts with its format version');
    assert.deepEqual(decodeOutboxEntry('1', bytes), message);
  });

  it('an entry without properties costs 23 bytes beyond topic and payload (7, and 16 of times)', () => {
    const bytes = encodeOutboxEntry({ topic: 't', payload: Buffer.alloc(256), qos: 1, retained: false });
    assert.equal(bytes.length, 256 + 1 + 23);
    assert.deepEqual(decodeOutboxEntry('1', bytes), {
      topic: 't',
      payload: Buffer.alloc(256),
      qos: 1,
      retained: false,
      properties: undefined,
    });
  });

  it('an unknown format version or a damaged entry fails with ERR_PERSISTENCE_CORRUPT naming the id', () => {
    const bytes = encodeOutboxEntry({ topic: 't', payload: Buffer.from('x'), qos: 1, retained: false });
    const future = Buffer.from(bytes);
    future[0] = 9;
    for (const damaged of [
      future,
      bytes.subarray(0, 4),
      Buffer.concat([bytes.subarray(0, 3), Buffer.from([0, 200])]),
    ]) {
      assert.throws(
        () => decodeOutboxEntry('42', damaged),
        (e: unknown) => e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_CORRUPT' && /42/.test(e.message),
      );
    }
  });

  it('version 2 carries the enqueue time and the expiry; version 1 entries still read, without times', () => {
    const message = { topic: 'a', payload: Buffer.from('x'), qos: 1, retained: false, properties: undefined };
    const timed = encodeOutboxEntry(message, { enqueuedAt: 1234.5, expiresAt: 99_000 });
    assert.equal(OUTBOX_FORMAT_VERSION, 2);
    assert.deepEqual(decodeOutboxRecord('1', timed), { message, times: { enqueuedAt: 1234.5, expiresAt: 99_000 } });
    // A version 1 entry as an older release wrote it: the version 2 bytes without the times.
    const v1 = Buffer.concat([Buffer.from([1]), timed.subarray(17)]);
    assert.deepEqual(decodeOutboxRecord('1', v1), { message, times: undefined });
    assert.deepEqual(decodeOutboxEntry('1', v1), message);
  });
});
