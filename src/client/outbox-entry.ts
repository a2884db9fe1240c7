/**
 * The bytes of one outbox entry (see docs/outbox.md): a format version, so
 * a later release can still read entries an older one wrote, then the message as Paho needs it.
 *
 *   version 2: u8 2 | u8 flags | u48 enqueuedAt (if TIMED) | u48 expiresAt (if EXPIRES)
 *              | u16 topic length | topic (UTF-8) | u16 property count | properties (if PROPERTIES)
 *              | payload (the rest); flags: bits 0-1 qos, RETAINED, TIMED, EXPIRES, PROPERTIES;
 *              times in whole ms on the outbox clock (see outbox-clock.ts). What is absent costs
 *              nothing: a plain message costs 10 bytes beyond topic and payload (Redis keeps the
 *              backlog in memory).
 *   version 1: u8 1 | u8 qos | u8 retained | u16 topic length | topic (UTF-8)
 *              | u16 property count | properties | payload (the rest)
 *
 * A property: u8 id, u8 kind (0 integer u32, 1 string, 2 binary, 3 string pair), then the
 * value: u32, or u32 length + bytes (a pair: two of them).
 */
import { PersistenceError } from '../errors';
import type { NativeProperty } from '../native';

export const OUTBOX_FORMAT_VERSION = 2;
/** Entries of this version have no times: they never expire. */
const TIMELESS_VERSION = 1;

const QOS_MASK = 0x03;
const RETAINED = 0x04;
const TIMED = 0x08;
const EXPIRES = 0x10;
const PROPERTIES = 0x20;
const TIME_BYTES = 6;

export interface OutboxMessage {
  topic: string;
  payload: Buffer;
  qos: number;
  retained: boolean;
  properties?: NativeProperty[];
}

/** When an entry was enqueued and when it expires, in outbox clock ms. */
export interface OutboxTimes {
  enqueuedAt: number;
  /** 0: never. */
  expiresAt: number;
}

/** A decoded entry: the message, and its times (undefined for a version 1 entry). */
export interface OutboxRecord {
  message: OutboxMessage;
  times: OutboxTimes | undefined;
}

function propertyBytes(property: NativeProperty): number {
  const { value } = property;
  if (typeof value === 'number') return 2 + 4;
  if (typeof value === 'string') return 2 + 4 + Buffer.byteLength(value);
  if (Buffer.isBuffer(value)) return 2 + 4 + value.length;
  return 2 + 8 + Buffer.byteLength(value[0]) + Buffer.byteLength(value[1]);
}

/** Times unknown (a record moved at an upgrade): read back as none. */
const NO_TIMES: OutboxTimes = { enqueuedAt: NaN, expiresAt: 0 };

/** A time as stored: whole ms, never negative (u48 holds ~8,900 years). */
const wholeMs = (ms: number): number => Math.max(0, Math.round(ms));

export function encodeOutboxEntry(message: OutboxMessage, times: OutboxTimes = NO_TIMES): Buffer {
  const topicLength = Buffer.byteLength(message.topic);
  const properties = message.properties ?? [];
  const timed = Number.isFinite(times.enqueuedAt);
  const expires = timed && times.expiresAt > 0;
  let flags = message.qos & QOS_MASK;
  if (message.retained) flags |= RETAINED;
  if (timed) flags |= TIMED;
  if (expires) flags |= EXPIRES;
  if (properties.length > 0) flags |= PROPERTIES;
  let size = 2 + (timed ? TIME_BYTES : 0) + (expires ? TIME_BYTES : 0) + 2 + topicLength + message.payload.length;
  if (properties.length > 0) size += 2;
  for (const property of properties) size += propertyBytes(property);
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(OUTBOX_FORMAT_VERSION, 0);
  at = out.writeUInt8(flags, at);
  if (timed) at = out.writeUIntBE(wholeMs(times.enqueuedAt), at, TIME_BYTES);
  if (expires) at = out.writeUIntBE(wholeMs(times.expiresAt), at, TIME_BYTES);
  at = out.writeUInt16BE(topicLength, at);
  at += out.write(message.topic, at);
  if (properties.length > 0) at = out.writeUInt16BE(properties.length, at);
  const text = (value: string): void => {
    at = out.writeUInt32BE(Buffer.byteLength(value), at);
    at += out.write(value, at);
  };
  for (const { id, value } of properties) {
    at = out.writeUInt8(id, at);
    if (typeof value === 'number') {
      at = out.writeUInt8(0, at);
      at = out.writeUInt32BE(value, at);
    } else if (typeof value === 'string') {
      at = out.writeUInt8(1, at);
      text(value);
    } else if (Buffer.isBuffer(value)) {
      at = out.writeUInt8(2, at);
      at = out.writeUInt32BE(value.length, at);
      at += value.copy(out, at);
    } else {
      at = out.writeUInt8(3, at);
      text(value[0]);
      text(value[1]);
    }
  }
  message.payload.copy(out, at);
  return out;
}

function damaged(id: string, why: string): PersistenceError {
  return new PersistenceError('ERR_PERSISTENCE_CORRUPT', 'outboxRead', id, `outbox entry ${id}: ${why}`);
}

/** Reads an entry's message; a damaged one or an unknown format version fails with ERR_PERSISTENCE_CORRUPT. */
export function decodeOutboxEntry(id: string, data: Buffer): OutboxMessage {
  return decodeOutboxRecord(id, data).message;
}

/** Reads an entry with its times (version 1 entries have none). */
export function decodeOutboxRecord(id: string, data: Buffer): OutboxRecord {
  if (data.length < 1) throw damaged(id, 'it is empty');
  const version = data.readUInt8(0);
  if (version !== OUTBOX_FORMAT_VERSION && version !== TIMELESS_VERSION) {
    throw damaged(
      id,
      `format version ${version} is not known to this release (it reads ${TIMELESS_VERSION} and ${OUTBOX_FORMAT_VERSION})`,
    );
  }
  try {
    if (version === TIMELESS_VERSION) {
      const qos = data.readUInt8(1);
      const retained = data.readUInt8(2) === 1;
      return { message: decodeMessage(data, 3, qos, retained, true), times: undefined };
    }
    const flags = data.readUInt8(1);
    let at = 2;
    let times: OutboxTimes | undefined;
    if ((flags & TIMED) !== 0) {
      const enqueuedAt = data.readUIntBE(at, TIME_BYTES);
      at += TIME_BYTES;
      let expiresAt = 0;
      if ((flags & EXPIRES) !== 0) {
        expiresAt = data.readUIntBE(at, TIME_BYTES);
        at += TIME_BYTES;
      }
      times = { enqueuedAt, expiresAt };
    }
    const message = decodeMessage(data, at, flags & QOS_MASK, (flags & RETAINED) !== 0, (flags & PROPERTIES) !== 0);
    return { message, times };
  } catch (e) {
    throw damaged(id, e instanceof Error ? e.message : String(e));
  }
}

/** From the topic length at `start` on; throws a RangeError on damage. */
function decodeMessage(data: Buffer, start: number, qos: number, retained: boolean, counted: boolean): OutboxMessage {
  const topicLength = data.readUInt16BE(start);
  let at = start + 2;
  if (data.length < at + topicLength) throw new RangeError(`${data.length} bytes are too few`);
  const topic = data.toString('utf8', at, at + topicLength);
  at += topicLength;
  let count = 0;
  if (counted) {
    count = data.readUInt16BE(at);
    at += 2;
  }
  const bytes = (): Buffer => {
    const length = data.readUInt32BE(at);
    const value = data.subarray(at + 4, at + 4 + length);
    if (value.length !== length) throw new RangeError('truncated');
    at += 4 + length;
    return value;
  };
  const properties: NativeProperty[] = [];
  for (let i = 0; i < count; i++) {
    const propertyId = data.readUInt8(at);
    const kind = data.readUInt8(at + 1);
    at += 2;
    if (kind === 0) {
      properties.push({ id: propertyId, value: data.readUInt32BE(at) });
      at += 4;
    } else if (kind === 1) {
      properties.push({ id: propertyId, value: bytes().toString('utf8') });
    } else if (kind === 2) {
      properties.push({ id: propertyId, value: Buffer.from(bytes()) });
    } else if (kind === 3) {
      const name = bytes().toString('utf8');
      properties.push({ id: propertyId, value: [name, bytes().toString('utf8')] });
    } else {
      throw new RangeError(`property kind ${kind}`);
    }
  }
  if (qos > 2 || topicLength === 0) throw new RangeError(`qos ${qos}, topic length ${topicLength}`);
  return {
    topic,
    payload: data.subarray(at),
    qos,
    retained,
    properties: properties.length > 0 ? properties : undefined,
  };
}
