import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { ValueEncryptor, isEncrypted, encryptedKeyId } from '../../src/persistence/redis/encryption';
import { PersistenceError, PahoMqttRedisError } from '../../src/errors';

const KEY_A = crypto.randomBytes(32);
const KEY_B = crypto.randomBytes(32);
const CTX = 'paho:client-1:tcp://127.0.0.1:1883\0s-7';

function isDecryptError(re?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PersistenceError, `expected PersistenceError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_PERSISTENCE_DECRYPT');
    if (re) assert.match(err.message, re);
    for (const k of [KEY_A, KEY_B]) {
      assert.ok(
        !err.message.includes(k.toString('hex')) && !err.message.includes(k.toString('base64')),
        'message must not contain a key',
      );
    }
    return true;
  };
}

test('round trip: text, binary, empty and large values', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'k1' });
  const values = [
    Buffer.from('hello'),
    Buffer.from([0, 255, 0, 1, 2, 0]),
    Buffer.alloc(0),
    crypto.randomBytes(1 << 20),
  ];
  for (const v of values) {
    const encrypted = s.encrypt(CTX, v);
    assert.ok(isEncrypted(encrypted));
    assert.equal(encryptedKeyId(encrypted), 'k1');
    assert.equal(encrypted.length, 4 + 1 + 1 + 2 + 12 + 16 + v.length, 'header + keyId + IV + tag + ciphertext');
    if (v.length >= 16)
      assert.equal(encrypted.indexOf(v.subarray(0, 16)), -1, 'plaintext must not appear in the encrypted value');
    assert.deepEqual(s.decrypt(CTX, encrypted), v);
  }
});

test('the layout: magic, version, keyId length, keyId, IV, tag, ciphertext', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'key-2024' });
  const encrypted = s.encrypt(CTX, Buffer.from('abc'));
  assert.equal(encrypted.toString('latin1', 0, 4), 'PMRS');
  assert.equal(encrypted[4], 1);
  assert.equal(encrypted[5], 8);
  assert.equal(encrypted.toString('latin1', 6, 14), 'key-2024');
  const iv = encrypted.subarray(14, 26);
  const tag = encrypted.subarray(26, 42);
  const d = crypto.createDecipheriv('aes-256-gcm', KEY_A, iv);
  d.setAAD(Buffer.concat([encrypted.subarray(0, 14), Buffer.from(CTX)]));
  d.setAuthTag(tag);
  assert.equal(Buffer.concat([d.update(encrypted.subarray(42)), d.final()]).toString(), 'abc');
});

test('a fresh IV per value: encryption the same value twice gives different bytes', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'k1' });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(s.encrypt(CTX, Buffer.from('same')).subarray(8, 20).toString('hex'));
  assert.equal(seen.size, 200);
});

test('wrong key under the same keyId -> ERR_PERSISTENCE_DECRYPT naming the keyId', () => {
  const encrypted = new ValueEncryptor({ key: KEY_A, keyId: 'k1' }).encrypt(CTX, Buffer.from('secret'));
  const other = new ValueEncryptor({ key: KEY_B, keyId: 'k1' });
  assert.throws(() => other.decrypt(CTX, encrypted), isDecryptError(/keyId "k1".*authentication failed/));
  try {
    other.decrypt(CTX, encrypted);
  } catch (err) {
    assert.equal((err as PersistenceError).op, 'decrypt');
    assert.equal((err as PersistenceError).key, 's-7', 'the field is taken from the context');
  }
});

test('unknown keyId -> ERR_PERSISTENCE_DECRYPT naming both keyIds', () => {
  const encrypted = new ValueEncryptor({ key: KEY_A, keyId: 'old' }).encrypt(CTX, Buffer.from('x'));
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'new' });
  assert.throws(
    () => s.decrypt(CTX, encrypted),
    isDecryptError(/keyId "old", which is neither the current key \("new"\)/),
  );
});

test('a value moved to another field or hash fails to decrypt', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'k1' });
  const encrypted = s.encrypt(CTX, Buffer.from('payload'));
  assert.throws(() => s.decrypt('paho:client-1:tcp://127.0.0.1:1883\0s-8', encrypted), isDecryptError(/"s-8"/));
  assert.throws(() => s.decrypt('paho:client-2:tcp://127.0.0.1:1883\0s-7', encrypted), isDecryptError());
  assert.throws(() => s.decrypt('', encrypted), isDecryptError());
});

test('any tampered byte is detected', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'k1' });
  const encrypted = s.encrypt(CTX, Buffer.from('tamper me please'));
  for (let i = 0; i < encrypted.length; i++) {
    const t = Buffer.from(encrypted);
    t[i] ^= 0x01;
    assert.throws(() => s.decrypt(CTX, t), isDecryptError(), `byte ${i}`);
  }
  assert.throws(() => s.decrypt(CTX, encrypted.subarray(0, encrypted.length - 1)), isDecryptError());
  assert.throws(() => s.decrypt(CTX, Buffer.concat([encrypted, Buffer.from([0])])), isDecryptError());
});

test('non-encrypted input -> ERR_PERSISTENCE_DECRYPT; isEncrypted rejects Paho records', () => {
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'k1' });
  assert.throws(
    () => s.decrypt(CTX, Buffer.from([0x32, 0x05, 0, 1, 0x61, 0, 7])),
    isDecryptError(/not an encrypted value/),
  );
  assert.throws(() => s.decrypt(CTX, Buffer.alloc(0)), isDecryptError(/not an encrypted value/));
  assert.throws(() => s.decrypt(CTX, 'str' as unknown as Buffer), isDecryptError(/not a Buffer/));
  assert.equal(isEncrypted(Buffer.from([0x62, 0x02, 0, 9])), false);
  assert.equal(isEncrypted(Buffer.alloc(100)), false);
  assert.equal(isEncrypted('PMRS'), false);
  const encrypted = s.encrypt(CTX, Buffer.from('v'));
  const v2 = Buffer.from(encrypted);
  v2[4] = 2;
  assert.equal(isEncrypted(v2), false, 'unknown format version');
  assert.equal(encryptedKeyId(Buffer.from('nope')), null);
});

test('rotation: the new key encrypts, previous keys still decrypt old values', () => {
  const oldEncryptor = new ValueEncryptor({ key: KEY_A, keyId: '2023' });
  const oldValue = oldEncryptor.encrypt(CTX, Buffer.from('written before rotation'));
  const rotated = new ValueEncryptor({ key: KEY_B, keyId: '2024', previousKeys: { '2023': KEY_A } });
  assert.equal(rotated.decrypt(CTX, oldValue).toString(), 'written before rotation');
  const newValue = rotated.encrypt(CTX, Buffer.from('after'));
  assert.equal(encryptedKeyId(newValue), '2024');
  assert.equal(rotated.decrypt(CTX, newValue).toString(), 'after');
  assert.throws(() => oldEncryptor.decrypt(CTX, newValue), isDecryptError(/"2024"/));
  // the current key may be repeated in previousKeys when it is the same key
  assert.doesNotThrow(
    () => new ValueEncryptor({ key: KEY_B, keyId: '2024', previousKeys: { '2024': KEY_B, '2023': KEY_A } }),
  );
});

test("the key is copied: changing the caller's buffer later changes nothing", () => {
  const key = Buffer.from(KEY_A);
  const s = new ValueEncryptor({ key, keyId: 'k1' });
  const encrypted = s.encrypt(CTX, Buffer.from('v'));
  key.fill(0);
  assert.equal(s.decrypt(CTX, encrypted).toString(), 'v');
  assert.equal(new ValueEncryptor({ key: KEY_A, keyId: 'k1' }).decrypt(CTX, encrypted).toString(), 'v');
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
    assert.throws(
      () => new ValueEncryptor(opts as never),
      (err: unknown) => {
        assert.ok(err instanceof PahoMqttRedisError);
        assert.equal(err.code, 'ERR_INVALID_ARG');
        assert.match(err.message, re);
        assert.ok(!err.message.includes(KEY_A.toString('hex')));
        return true;
      },
      String(re),
    );
  }
  const s = new ValueEncryptor({ key: KEY_A, keyId: 'x'.repeat(255) });
  assert.equal(encryptedKeyId(s.encrypt(CTX, Buffer.from('v'))), 'x'.repeat(255));
  assert.throws(() => s.encrypt(CTX, 'text' as unknown as Buffer), /must be a Buffer/);
  assert.throws(() => s.encrypt(5 as unknown as string, Buffer.from('v')), /context must be a string/);
});
