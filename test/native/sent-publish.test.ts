/**
 * Messages Paho discards with a lost session (native/client/sent_publish, native/persistence/paho_persistence):
 * the s-N records read back for publishing again, their send order, and the hold on their
 * removes (a remove right after a key listing is Paho discarding its session: the record stays
 * in the store until the message is stored again as a command). End to end:
 * test/integration/session-lost.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingStore } from '../helpers/recording-store';
import { testDriver } from '../helpers/test-driver';
import { StoreBridge } from '../../src/persistence/bridge/store-bridge';
import { waitFor } from '../helpers/wait';

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const str = (s: string): Buffer => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);

/** A PUBLISH as sent on the wire (and stored as s-N): fixed header, remaining length, body. */
function publishPacket(opts: {
  qos: number;
  retained?: boolean;
  msgid: number;
  topic: string;
  payload: string;
  properties?: Buffer;
}): Buffer {
  const header = 0x30 | (opts.qos << 1) | (opts.retained ? 1 : 0);
  const props = opts.properties === undefined ? [] : [Buffer.from([opts.properties.length]), opts.properties];
  const body = Buffer.concat([str(opts.topic), u16(opts.msgid), ...props, Buffer.from(opts.payload)]);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([header, body.length]), body]);
}

// Message expiry (2, four-byte int), content type (3, string), user property (38, pair),
// subscription identifier (11, variable byte int 200), correlation data (9, binary).
const V5_PROPERTIES = Buffer.concat([
  Buffer.from([0x02, 0, 0, 0x0e, 0x10]),
  Buffer.from([0x03]),
  str('text/plain'),
  Buffer.from([0x26]),
  str('n'),
  str('7'),
  Buffer.from([0x0b, 0xc8, 0x01]),
  Buffer.from([0x09]),
  str('id'),
]);

describe('a sent PUBLISH record read back', () => {
  it('MQTT 3.1.1, QoS 1: topic, payload, qos, retained', () => {
    const parsed = testDriver.parseSentPublish(
      's-7',
      publishPacket({ qos: 1, msgid: 7, topic: 'a/b', payload: '#7#' }),
    );
    assert.ok(parsed);
    assert.deepEqual(
      { ...parsed, payload: parsed.payload.toString() },
      { msgid: 7, topic: 'a/b', payload: '#7#', qos: 1, retained: false, properties: [] },
    );
  });

  it('MQTT 5, QoS 2, retained: every property kind', () => {
    const packet = publishPacket({
      qos: 2,
      retained: true,
      msgid: 300 & 0xff,
      topic: 't',
      payload: 'p',
      properties: V5_PROPERTIES,
    });
    const parsed = testDriver.parseSentPublish(`s5-${300 & 0xff}`, packet);
    assert.ok(parsed);
    assert.equal(parsed.qos, 2);
    assert.equal(parsed.retained, true);
    assert.equal(parsed.payload.toString(), 'p');
    assert.deepEqual(
      parsed.properties.map((p) => [p.id, Buffer.isBuffer(p.value) ? p.value.toString() : p.value]),
      [
        [2, 3600],
        [3, 'text/plain'],
        [38, ['n', '7']],
        [11, 200],
        [9, 'id'],
      ],
    );
  });

  it('refuses what is not a QoS 1/2 PUBLISH of the key', () => {
    const good = publishPacket({ qos: 1, msgid: 7, topic: 'a/b', payload: 'x' });
    const cases: [string, string, Buffer][] = [
      ['another packet id', 's-8', good],
      ['not an s- key', 'sc-7', good],
      ['QoS 0', 's-7', publishPacket({ qos: 0, msgid: 7, topic: 'a/b', payload: 'x' })],
      ['a PUBREL', 's-7', Buffer.from([0x62, 2, 0, 7])],
      ['truncated', 's-7', good.subarray(0, good.length - 1)],
      ['a topic past the end', 's-7', Buffer.from([0x32, 4, 0, 9, 0x61, 0x62])],
      [
        'an unknown property',
        's5-7',
        publishPacket({ qos: 1, msgid: 7, topic: 't', payload: '', properties: Buffer.from([0x7f, 0]) }),
      ],
      ['properties past the end', 's5-7', Buffer.from([0x32, 6, 0, 1, 0x74, 0, 7, 9])],
    ];
    for (const [what, key, bytes] of cases) assert.equal(testDriver.parseSentPublish(key, bytes), null, what);
  });
});

describe('send order of discarded messages', () => {
  it('by packet id, the oldest after the widest gap (ids wrap after 65535)', () => {
    assert.deepEqual(testDriver.sendOrder([3, 1, 2]), [1, 2, 3]);
    assert.deepEqual(testDriver.sendOrder([2, 65535, 1, 65534]), [65534, 65535, 1, 2]);
    assert.deepEqual(testDriver.sendOrder([5]), [5]);
    assert.deepEqual(testDriver.sendOrder([]), []);
  });
});

describe('removes of a session Paho discards', () => {
  const open = { op: 'open' as const, clientId: 'discard-driver', serverURI: 'tcp://127.0.0.1:1883' };
  const put = (key: string, msgid: number) => ({
    op: 'put' as const,
    key,
    buffers: [publishPacket({ qos: 1, msgid, topic: 'a/b', payload: `#${msgid}#` })],
  });

  it('holds the removes of sent PUBLISH records right after a key listing; other removes go through', async () => {
    const { store } = recordingStore();
    const bridge = new StoreBridge(store, { onFailure: () => undefined, durability: 'sync' });
    const results = await testDriver.runScript(bridge.native, [
      open,
      { op: 'keys' },
      put('s-1', 1),
      put('s-2', 2),
      put('s-3', 3),
      { op: 'put', key: 'sc-3', buffers: [Buffer.from([0x62, 2, 0, 3])] },
      { op: 'put', key: 'r-9', buffers: [publishPacket({ qos: 2, msgid: 9, topic: 'in', payload: 'x' })] },
      // MQTTAsync_unpersistInflightMessages: the listing, then a remove per in-flight key.
      { op: 'keys' },
      { op: 'remove', key: 's-1' },
      { op: 'remove', key: 's-2' },
      { op: 'remove', key: 's-3' },
      { op: 'remove', key: 'sc-3' },
      { op: 'remove', key: 'r-9' },
      // Not after a listing: a PUBACK's remove.
      put('s-4', 4),
      { op: 'remove', key: 's-4' },
    ]);
    assert.ok(
      results.every((r) => r.rc === 0),
      JSON.stringify(results.map((r) => r.rc)),
    );
    assert.deepEqual(store.keys().sort(), ['s-1', 's-2', 's-3'], 'the discarded PUBLISH records stay stored');
    bridge.close();
  });
});

describe('a sent PUBLISH Paho stores again (its resend)', () => {
  const open = { op: 'open' as const, clientId: 'resend-driver', serverURI: 'tcp://127.0.0.1:1883' };
  const withDup = (packet: Buffer): Buffer => Buffer.concat([Buffer.from([packet[0] | 0x08]), packet.subarray(1)]);

  it('stores a resend that sets DUP; keeps the record stored first when the resend changes the message, and reports it', async () => {
    const { store } = recordingStore();
    const failures: string[] = [];
    const bridge = new StoreBridge(store, {
      onFailure: (error) => failures.push(`${error.code} ${error.op} ${error.key}`),
      durability: 'sync',
    });
    const sound = publishPacket({ qos: 1, msgid: 3, topic: 'a/b', payload: 'q1-b' });
    // What Paho 1.3.12 resent after a failed first write: its topic and payload memory freed and reused.
    const garbled = withDup(
      publishPacket({ qos: 1, msgid: 3, topic: ' 093229.262 Return code 1 fr', payload: '\0\0\0\0' }),
    );
    const results = await testDriver.runScript(bridge.native, [
      open,
      { op: 'put', key: 's-3', buffers: [sound] },
      { op: 'put', key: 's-3', buffers: [withDup(sound)] },
      { op: 'put', key: 's-3', buffers: [garbled] },
    ]);
    assert.deepEqual(
      results.map((r) => r.rc),
      [0, 0, 0, 0],
    );
    assert.deepEqual(store.get('s-3'), withDup(sound), 'the sound record, with DUP set by the first resend');
    await waitFor(() => failures.length === 1, 'the garbled resend reported');
    assert.deepEqual(failures, ['ERR_PERSISTENCE_BAD_RESULT put s-3']);
    bridge.close();
  });
});
