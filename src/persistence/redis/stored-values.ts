/**
 * The values RedisPersistence stores: with options.encryption, each is encrypted with the place
 * it lives as context (hash name + NUL + field), so a value copied elsewhere does not decrypt.
 */
import { PersistenceError } from '../../errors';
import { type ValueEncryptor, encryptedKeyId } from './encryption';

/** The value to store in field `key` of hash `name`: `data`, encrypted when there is a key. */
export function sealValue(encryptor: ValueEncryptor | undefined, name: string, key: string, data: Buffer): Buffer {
  return encryptor !== undefined ? encryptor.encrypt(`${name}\0${key}`, data) : data;
}

/**
 * What get() answers for field `key` of hash `name` read as `value`: its plaintext, or
 * ERR_PERSISTENCE_NO_SUCH_KEY when the field is missing.
 */
export function storedValue(
  encryptor: ValueEncryptor | undefined,
  name: string,
  key: string,
  value: Buffer | null,
): Buffer {
  if (value === null) {
    throw new PersistenceError(
      'ERR_PERSISTENCE_NO_SUCH_KEY',
      'get',
      key,
      `no such key: '${key}' in Redis hash '${name}'`,
    );
  }
  return encryptor !== undefined ? openValue(encryptor, 'get', name, key, value) : value;
}

/**
 * The plaintext of a value read from field `key` of hash `name`; one that no configured key
 * opens fails with ERR_PERSISTENCE_DECRYPT, saying what to check.
 */
export function openValue(encryptor: ValueEncryptor, op: string, name: string, key: string, value: Buffer): Buffer {
  try {
    return encryptor.decrypt(`${name}\0${key}`, value);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const plaintext =
      encryptedKeyId(value) === null
        ? ' (a value written before encryption was enabled can be encrypted with reencrypt({ encryptPlaintext: true }))'
        : '';
    throw new PersistenceError(
      'ERR_PERSISTENCE_DECRYPT',
      op,
      key,
      `RedisPersistence.${op}: cannot decrypt key '${key}' in hash '${name}' (${why}). The value was left in Redis untouched; ` +
        `check options.encryption (key, keyId, previousKeys)${plaintext}`,
      { cause: e },
    );
  }
}
