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

  it('a plain entry costs 10 bytes beyond topic and payload with its enqueue time, 16 with an expiry', () => {
    const message = { topic: 't', payload: Buffer.alloc(256), qos: 1, retained: false, properties: undefined };
    const plain = encodeOutboxEntry(message, { enqueuedAt: 5, expiresAt: 0 });
    assert.equal(plain.length, 256 + 1 + 10);
    assert.deepEqual(decodeOutboxRecord('1', plain), { message, times: { enqueuedAt: 5, expiresAt: 0 } });
    assert.equal(encodeOutboxEntry(message, { enqueuedAt: 5, expiresAt: 9 }).length, 256 + 1 + 16);
    const timeless = encodeOutboxEntry(message); // moved at an upgrade: times unknown
    assert.equal(timeless.length, 256 + 1 + 4);
    assert.deepEqual(decodeOutboxRecord('1', timeless), { message, times: undefined });
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

  it('version 2 carries the enqueue time and the expiry (whole ms); version 1 entries still read, without times', () => {
    const message = { topic: 'a', payload: Buffer.from('x'), qos: 1, retained: true, properties: undefined };
    const timed = encodeOutboxEntry(message, { enqueuedAt: 1234.4, expiresAt: 2 ** 40 + 0.6 });
    assert.equal(OUTBOX_FORMAT_VERSION, 2);
    assert.deepEqual(decodeOutboxRecord('1', timed), {
      message,
      times: { enqueuedAt: 1234, expiresAt: 2 ** 40 + 1 },
    });
    // A version 1 entry as an older release wrote it: version, qos, retain, topic, no properties, payload.
    const v1 = Buffer.from([1, 1, 1, 0, 1, 0x61, 0, 0, 0x78]);
    assert.deepEqual(decodeOutboxRecord('1', v1), { message, times: undefined });
    assert.deepEqual(decodeOutboxEntry('1', v1), message);
  });
});
