/**
 * Decodes the records Eclipse Paho MQTT C (MQTTAsync, 1.3.x) writes through its persistence
 * interface: for inspection (CLI, demo) and as the strict check of every record before Paho's
 * restore parses it (restore-check.ts). A record Paho would misread (a length past the end,
 * a property block that does not add up, a packet type the key kind does not hold, a value
 * outside what Paho writes) gets an `error`.
 *
 * The value layouts and how each is checked: paho-record-layouts.ts.
 * Validated against bytes captured from Debian's libpaho-mqtt 1.3.12 (see the tests).
 */
import * as os from 'node:os';
import { DecodeError, Reader } from './paho-record-reader';
import { MAX_PACKET_ID, decodeValue } from './paho-record-layouts';

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

/** Paho's `c-`/`q-` sequence numbers wrap at PERSISTENCE_SEQNO_LIMIT. */
export const SEQUENCE_LIMIT = 1_000_000;

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
    decodeValue(parsed.kind, r, out, parsed.number);
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
