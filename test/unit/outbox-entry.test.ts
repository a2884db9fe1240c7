import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOutboxEntry, encodeOutboxEntry, OUTBOX_FORMAT_VERSION } from '../../src/client/outbox-entry';
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

  it('an entry without properties costs 7 bytes beyond topic and payload', () => {
    const bytes = encodeOutboxEntry({ topic: 't', payload: Buffer.alloc(256), qos: 1, retained: false });
    assert.equal(bytes.length, 256 + 1 + 7);
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
});
