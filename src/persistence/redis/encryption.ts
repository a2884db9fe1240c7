/**
 * Encryption at rest for persisted values: AES-256-GCM, one random 12-byte IV per value.
 *
 * Encrypted format (all lengths in bytes):
 *   magic "PMRS" (4) | version 0x01 (1) | keyId length L (1) | keyId (L, ASCII)
 *   | IV (12) | GCM tag (16) | ciphertext (same length as the plaintext)
 *
 * The additional authenticated data is the header (magic, version, keyId length, keyId)
 * followed by the caller's context (UTF-8): the context names where the value lives
 * (hash name + '\0' + field), so a value copied to another field or hash fails to decrypt.
 *
 * No Paho record can start with the magic: PUBLISH/PUBREL records start with 0x3X/0x6X,
 * commands with a small int type, queue entries with a payload length (0x53524D50 bytes).
 */
import * as crypto from 'node:crypto';
import { PersistenceError, invalidArg } from '../../errors';

const MAGIC = Buffer.from('PMRS', 'latin1');
const VERSION = 1;
const IV_LEN = 12;
const TAG_LEN = 16;
const KEY_LEN = 32;
const ALGORITHM = 'aes-256-gcm';
/** magic + version + keyId length + keyId (>= 1) + IV + tag */
const MIN_ENCRYPTED_LEN = MAGIC.length + 2 + 1 + IV_LEN + TAG_LEN;

export interface ValueEncryptorOptions {
  /** The current key: a 32-byte Buffer. New values are encrypted with it. */
  key: Buffer;
  /** Names the current key inside every encrypted value: 1..255 printable ASCII characters. */
  keyId: string;
  /** Older keys (keyId -> 32-byte key), used only to decrypt values written before a rotation. */
  previousKeys?: Record<string, Buffer>;
}

const KEY_ID_RE = /^[\x21-\x7e]{1,255}$/;

function checkKeyId(keyId: unknown, what: string): string {
  if (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId)) {
    const shown = typeof keyId === 'string' ? `a string of length ${keyId.length}` : typeof keyId;
    throw invalidArg(`${what} must be 1 to 255 printable ASCII characters without spaces, got ${shown}`);
  }
  return keyId;
}

function checkKey(key: unknown, what: string): crypto.KeyObject {
  if (!Buffer.isBuffer(key)) {
    throw invalidArg(`${what} must be a Buffer of ${KEY_LEN} bytes, got ${key === null ? 'null' : typeof key}`);
  }
  if (key.length !== KEY_LEN) {
    throw invalidArg(`${what} must be ${KEY_LEN} bytes (AES-256), got ${key.length} bytes`);
  }
  return crypto.createSecretKey(Buffer.from(key)); // copies: later changes to the caller's buffer don't matter
}

/** True when `buf` has the encrypted-value header (it says nothing about whether it decrypts). */
export function isEncrypted(buf: unknown): boolean {
  if (!Buffer.isBuffer(buf) || buf.length < MIN_ENCRYPTED_LEN) return false;
  if (buf.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return false;
  if (buf[MAGIC.length] !== VERSION) return false;
  const idLen = buf[MAGIC.length + 1];
  return idLen >= 1 && buf.length >= MAGIC.length + 2 + idLen + IV_LEN + TAG_LEN;
}

/** The keyId an encrypted value names, or null when `buf` is not an encrypted value. */
export function encryptedKeyId(buf: Buffer): string | null {
  if (!isEncrypted(buf)) return null;
  const idLen = buf[MAGIC.length + 1];
  return buf.toString('latin1', MAGIC.length + 2, MAGIC.length + 2 + idLen);
}

function fieldOf(context: string): string | undefined {
  const i = context.lastIndexOf('\0');
  return i >= 0 ? context.slice(i + 1) : undefined;
}

export class ValueEncryptor {
  readonly keyId: string;
  private readonly header: Buffer;
  private readonly current: crypto.KeyObject;
  private readonly keys = new Map<string, crypto.KeyObject>();

  constructor(opts: ValueEncryptorOptions) {
    if (opts === null || typeof opts !== 'object') throw invalidArg('ValueEncryptor options must be an object');
    this.keyId = checkKeyId(opts.keyId, 'keyId');
    this.current = checkKey(opts.key, 'key');
    this.keys.set(this.keyId, this.current);
    const prev = opts.previousKeys;
    if (prev !== undefined) {
      if (prev === null || typeof prev !== 'object' || Array.isArray(prev)) {
        throw invalidArg('previousKeys must be an object mapping keyId to a 32-byte Buffer');
      }
      for (const [id, key] of Object.entries(prev)) {
        checkKeyId(id, `previousKeys keyId ${JSON.stringify(id.slice(0, 40))}`);
        const ko = checkKey(key, `previousKeys[${JSON.stringify(id)}]`);
        if (id === this.keyId) {
          if (!ko.equals(this.current)) {
            throw invalidArg(
              `previousKeys[${JSON.stringify(id)}] is a different key under the current keyId; give each key its own keyId`,
            );
          }
          continue;
        }
        this.keys.set(id, ko);
      }
    }
    const idBytes = Buffer.from(this.keyId, 'latin1');
    this.header = Buffer.concat([MAGIC, Buffer.from([VERSION, idBytes.length]), idBytes]);
  }

  /** Encrypts `plain`, binding it to `context` (hash name + '\0' + field key). */
  encrypt(context: string, plain: Buffer): Buffer {
    if (typeof context !== 'string') throw invalidArg(`context must be a string, got ${typeof context}`);
    if (!(plain instanceof Uint8Array))
      throw invalidArg(`value to encrypt must be a Buffer, got ${plain === null ? 'null' : typeof plain}`);
    const h = this.header.length;
    const out = Buffer.allocUnsafe(h + IV_LEN + TAG_LEN + plain.length);
    this.header.copy(out, 0);
    const iv = out.subarray(h, h + IV_LEN);
    crypto.randomFillSync(iv);
    const cipher = crypto.createCipheriv(ALGORITHM, this.current, iv, { authTagLength: TAG_LEN });
    cipher.setAAD(Buffer.concat([this.header, Buffer.from(context, 'utf8')]));
    const body = h + IV_LEN + TAG_LEN;
    let n = cipher.update(plain).copy(out, body);
    n += cipher.final().copy(out, body + n);
    cipher.getAuthTag().copy(out, h + IV_LEN);
    return n === plain.length ? out : out.subarray(0, body + n);
  }

  /**
   * Decrypts a value encrypted for `context`. Throws PersistenceError ERR_PERSISTENCE_DECRYPT when
   * the value is not encrypted, names a keyId this encryptor lacks, or fails authentication (wrong
   * key, tampered bytes, or a value moved from another context).
   */
  decrypt(context: string, encrypted: Buffer): Buffer {
    if (typeof context !== 'string') throw invalidArg(`context must be a string, got ${typeof context}`);
    const field = fieldOf(context);
    const fail = (msg: string, cause?: unknown): PersistenceError =>
      new PersistenceError(
        'ERR_PERSISTENCE_DECRYPT',
        'decrypt',
        field,
        msg,
        cause === undefined ? undefined : { cause },
      );
    if (!Buffer.isBuffer(encrypted))
      throw fail(`cannot decrypt: value is not a Buffer (${encrypted === null ? 'null' : typeof encrypted})`);
    if (!isEncrypted(encrypted)) {
      throw fail(
        `cannot decrypt${field !== undefined ? ` ${JSON.stringify(field)}` : ''}: not an encrypted value (bad header, unsupported version or truncated, ${encrypted.length} bytes)`,
      );
    }
    const idLen = encrypted[MAGIC.length + 1];
    const h = MAGIC.length + 2 + idLen;
    const keyId = encrypted.toString('latin1', MAGIC.length + 2, h);
    const key = this.keys.get(keyId);
    if (key === undefined) {
      throw fail(
        `cannot decrypt${field !== undefined ? ` ${JSON.stringify(field)}` : ''}: it was encrypted with keyId ${JSON.stringify(keyId)}, which is neither the current key (${JSON.stringify(this.keyId)}) nor one of previousKeys`,
      );
    }
    const iv = encrypted.subarray(h, h + IV_LEN);
    const tag = encrypted.subarray(h + IV_LEN, h + IV_LEN + TAG_LEN);
    try {
      const decipher = crypto.createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_LEN });
      decipher.setAAD(Buffer.concat([encrypted.subarray(0, h), Buffer.from(context, 'utf8')]));
      decipher.setAuthTag(tag);
      const first = decipher.update(encrypted.subarray(h + IV_LEN + TAG_LEN));
      const last = decipher.final();
      return last.length === 0 ? first : Buffer.concat([first, last]);
    } catch (err) {
      throw fail(
        `cannot decrypt${field !== undefined ? ` ${JSON.stringify(field)}` : ''} with keyId ${JSON.stringify(keyId)}: authentication failed (wrong key, tampered value, or value moved from another hash/field)`,
        err,
      );
    }
  }
}
