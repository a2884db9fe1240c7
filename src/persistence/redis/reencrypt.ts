/** RedisPersistence.reencrypt(): rewriting a hash's values with the current key, each only while unchanged. */
import { type ValueEncryptor, encryptedKeyId } from './encryption';
import { openValue, sealValue } from './stored-values';

/** What reencrypt() did to the hash of the open client. */
export interface ReencryptResult {
  /** Values rewritten with the current key. */
  reencrypted: number;
  /** Values already encrypted with the current key. */
  current: number;
  /** Values changed or removed by someone else while reencrypt() ran (left as they were). */
  skipped: number;
}

/** Sets field ARGV[1] to ARGV[3] only while it still holds ARGV[2] (a compare-and-set for reencrypt). */
export const CAS_SCRIPT =
  "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0";

/** The open hash as reencrypt() uses it; failures come as the store's PersistenceErrors. */
export interface ReencryptTarget {
  name: string;
  encryptor: ValueEncryptor;
  fields(): Promise<string[]>;
  read(field: string): Promise<Buffer | null>;
  /** Runs CAS_SCRIPT: resolves to 1 when the field still held `expected` and now holds `fresh`. */
  compareAndSet(field: string, expected: Buffer, fresh: Buffer): Promise<unknown>;
}

export async function reencryptHash(target: ReencryptTarget, encryptPlaintext: boolean): Promise<ReencryptResult> {
  const { name, encryptor } = target;
  const result: ReencryptResult = { reencrypted: 0, current: 0, skipped: 0 };
  for (const field of await target.fields()) {
    const value = await target.read(field);
    if (value === null) {
      result.skipped += 1;
      continue;
    }
    const keyId = encryptedKeyId(value);
    if (keyId === encryptor.keyId) {
      result.current += 1;
      continue;
    }
    const plain = keyId === null && encryptPlaintext ? value : openValue(encryptor, 'reencrypt', name, field, value);
    const fresh = sealValue(encryptor, name, field, plain);
    if ((await target.compareAndSet(field, value, fresh)) === 1) result.reencrypted += 1;
    else result.skipped += 1;
  }
  return result;
}
