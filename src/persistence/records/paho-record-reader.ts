/**
 * Reading Paho's persisted records safely: a bounds-checked cursor over the value (C ints,
 * MQTT big-endian fields, C strings, variable byte integers, MQTT 5 property blocks) and the
 * range checks; every violation throws DecodeError.
 */

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

/** A record Paho would misread; its message becomes DecodedRecord.error. */
export class DecodeError extends Error {}

/** A bounds-checked cursor; every read throws DecodeError past the end. */
export class Reader {
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

/** An int field that must hold one of a few values (qos, flags). */
export function checkRange(value: number, min: number, max: number, what: string): number {
  if (value < min || value > max) throw new DecodeError(`${what} ${value} is outside ${min}..${max}`);
  return value;
}

/** A count or length read from the record: it cannot exceed the bytes that are left. */
export function checkedLength(n: number, r: Reader, what: string): number {
  if (n < 0 || n > r.remaining) throw new DecodeError(`${what} ${n} is out of range (${r.remaining} bytes left)`);
  return n;
}
