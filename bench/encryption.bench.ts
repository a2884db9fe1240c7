/**
 * What encryption at rest adds per stored value: ValueEncryptor's encrypt + decrypt round trip
 * against the bare AES-256-GCM calls it wraps, measured in the same run (the ratio is the
 * overhead of the header, the context binding and the checks).
 *
 *   npm run bench:encryption [-- --values N --bytes B --repeat R]
 */
import * as crypto from 'node:crypto';
import { ValueEncryptor } from '../src/persistence/redis/encryption';
import { benchArgs } from './bench-args';

const values = benchArgs(
  'What encryption at rest adds per stored value (ValueEncryptor against bare AES-256-GCM).',
  {
    values: { type: 'string', default: '20000' },
    bytes: { type: 'string', default: '100' },
    repeat: { type: 'string', default: '5' },
  },
  {
    values: 'values per timed pass',
    bytes: 'bytes per value',
    repeat: 'timed passes',
  },
);
const count = Number(values.values);
const size = Number(values.bytes);
const repeat = Number(values.repeat);
for (const [name, n] of Object.entries({ values: count, bytes: size, repeat })) {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
}

const key = crypto.randomBytes(32);
const context = 'paho:sensor-7:127.0.0.1:1883\0s-7';
const value = crypto.randomBytes(size);
const encryptor = new ValueEncryptor({ key, keyId: 'k1' });

function bareRoundTrip(plain: Buffer): Buffer {
  const iv = crypto.randomBytes(12);
  const aad = Buffer.from(context, 'utf8');
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(aad);
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAAD(aad);
  decipher.setAuthTag(cipher.getAuthTag());
  return Buffer.concat([decipher.update(sealed), decipher.final()]);
}

function encryptorRoundTrip(plain: Buffer): Buffer {
  return encryptor.decrypt(context, encryptor.encrypt(context, plain));
}

/** Microseconds per round trip, one timed pass of `count` values. */
function time(roundTrip: (plain: Buffer) => Buffer): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (roundTrip(value).length !== size) throw new Error('round trip changed the value length');
  }
  return Number(process.hrtime.bigint() - started) / 1e3 / count;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
time(bareRoundTrip); // warm-up
time(encryptorRoundTrip);
const bare: number[] = [];
const wrapped: number[] = [];
for (let r = 0; r < repeat; r++) {
  bare.push(time(bareRoundTrip));
  wrapped.push(time(encryptorRoundTrip));
}
const b = median(bare);
const w = median(wrapped);
console.log(`${count} x ${size} B, median of ${repeat}`);
console.log(`bare AES-256-GCM encrypt+decrypt : ${b.toFixed(2)} us/value (baseline)`);
console.log(`ValueEncryptor encrypt+decrypt   : ${w.toFixed(2)} us/value (${(w / b).toFixed(2)}x baseline)`);
