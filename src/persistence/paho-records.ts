/**
 * Decodes the records Eclipse Paho MQTT C (MQTTAsync, 1.3.x) writes through its persistence
 * interface: for inspection (CLI, demo) and as the strict check of every record before Paho's
 * restore parses it (restore-check.ts). A record Paho would misread (a length past the end,
 * a property block that does not add up, a packet type the key kind does not hold, a value
 * outside what Paho writes) gets an `error`.
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
 * Validated against bytes captured from Debian's libpaho-mqtt 1.3.12 (see the tests).
 */
import * as os from 'node:os';

export type RecordKind = 'command' | 'sentPublish' | 'sentPubrel' | 'receivedQoS2' | 'undeliveredInbound' | 'unknown';

export interface ParsedKey {
  kind: RecordKind;
  mqtt5: boolean;
  /** Packet id (s-, sc-, r-) or sequence number (c-, q-); null when the suffix is not a number. */
  number: number | null;
}

export type CommandType = 'PUBLISH' | 'SUBSCRIBE' | 'UNSUBSCRIBE';

export interface DecodedRecord {
  kind: RecordKind;
  mqtt5: boolean;
  /** MQTT packet id (s-, sc-, r-: from the packet; q-: the inbound message's id). */
  packetId?: number;
  /** Sequence number from the key (c-, q-). */
  sequence?: number;
  topic?: string;
  /** SUBSCRIBE/UNSUBSCRIBE commands: every topic filter. */
  topics?: string[];
  qos?: number;
  /** SUBSCRIBE commands: the qos of each topic filter. */
  qoss?: number[];
  retained?: boolean;
  dup?: boolean;
  payloadSize?: number;
  /** The message payload (PUBLISH records and queue entries); a view into the value. */
  payload?: Buffer;
  /** A CommandType, or `unknown(N)` for a type Paho does not define. */
  commandType?: string;
  /** Paho's MQTTAsync_token of a queued command. */
  token?: number;
  /** Byte length of the MQTT 5 property block (its length prefix included). */
  propertiesLength?: number;
  /** Set when the record could not be decoded completely; the other fields hold what could. */
  error?: string;
}

export interface DecodeOptions {
  /** Byte order of Paho's C ints; defaults to this machine's. */
  littleEndian?: boolean;
}

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
/** Paho's packet ids are 1..65535; its `c-`/`q-` sequence numbers wrap at PERSISTENCE_SEQNO_LIMIT. */
const MAX_PACKET_ID = 65535;
const SEQUENCE_LIMIT = 1_000_000;

type PropertyType = 'byte' | 'u16' | 'u32' | 'vbi' | 'binary' | 'string' | 'pair';
/** MQTTProperties.c `namesToTypes`: the only identifiers Paho's MQTTProperty_read accepts. */
const PROPERTY_TYPES: Readonly<Record<number, PropertyType>> = {
  1: 'byte', // payload format indicator
  2: 'u32', // message expiry interval
  3: 'string', // content type
  8: 'string', // response topic
  9: 'binary', // correlation data
  11: 'vbi', // subscription identifier
  17: 'u32', // session expiry interval
  18: 'string', // assigned client identifier
  19: 'u16', // server keep alive
  21: 'string', // authentication method
  22: 'binary', // authentication data
  23: 'byte', // request problem information
  24: 'u32', // will delay interval
  25: 'byte', // request response information
  26: 'string', // response information
  28: 'string', // server reference
  31: 'string', // reason string
  33: 'u16', // receive maximum
  34: 'u16', // topic alias maximum
  35: 'u16', // topic alias
  36: 'byte', // maximum qos
  37: 'byte', // retain available
  38: 'pair', // user property
  39: 'u32', // maximum packet size
  40: 'byte', // wildcard subscription available
  41: 'byte', // subscription identifiers available
  42: 'byte', // shared subscription available
};

/** Longest prefixes first, so `sc-` is not mistaken for `s…`. */
const PREFIXES: ReadonlyArray<[string, RecordKind, boolean]> = [
  ['sc5-', 'sentPubrel', true],
  ['sc-', 'sentPubrel', false],
  ['s5-', 'sentPublish', true],
  ['s-', 'sentPublish', false],
  ['r5-', 'receivedQoS2', true],
  ['r-', 'receivedQoS2', false],
  ['c5-', 'command', true],
  ['c-', 'command', false],
  ['q5-', 'undeliveredInbound', true],
  ['q-', 'undeliveredInbound', false],
];

/** Sort order of kinds for listings. */
export const KIND_ORDER: readonly RecordKind[] = [
  'command',
  'sentPublish',
  'sentPubrel',
  'receivedQoS2',
  'undeliveredInbound',
  'unknown',
];

export function parseKey(key: string): ParsedKey {
  for (const [prefix, kind, mqtt5] of PREFIXES) {
    if (key.startsWith(prefix)) {
      const suffix = key.slice(prefix.length);
      const number = /^[0-9]{1,10}$/.test(suffix) ? Number(suffix) : null;
      return { kind, mqtt5, number };
    }
  }
  return { kind: 'unknown', mqtt5: false, number: null };
}

class DecodeError extends Error {}

/** A bounds-checked cursor; every read throws DecodeError past the end. */
class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    private readonly le: boolean,
  ) {}
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new DecodeError(`truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16be(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int(what: string): number {
    this.need(4, what);
    const v = this.le ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** C string: bytes up to a NUL, which is consumed. */
  cstring(what: string): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new DecodeError(`${what}: no terminating NUL after offset ${this.pos}`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  /** MQTT variable byte integer (at most 4 bytes). */
  vbi(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8(what);
      value += (b & 127) * multiplier;
      if ((b & 128) === 0) return value;
      multiplier *= 128;
    }
    throw new DecodeError(`${what}: variable byte integer longer than 4 bytes`);
  }
  /**
   * MQTT 5 property block: VBI length + properties, parsed one by one with Paho's property
   * table; the properties must fill the declared length exactly (MQTTProperties_read otherwise
   * walks past it). Answers the block's total size.
   */
  properties(what = 'properties'): number {
    const start = this.pos;
    const len = this.vbi(`${what} length`);
    const block = new Reader(this.bytes(len, what), this.le);
    for (let i = 0; block.remaining > 0; i++) block.property(`${what}[${i}]`);
    return this.pos - start;
  }
  private property(what: string): void {
    const id = this.u8(`${what} identifier`);
    const type = PROPERTY_TYPES[id];
    if (type === undefined) throw new DecodeError(`${what}: unknown property identifier ${id}`);
    const name = `${what} (property ${id})`;
    switch (type) {
      case 'byte':
        this.u8(name);
        return;
      case 'u16':
        this.u16be(name);
        return;
      case 'u32':
        this.bytes(4, name);
        return;
      case 'vbi':
        this.vbi(name);
        return;
      case 'pair':
        this.bytes(this.u16be(`${name} name length`), `${name} name`);
        this.bytes(this.u16be(`${name} value length`), `${name} value`);
        return;
      default:
        this.bytes(this.u16be(`${name} length`), name);
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Decodes one persisted record. Never throws: problems are reported in `error`, with every
 * field decoded before the problem kept.
 */
export function decodeRecord(key: string, value: Buffer, opts: DecodeOptions = {}): DecodedRecord {
  const parsed = parseKey(String(key));
  const out: DecodedRecord = { kind: parsed.kind, mqtt5: parsed.mqtt5 };
  try {
    const v: unknown = value;
    if (!Buffer.isBuffer(v)) {
      if (v instanceof Uint8Array) value = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      else throw new DecodeError(`value is not a Buffer (${v === null ? 'null' : typeof v})`);
    }
    if (parsed.kind === 'unknown') throw new DecodeError(`not a Paho persistence key: ${JSON.stringify(String(key))}`);
    if (parsed.number === null) throw new DecodeError(`key ${JSON.stringify(key)} does not end in a number`);
    checkKeyNumber(parsed);
    if (parsed.kind === 'command' || parsed.kind === 'undeliveredInbound') out.sequence = parsed.number;
    const r = new Reader(value, opts.littleEndian ?? os.endianness() === 'LE');
    switch (parsed.kind) {
      case 'sentPublish':
      case 'receivedQoS2':
        decodePacket(r, out, PUBLISH, parsed.number);
        if (out.error === undefined && parsed.kind === 'receivedQoS2' && out.qos !== 2) {
          out.error = `QoS ${out.qos} PUBLISH under an r- key: Paho stores only QoS 2 inbound messages`;
        }
        break;
      case 'sentPubrel':
        decodePacket(r, out, PUBREL, parsed.number);
        break;
      case 'command':
        decodeCommand(r, out);
        break;
      case 'undeliveredInbound':
        decodeQueueEntry(r, out);
        break;
    }
    if (out.error === undefined && r.remaining > 0) {
      out.error = `${r.remaining} unexpected trailing bytes at offset ${r.pos}`;
    }
  } catch (err) {
    out.error = err instanceof DecodeError ? err.message : `decode failed: ${message(err)}`;
  }
  return out;
}

/** Paho reads the key suffix with atoi: it must be a packet id, or a sequence number below the wrap. */
function checkKeyNumber(parsed: ParsedKey): void {
  const n = parsed.number!;
  const sequence = parsed.kind === 'command' || parsed.kind === 'undeliveredInbound';
  if (sequence ? n >= SEQUENCE_LIMIT : n < 1 || n > MAX_PACKET_ID) {
    throw new DecodeError(
      sequence
        ? `sequence number ${n} is not below ${SEQUENCE_LIMIT}`
        : `packet id ${n} is outside 1..${MAX_PACKET_ID}`,
    );
  }
}

/** An int field that must hold one of a few values (qos, flags). */
function checkRange(value: number, min: number, max: number, what: string): number {
  if (value < min || value > max) throw new DecodeError(`${what} ${value} is outside ${min}..${max}`);
  return value;
}

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

function checkedLength(n: number, r: Reader, what: string): number {
  if (n < 0 || n > r.remaining) throw new DecodeError(`${what} ${n} is out of range (${r.remaining} bytes left)`);
  return n;
}

/** A queued command, as MQTTAsync_persistCommand stores it. */
function decodeCommand(r: Reader, out: DecodedRecord): void {
  const type = r.int('command type');
  out.commandType = COMMAND_TYPES[type] ?? `type ${type}`;
  out.token = r.int('token');
  switch (type) {
    case PUBLISH: {
      out.topic = r.cstring('topic');
      if (out.topic.length === 0) throw new DecodeError('PUBLISH command with an empty topic');
      const payloadLen = checkedLength(r.int('payload length'), r, 'payload length');
      out.payload = r.bytes(payloadLen, 'payload');
      out.payloadSize = payloadLen;
      out.qos = checkRange(r.int('qos'), 0, 2, 'qos');
      out.retained = checkRange(r.int('retained'), 0, 1, 'retained') !== 0;
      break;
    }
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
  const payloadLen = checkedLength(r.int('payload length'), r, 'payload length');
  out.payload = r.bytes(payloadLen, 'payload');
  out.payloadSize = payloadLen;
  out.qos = checkRange(r.int('qos'), 0, 2, 'qos');
  out.retained = checkRange(r.int('retained'), 0, 1, 'retained') !== 0;
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

/** Orders records for display: by kind (KIND_ORDER), then by key number, then by key. */
export function compareRecordKeys(a: string, b: string): number {
  const pa = parseKey(a);
  const pb = parseKey(b);
  const byKind = KIND_ORDER.indexOf(pa.kind) - KIND_ORDER.indexOf(pb.kind);
  if (byKind !== 0) return byKind;
  const na = pa.number ?? Number.MAX_SAFE_INTEGER;
  const nb = pb.number ?? Number.MAX_SAFE_INTEGER;
  if (na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
