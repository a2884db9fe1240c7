import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { ValueSealer, isSealed, sealedKeyId } from '../src/sealing';
import { PersistenceError, PahoMqttRedisError } from '../src/errors';

const KEY_A = crypto.randomBytes(32);
const KEY_B = crypto.randomBytes(32);
const CTX = 'paho:client-1:tcp://127.0.0.1:1883\0s-7';

function isDecryptError(re?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PersistenceError, `expected PersistenceError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_PERSISTENCE_DECRYPT');
    if (re) assert.match(err.message, re);
    for (const k of [KEY_A, KEY_B]) {
      assert.ok(!err.message.includes(k.toString('hex')) && !err.message.includes(k.toString('base64')), 'message must not contain a key');
    }
    return true;
  };
}

test('round trip: text, binary, empty and large values', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  const values = [Buffer.from('hello'), Buffer.from([0, 255, 0, 1, 2, 0]), Buffer.alloc(0), crypto.randomBytes(1 << 20)];
  for (const v of values) {
    const sealed = s.seal(CTX, v);
    assert.ok(isSealed(sealed));
    assert.equal(sealedKeyId(sealed), 'k1');
    assert.equal(sealed.length, 4 + 1 + 1 + 2 + 12 + 16 + v.length, 'header + keyId + IV + tag + ciphertext');
    if (v.length >= 16) assert.equal(sealed.indexOf(v.subarray(0, 16)), -1, 'plaintext must not appear in the sealed value');
    assert.deepEqual(s.unseal(CTX, sealed), v);
  }
});

test('the layout: magic, version, keyId length, keyId, IV, tag, ciphertext', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'key-2024' });
  const sealed = s.seal(CTX, Buffer.from('abc'));
  assert.equal(sealed.toString('latin1', 0, 4), 'PMRS');
  assert.equal(sealed[4], 1);
  assert.equal(sealed[5], 8);
  assert.equal(sealed.toString('latin1', 6, 14), 'key-2024');
  const iv = sealed.subarray(14, 26);
  const tag = sealed.subarray(26, 42);
  const d = crypto.createDecipheriv('aes-256-gcm', KEY_A, iv);
  d.setAAD(Buffer.concat([sealed.subarray(0, 14), Buffer.from(CTX)]));
  d.setAuthTag(tag);
  assert.equal(Buffer.concat([d.update(sealed.subarray(42)), d.final()]).toString(), 'abc');
});

test('a fresh IV per value: sealing the same value twice gives different bytes', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(s.seal(CTX, Buffer.from('same')).subarray(8, 20).toString('hex'));
  assert.equal(seen.size, 200);
});

test('wrong key under the same keyId -> ERR_PERSISTENCE_DECRYPT naming the keyId', () => {
  const sealed = new ValueSealer({ key: KEY_A, keyId: 'k1' }).seal(CTX, Buffer.from('secret'));
  const other = new ValueSealer({ key: KEY_B, keyId: 'k1' });
  assert.throws(() => other.unseal(CTX, sealed), isDecryptError(/keyId "k1".*authentication failed/));
  try { other.unseal(CTX, sealed); } catch (err) {
    assert.equal((err as PersistenceError).op, 'unseal');
    assert.equal((err as PersistenceError).key, 's-7', 'the field is taken from the context');
  }
});

test('unknown keyId -> ERR_PERSISTENCE_DECRYPT naming both keyIds', () => {
  const sealed = new ValueSealer({ key: KEY_A, keyId: 'old' }).seal(CTX, Buffer.from('x'));
  const s = new ValueSealer({ key: KEY_A, keyId: 'new' });
  assert.throws(() => s.unseal(CTX, sealed), isDecryptError(/keyId "old", which is neither the current key \("new"\)/));
});

test('a value moved to another field or hash fails to unseal', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  const sealed = s.seal(CTX, Buffer.from('payload'));
  assert.throws(() => s.unseal('paho:client-1:tcp://127.0.0.1:1883\0s-8', sealed), isDecryptError(/"s-8"/));
  assert.throws(() => s.unseal('paho:client-2:tcp://127.0.0.1:1883\0s-7', sealed), isDecryptError());
  assert.throws(() => s.unseal('', sealed), isDecryptError());
});

test('any tampered byte is detected', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  const sealed = s.seal(CTX, Buffer.from('tamper me please'));
  for (let i = 0; i < sealed.length; i++) {
    const t = Buffer.from(sealed);
    t[i] ^= 0x01;
    assert.throws(() => s.unseal(CTX, t), isDecryptError(), `byte ${i}`);
  }
  assert.throws(() => s.unseal(CTX, sealed.subarray(0, sealed.length - 1)), isDecryptError());
  assert.throws(() => s.unseal(CTX, Buffer.concat([sealed, Buffer.from([0])])), isDecryptError());
});

test('non-sealed input -> ERR_PERSISTENCE_DECRYPT; isSealed rejects Paho records', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  assert.throws(() => s.unseal(CTX, Buffer.from([0x32, 0x05, 0, 1, 0x61, 0, 7])), isDecryptError(/not a sealed value/));
  assert.throws(() => s.unseal(CTX, Buffer.alloc(0)), isDecryptError(/not a sealed value/));
  assert.throws(() => s.unseal(CTX, 'str' as unknown as Buffer), isDecryptError(/not a Buffer/));
  assert.equal(isSealed(Buffer.from([0x62, 0x02, 0, 9])), false);
  assert.equal(isSealed(Buffer.alloc(100)), false);
  assert.equal(isSealed('PMRS' as unknown), false);
  const sealed = s.seal(CTX, Buffer.from('v'));
  const v2 = Buffer.from(sealed); v2[4] = 2;
  assert.equal(isSealed(v2), false, 'unknown format version');
  assert.equal(sealedKeyId(Buffer.from('nope')), null);
});

test('rotation: the new key seals, previous keys still unseal old values', () => {
  const oldSealer = new ValueSealer({ key: KEY_A, keyId: '2023' });
  const oldValue = oldSealer.seal(CTX, Buffer.from('written before rotation'));
  const rotated = new ValueSealer({ key: KEY_B, keyId: '2024', previousKeys: { '2023': KEY_A } });
  assert.equal(rotated.unseal(CTX, oldValue).toString(), 'written before rotation');
  const newValue = rotated.seal(CTX, Buffer.from('after'));
  assert.equal(sealedKeyId(newValue), '2024');
  assert.equal(rotated.unseal(CTX, newValue).toString(), 'after');
  assert.throws(() => oldSealer.unseal(CTX, newValue), isDecryptError(/"2024"/));
  // the current key may be repeated in previousKeys when it is the same key
  assert.doesNotThrow(() => new ValueSealer({ key: KEY_B, keyId: '2024', previousKeys: { '2024': KEY_B, '2023': KEY_A } }));
});

test('the key is copied: changing the caller\'s buffer later changes nothing', () => {
  const key = Buffer.from(KEY_A);
  const s = new ValueSealer({ key, keyId: 'k1' });
  const sealed = s.seal(CTX, Buffer.from('v'));
  key.fill(0);
  assert.equal(s.unseal(CTX, sealed).toString(), 'v');
  assert.equal(new ValueSealer({ key: KEY_A, keyId: 'k1' }).unseal(CTX, sealed).toString(), 'v');
});

test('bad options are refused with clear ERR_INVALID_ARG messages', () => {
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /options must be an object/],
    [{ key: KEY_A }, /keyId must be 1 to 255 printable ASCII/],
    [{ key: KEY_A, keyId: '' }, /keyId must be 1 to 255/],
    [{ key: KEY_A, keyId: 'x'.repeat(256) }, /keyId must be 1 to 255/],
    [{ key: KEY_A, keyId: 'clé' }, /printable ASCII/],
    [{ key: KEY_A, keyId: 'a b' }, /printable ASCII/],
    [{ key: KEY_A.subarray(0, 16), keyId: 'k' }, /key must be 32 bytes \(AES-256\), got 16 bytes/],
    [{ key: KEY_A.toString('hex'), keyId: 'k' }, /key must be a Buffer of 32 bytes, got string/],
    [{ key: KEY_A, keyId: 'k', previousKeys: { old: Buffer.alloc(31) } }, /previousKeys\["old"\] must be 32 bytes/],
    [{ key: KEY_A, keyId: 'k', previousKeys: { 'bad id': KEY_B } }, /previousKeys keyId/],
    [{ key: KEY_A, keyId: 'k', previousKeys: { k: KEY_B } }, /different key under the current keyId/],
    [{ key: KEY_A, keyId: 'k', previousKeys: [KEY_B] }, /previousKeys must be an object/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => new ValueSealer(opts as never), (err: unknown) => {
      assert.ok(err instanceof PahoMqttRedisError);
      assert.equal(err.code, 'ERR_INVALID_ARG');
      assert.match(err.message, re);
      assert.ok(!err.message.includes(KEY_A.toString('hex')));
      return true;
    }, String(re));
  }
  const s = new ValueSealer({ key: KEY_A, keyId: 'x'.repeat(255) });
  assert.equal(sealedKeyId(s.seal(CTX, Buffer.from('v'))), 'x'.repeat(255));
  assert.throws(() => s.seal(CTX, 'text' as unknown as Buffer), /must be a Buffer/);
  assert.throws(() => s.seal(5 as unknown as string, Buffer.from('v')), /context must be a string/);
});

test('fast enough: 20k seal+unseal of a 100-byte value well under 2 s', () => {
  const s = new ValueSealer({ key: KEY_A, keyId: 'k1' });
  const v = crypto.randomBytes(100);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) s.unseal(CTX, s.seal(CTX, v));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
});
