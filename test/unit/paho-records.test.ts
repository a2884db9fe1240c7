/**
 * Decoding Paho's records (src/persistence/records/paho-records.ts): every key kind, v3 and v5, records
 * captured from the real library, truncations, garbage and the strict checks. The
 * hand-built records come from test/helpers/paho-record-builders.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKey, decodeRecord, compareRecordKeys } from '../../src/persistence/records/paho-records';
import { CAPTURED } from '../helpers/captured-records';
import {
  LE,
  int,
  be16,
  cstr,
  vbi,
  PROPS,
  publishPacket,
  publishCommand,
  unsubscribeCommand,
  queueEntry,
  binary,
  FIXTURES,
} from '../helpers/paho-record-builders';

test(
  'records captured from the real library decode without error',
  { skip: !LE && 'captured on little-endian' },
  () => {
    for (const [key, hex, expected] of CAPTURED) {
      const d = decodeRecord(key, Buffer.from(hex, 'hex')) as unknown as Record<string, unknown>;
      assert.equal(d.error, undefined, `${key}: ${String(d.error)}`);
      for (const [field, value] of Object.entries(expected)) assert.deepEqual(d[field], value, `${key}.${field}`);
    }
  },
);

test('parseKey: every Paho prefix, v3 and v5, and the number', () => {
  assert.deepEqual(parseKey('s-12'), { kind: 'sentPublish', mqtt5: false, number: 12 });
  assert.deepEqual(parseKey('s5-12'), { kind: 'sentPublish', mqtt5: true, number: 12 });
  assert.deepEqual(parseKey('sc-3'), { kind: 'sentPubrel', mqtt5: false, number: 3 });
  assert.deepEqual(parseKey('sc5-65535'), { kind: 'sentPubrel', mqtt5: true, number: 65535 });
  assert.deepEqual(parseKey('r-1'), { kind: 'receivedQoS2', mqtt5: false, number: 1 });
  assert.deepEqual(parseKey('r5-2'), { kind: 'receivedQoS2', mqtt5: true, number: 2 });
  assert.deepEqual(parseKey('c-0'), { kind: 'command', mqtt5: false, number: 0 });
  assert.deepEqual(parseKey('c5-999999'), { kind: 'command', mqtt5: true, number: 999999 });
  assert.deepEqual(parseKey('q-4'), { kind: 'undeliveredInbound', mqtt5: false, number: 4 });
  assert.deepEqual(parseKey('q5-5'), { kind: 'undeliveredInbound', mqtt5: true, number: 5 });
});

test('parseKey: unknown keys and non-numeric suffixes', () => {
  assert.deepEqual(parseKey('x-1'), { kind: 'unknown', mqtt5: false, number: null });
  assert.deepEqual(parseKey(''), { kind: 'unknown', mqtt5: false, number: null });
  assert.deepEqual(parseKey('s-'), { kind: 'sentPublish', mqtt5: false, number: null });
  assert.deepEqual(parseKey('s-1a'), { kind: 'sentPublish', mqtt5: false, number: null });
  assert.deepEqual(parseKey('c--1'), { kind: 'command', mqtt5: false, number: null });
});

test('sent PUBLISH (s-, QoS 1): topic, qos, packet id, flags, payload size', () => {
  assert.deepEqual(decodeRecord('s-7', FIXTURES['s-7']), {
    kind: 'sentPublish',
    mqtt5: false,
    dup: false,
    qos: 1,
    retained: false,
    topic: 'a/b',
    packetId: 7,
    payloadSize: 5,
    payload: Buffer.from('hello'),
  });
});

test('sent PUBLISH (s5-, QoS 2, dup, retained, properties, 2-byte remaining length)', () => {
  const rec = FIXTURES['s5-65535'];
  assert.equal(rec[1] & 0x80, 0x80, 'fixture must use a multi-byte remaining length');
  assert.deepEqual(decodeRecord('s5-65535', rec), {
    kind: 'sentPublish',
    mqtt5: true,
    dup: true,
    qos: 2,
    retained: true,
    topic: 'sensors/ü',
    packetId: 65535,
    propertiesLength: PROPS.length,
    payloadSize: 300,
    payload: Buffer.alloc(300, 7),
  });
});

test('sent PUBREL (sc-, sc5-)', () => {
  assert.deepEqual(decodeRecord('sc-9', FIXTURES['sc-9']), {
    kind: 'sentPubrel',
    mqtt5: false,
    dup: false,
    packetId: 9,
  });
  assert.deepEqual(decodeRecord('sc5-10', FIXTURES['sc5-10']), {
    kind: 'sentPubrel',
    mqtt5: true,
    dup: false,
    packetId: 10,
  });
  // an MQTT 5 PUBREL with reason code and properties also decodes
  const long = Buffer.concat([Buffer.from([0x62, 0x04]), be16(11), Buffer.from([0x92]), vbi(0)]);
  assert.deepEqual(decodeRecord('sc5-11', long), {
    kind: 'sentPubrel',
    mqtt5: true,
    dup: false,
    packetId: 11,
    propertiesLength: 1,
  });
});

test('received QoS 2 PUBLISH (r-, r5-)', () => {
  assert.deepEqual(decodeRecord('r-12', FIXTURES['r-12']), {
    kind: 'receivedQoS2',
    mqtt5: false,
    dup: false,
    qos: 2,
    retained: false,
    topic: 'in/q2',
    packetId: 12,
    payloadSize: binary.length,
    payload: binary,
  });
  assert.deepEqual(decodeRecord('r5-13', FIXTURES['r5-13']), {
    kind: 'receivedQoS2',
    mqtt5: true,
    dup: false,
    qos: 2,
    retained: false,
    topic: 'in/v5',
    packetId: 13,
    propertiesLength: 1,
    payloadSize: 0,
    payload: Buffer.alloc(0),
  });
});

test('queued PUBLISH command (c-, c5-), binary payload with NULs', () => {
  assert.deepEqual(decodeRecord('c-1', FIXTURES['c-1']), {
    kind: 'command',
    mqtt5: false,
    sequence: 1,
    commandType: 'PUBLISH',
    token: 1,
    topic: 'out/x',
    payloadSize: binary.length,
    payload: binary,
    qos: 1,
    retained: true,
  });
  assert.deepEqual(decodeRecord('c5-2', FIXTURES['c5-2']), {
    kind: 'command',
    mqtt5: true,
    sequence: 2,
    commandType: 'PUBLISH',
    token: 2,
    topic: 'out/v5',
    payloadSize: 1,
    payload: Buffer.from('p'),
    qos: 2,
    retained: false,
    propertiesLength: PROPS.length,
  });
});

test('queued SUBSCRIBE / UNSUBSCRIBE commands', () => {
  assert.deepEqual(decodeRecord('c-3', FIXTURES['c-3']), {
    kind: 'command',
    mqtt5: false,
    sequence: 3,
    commandType: 'SUBSCRIBE',
    token: 3,
    topics: ['t/1', 't/#'],
    qoss: [0, 2],
  });
  assert.deepEqual(decodeRecord('c5-4', FIXTURES['c5-4']), {
    kind: 'command',
    mqtt5: true,
    sequence: 4,
    commandType: 'SUBSCRIBE',
    token: 4,
    topics: ['only/+'],
    qoss: [1],
    topic: 'only/+',
    qos: 1,
    propertiesLength: 1,
  });
  assert.deepEqual(decodeRecord('c-5', FIXTURES['c-5']), {
    kind: 'command',
    mqtt5: false,
    sequence: 5,
    commandType: 'UNSUBSCRIBE',
    token: 5,
    topics: ['t/1', 't/#', 'x'],
  });
});

test('undelivered inbound message (q-, q5-)', () => {
  assert.deepEqual(decodeRecord('q-999999', FIXTURES['q-999999']), {
    kind: 'undeliveredInbound',
    mqtt5: false,
    sequence: 999999,
    payloadSize: 6,
    payload: Buffer.from('queued'),
    qos: 1,
    retained: false,
    dup: true,
    packetId: 42,
    topic: 'q/t',
  });
  assert.deepEqual(decodeRecord('q5-0', FIXTURES['q5-0']), {
    kind: 'undeliveredInbound',
    mqtt5: true,
    sequence: 0,
    payloadSize: binary.length,
    payload: binary,
    qos: 0,
    retained: true,
    dup: false,
    packetId: 0,
    topic: 'q/v5',
    propertiesLength: PROPS.length,
  });
});

test('every fixture decodes without error; every truncation of it reports one', () => {
  for (const [key, rec] of Object.entries(FIXTURES)) {
    assert.equal(decodeRecord(key, rec).error, undefined, key);
    for (let n = 0; n < rec.length; n++) {
      const d = decodeRecord(key, rec.subarray(0, n));
      assert.equal(typeof d.error, 'string', `${key} cut to ${n} bytes`);
      assert.equal(d.kind, parseKey(key).kind);
    }
  }
});

test('garbage never throws: random bytes under every key kind', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const keys = [...Object.keys(FIXTURES), 'weird', 's-x'];
  let errors = 0;
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.alloc(rnd() % 64);
    for (let j = 0; j < buf.length; j++) buf[j] = rnd() & 0xff;
    const d = decodeRecord(keys[i % keys.length], buf);
    if (d.error !== undefined) errors++;
  }
  assert.ok(errors > 2500, `most random buffers must be reported as bad, got ${errors}`);
  for (const bad of [null, undefined, 'text', 42, {}]) {
    assert.match(decodeRecord('s-1', bad as Buffer).error ?? '', /not a Buffer/);
  }
});

test('inconsistent records are reported', () => {
  const mismatch = decodeRecord('s-8', FIXTURES['s-7']);
  assert.match(mismatch.error ?? '', /packet id 7 does not match the key's 8/);
  assert.equal(mismatch.topic, 'a/b');
  assert.match(decodeRecord('s-9', FIXTURES['sc-9']).error ?? '', /expected a PUBLISH packet, found type 6 \(PUBREL\)/);
  assert.match(decodeRecord('sc-7', FIXTURES['s-7']).error ?? '', /expected a PUBREL packet/);
  assert.match(
    decodeRecord('s-7', Buffer.concat([FIXTURES['s-7'], Buffer.from([1])])).error ?? '',
    /remaining length 12 does not match the 13 bytes/,
  );
  assert.match(
    decodeRecord('c-1', Buffer.concat([FIXTURES['c-1'], Buffer.from([1, 2])])).error ?? '',
    /2 unexpected trailing bytes/,
  );
  assert.match(decodeRecord('c-1', Buffer.concat([int(14), int(1)])).error ?? '', /unknown command type 14/);
  assert.match(
    decodeRecord('c-1', Buffer.concat([int(3), int(1), cstr('t'), int(-5)])).error ?? '',
    /payload length -5 is out of range/,
  );
  assert.match(
    decodeRecord('c-1', Buffer.concat([int(3), int(1), Buffer.from('no-nul')])).error ?? '',
    /no terminating NUL/,
  );
  assert.match(
    decodeRecord('c-3', Buffer.concat([int(8), int(1), int(1e9)])).error ?? '',
    /topic count 1000000000 is out of range/,
  );
  const q0 = publishPacket({ topic: 't', qos: 0, payload: Buffer.from('x') });
  assert.match(decodeRecord('s-1', q0).error ?? '', /QoS 0 PUBLISH/);
  assert.match(
    decodeRecord('r-1', publishPacket({ topic: 't', qos: 1, msgId: 1, payload: Buffer.alloc(0) })).error ?? '',
    /only QoS 2/,
  );
  assert.match(
    decodeRecord('s-1', Buffer.from([0x32, 0xff, 0xff, 0xff, 0xff, 0x01])).error ?? '',
    /longer than 4 bytes/,
  );
  assert.match(decodeRecord('foo', Buffer.alloc(4)).error ?? '', /not a Paho persistence key/);
  assert.match(decodeRecord('c-abc', FIXTURES['c-1']).error ?? '', /does not end in a number/);
  // a v5 record under a v3 key leaves the property block as trailing bytes
  assert.match(decodeRecord('c-2', FIXTURES['c5-2']).error ?? '', /unexpected trailing bytes/);
});

test('byte order of C ints can be chosen (big-endian hosts)', () => {
  const rec = publishCommand({ token: 258, topic: 'be', payload: Buffer.from('xyz'), qos: 1, retained: 0 }, false);
  const d = decodeRecord('c-1', rec, { littleEndian: false });
  assert.equal(d.error, undefined);
  assert.equal(d.token, 258);
  assert.equal(d.payloadSize, 3);
  assert.equal(typeof decodeRecord('c-1', rec, { littleEndian: true }).error, 'string');
});

test('compareRecordKeys: by kind, then by number', () => {
  const keys = ['q-2', 'zzz', 's-10', 'c-10', 's-9', 'sc-1', 'c5-2', 'r-3', 's5-1'];
  assert.deepEqual([...keys].sort(compareRecordKeys), [
    'c5-2',
    'c-10',
    's5-1',
    's-9',
    's-10',
    'sc-1',
    'r-3',
    'q-2',
    'zzz',
  ]);
});

test('strict checks: damaged records and property blocks parsed property by property', () => {
  const err = (key: string, rec: Buffer): string => decodeRecord(key, rec).error ?? '';
  assert.match(err('q-1', Buffer.from('ffffff7f0102', 'hex')), /payload length 2147483647 is out of range/);
  assert.match(
    err('c-1', Buffer.concat([int(3), int(1), cstr('t'), int(-8), int(1), int(0)])),
    /payload length -8 is out of range/,
  );
  const v5 = (props: Buffer): Buffer =>
    publishCommand({ token: 1, topic: 't', payload: Buffer.from('x'), qos: 1, retained: 0, props });
  assert.equal(err('c5-1', v5(PROPS)), '');
  assert.match(err('c5-1', v5(Buffer.from([2, 0x7f, 0]))), /unknown property identifier 127/);
  // a user property whose value length runs past the block
  assert.match(err('c5-1', v5(Buffer.from([5, 0x26, 0, 1, 0x61, 0, 9]))), /truncated/);
  // a 4-byte property cut short by the block length
  assert.match(err('c5-1', v5(Buffer.from([3, 0x02, 0, 0]))), /truncated/);
  // ranges Paho never writes
  assert.match(
    err('c-1', publishCommand({ token: 1, topic: 't', payload: Buffer.alloc(0), qos: 3, retained: 0 })),
    /qos 3 is outside 0..2/,
  );
  assert.match(err('c-1', unsubscribeCommand(1, [])), /no topics/);
  assert.match(err('s-70000', FIXTURES['s-7']), /packet id 70000 is outside/);
  assert.match(err('c-1000000', FIXTURES['c-1']), /not below 1000000/);
  const q = queueEntry({ payload: Buffer.from('p'), qos: 1, retained: 0, dup: 0, msgId: 1, topic: 'ab' });
  int(9).copy(q, q.length - 4);
  assert.match(err('q-1', q), /topic length 9 does not match the topic's 2 bytes/);
});
