/**
 * The value layouts of Eclipse Paho MQTT C (MQTTAsync, 1.3.x) persistence records, decoded
 * strictly: a value outside what Paho writes throws DecodeError or sets `error`.
 *
 * Layouts (ints are C `int`: 4 bytes, native byte order; MQTT fields are big-endian):
 * - `s-N`/`s5-N`, `sc-N`/`sc5-N`, `r-N`/`r5-N` (MQTTPersistence_putPacket, read back by
 *   MQTTPersistence_restorePacket): the MQTT packet as sent/received: fixed header byte,
 *   remaining length (variable byte integer), variable header, payload.
 * - `c-N`/`c5-N` (MQTTAsync_persistCommand / MQTTAsync_restoreCommand): int type, int token,
 *   then PUBLISH: topic NUL, int payloadlen, payload, int qos, int retained;
 *   SUBSCRIBE: int count, count x (topic NUL, int qos [, v5: MQTTSubscribe_options, 12 bytes]);
 *   UNSUBSCRIBE: int count, count x topic NUL; v5 keys end with the MQTT 5 property block.
 * - `q-N`/`q5-N` (MQTTPersistence_persistQueueEntry / restoreQueueEntry): int payloadlen,
 *   payload, int qos, int retained, int dup, int msgid, topic NUL, int topicLen [, v5 properties].
 *   (Paho 1.3.12 never actually writes `q5-`: persistQueueEntry keeps MQTTProperties_write's
 *   positive result in rc and then skips pput. Decoded anyway, in case a later release fixes it.)
 */
import type { CommandType, DecodedRecord, RecordKind } from './paho-records';
import { DecodeError, type Reader, checkRange, checkedLength } from './paho-record-reader';

/** MQTT control packet types (MQTTPacket.h `enum msgTypes`). */
const PUBLISH = 3;
const PUBREL = 6;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const COMMAND_TYPES: Record<number, CommandType> = {
  [PUBLISH]: 'PUBLISH',
  [SUBSCRIBE]: 'SUBSCRIBE',
  [UNSUBSCRIBE]: 'UNSUBSCRIBE',
};
/** sizeof(MQTTSubscribe_options): char[4] + int + 3 unsigned char, padded to 4. */
const SUBSCRIBE_OPTIONS_SIZE = 12;
/** Paho's packet ids are 1..65535. */
export const MAX_PACKET_ID = 65535;

const PACKET_NAMES: Record<number, string> = {
  1: 'CONNECT',
  2: 'CONNACK',
  3: 'PUBLISH',
  4: 'PUBACK',
  5: 'PUBREC',
  6: 'PUBREL',
  7: 'PUBCOMP',
  8: 'SUBSCRIBE',
  9: 'SUBACK',
  10: 'UNSUBSCRIBE',
  11: 'UNSUBACK',
  12: 'PINGREQ',
  13: 'PINGRESP',
  14: 'DISCONNECT',
  15: 'AUTH',
};

/** Decodes the value of a record of a known `kind` into `out`; `keyNumber` is the key's suffix. */
export function decodeValue(kind: RecordKind, r: Reader, out: DecodedRecord, keyNumber: number): void {
  switch (kind) {
    case 'sentPublish':
    case 'receivedQoS2':
      decodePacket(r, out, PUBLISH, keyNumber);
      if (out.error === undefined && kind === 'receivedQoS2' && out.qos !== 2) {
        out.error = `QoS ${out.qos} PUBLISH under an r- key: Paho stores only QoS 2 inbound messages`;
      }
      break;
    case 'sentPubrel':
      decodePacket(r, out, PUBREL, keyNumber);
      break;
    case 'command':
      decodeCommand(r, out);
      break;
    case 'undeliveredInbound':
      decodeQueueEntry(r, out);
      break;
  }
}

/** A whole MQTT packet, as MQTTPersistence_putPacket stores it. */
function decodePacket(r: Reader, out: DecodedRecord, expectedType: number, keyNumber: number): void {
  const header = r.u8('fixed header');
  const type = header >> 4;
  const qos = (header >> 1) & 3;
  out.dup = (header & 0x08) !== 0;
  const remainingLength = r.vbi('remaining length');
  if (r.remaining !== remainingLength) {
    // MQTTPersistence_restorePacket drops such a record (and Paho then removes it).
    throw new DecodeError(
      `remaining length ${remainingLength} does not match the ${r.remaining} bytes after the fixed header`,
    );
  }
  if (type !== expectedType) {
    throw new DecodeError(
      `expected a ${PACKET_NAMES[expectedType]} packet, found type ${type} (${PACKET_NAMES[type] ?? 'invalid'})`,
    );
  }
  if (type === PUBLISH) {
    if (qos === 3) throw new DecodeError('PUBLISH with QoS 3 (malformed fixed header)');
    out.qos = qos;
    out.retained = (header & 0x01) !== 0;
    const topicLen = r.u16be('topic length');
    out.topic = r.bytes(topicLen, 'topic').toString('utf8');
    if (qos > 0) out.packetId = r.u16be('packet id');
    if (out.mqtt5) out.propertiesLength = r.properties();
    out.payloadSize = r.remaining;
    out.payload = r.bytes(r.remaining, 'payload');
    if (qos === 0) out.error = 'QoS 0 PUBLISH: Paho never persists these';
  } else {
    // PUBREL: packet id; MQTT 5 may add a reason code and properties (Paho writes neither).
    out.packetId = r.u16be('packet id');
    if (out.mqtt5 && r.remaining > 0) {
      r.u8('reason code');
      if (r.remaining > 0) out.propertiesLength = r.properties();
    }
    if (out.packetId === 0) throw new DecodeError('PUBREL with packet id 0');
  }
  if (out.error === undefined && out.packetId !== undefined && out.packetId !== keyNumber) {
    out.error = `packet id ${out.packetId} does not match the key's ${keyNumber}`;
  }
}

/** int payloadlen, payload, int qos, int retained: a message as both commands and queue entries hold it. */
function decodeMessage(r: Reader, out: DecodedRecord): void {
  const payloadLen = checkedLength(r.int('payload length'), r, 'payload length');
  out.payload = r.bytes(payloadLen, 'payload');
  out.payloadSize = payloadLen;
  out.qos = checkRange(r.int('qos'), 0, 2, 'qos');
  out.retained = checkRange(r.int('retained'), 0, 1, 'retained') !== 0;
}

/** A queued command, as MQTTAsync_persistCommand stores it. */
function decodeCommand(r: Reader, out: DecodedRecord): void {
  const type = r.int('command type');
  out.commandType = COMMAND_TYPES[type] ?? `type ${type}`;
  out.token = r.int('token');
  switch (type) {
    case PUBLISH:
      out.topic = r.cstring('topic');
      if (out.topic.length === 0) throw new DecodeError('PUBLISH command with an empty topic');
      decodeMessage(r, out);
      break;
    case SUBSCRIBE:
    case UNSUBSCRIBE: {
      // each entry takes at least 1 byte (a NUL)
      const count = checkedLength(r.int('topic count'), r, 'topic count');
      if (count === 0) throw new DecodeError(`${COMMAND_TYPES[type]} command with no topics`);
      out.topics = [];
      if (type === SUBSCRIBE) out.qoss = [];
      for (let i = 0; i < count; i++) {
        out.topics.push(r.cstring(`topic ${i}`));
        if (type === SUBSCRIBE) {
          out.qoss!.push(checkRange(r.int(`qos ${i}`), 0, 2, `qos ${i}`));
          if (out.mqtt5) checkSubscribeOptions(r.bytes(SUBSCRIBE_OPTIONS_SIZE, `subscribe options ${i}`), i);
        }
      }
      if (count === 1) {
        out.topic = out.topics[0];
        if (out.qoss) out.qos = out.qoss[0];
      }
      break;
    }
    default:
      throw new DecodeError(`unknown command type ${type} (Paho persists only PUBLISH, SUBSCRIBE and UNSUBSCRIBE)`);
  }
  if (out.mqtt5) out.propertiesLength = r.properties();
}

/** noLocal, retainAsPublished and retainHandling follow the 4-byte id and the int version. */
function checkSubscribeOptions(options: Buffer, i: number): void {
  checkRange(options[8], 0, 1, `subscribe options ${i} noLocal`);
  checkRange(options[9], 0, 1, `subscribe options ${i} retainAsPublished`);
  checkRange(options[10], 0, 2, `subscribe options ${i} retainHandling`);
}

/** An inbound message not yet delivered, as MQTTPersistence_persistQueueEntry stores it. */
function decodeQueueEntry(r: Reader, out: DecodedRecord): void {
  decodeMessage(r, out);
  out.dup = checkRange(r.int('dup'), 0, 1, 'dup') !== 0;
  out.packetId = checkRange(r.int('msgid'), 0, MAX_PACKET_ID, 'msgid');
  const topicStart = r.pos;
  out.topic = r.cstring('topic');
  const topicBytes = r.pos - topicStart - 1;
  const topicLen = r.int('topic length');
  if (out.mqtt5) out.propertiesLength = r.properties();
  // Paho hands topicLen to messageArrived with the topic it copied up to the NUL: a longer
  // length reads past that copy.
  if (topicLen !== topicBytes) out.error = `topic length ${topicLen} does not match the topic's ${topicBytes} bytes`;
}
