/** What both directions of `migrate` share: the checked arguments, the lease, comparing records, output. */
import type { Redis } from 'ioredis';
import { PersistenceError } from '../errors';
import { decodeRecord } from '../persistence/records/paho-records';
import { type ValueEncryptor, isEncrypted } from '../persistence/redis/encryption';
import { ClientLease, DEFAULT_LEASE_TTL_MS, describeLeaseHolder, isStale } from '../persistence/redis/lease';
import { companionKeyName } from '../persistence/redis/options';
import { openValue } from '../persistence/redis/stored-values';
import { type CliIO, UsageError, entries, printable } from './common';
import type { FileRecord } from './file-store';
import { decodeEntries, formatRows } from './inspect';

export interface Migration {
  io: CliIO;
  url: string;
  hash: string;
  clientId: string;
  serverUri: string;
  /** --from-dir or --to-dir. */
  dir: string;
  encryptor: ValueEncryptor | undefined;
  dryRun: boolean;
  removeSource: boolean;
  /** Copy into Redis although the client's marker says it was migrated before. */
  force: boolean;
}

/** Refuses while a live client holds the store's lease; a dry run only looks. */
export async function checkLease(redis: Redis, hash: string): Promise<void> {
  const holder = await redis.get(companionKeyName(hash, 'lease'));
  if (holder !== null && !isStale(holder)) throw runningClient(`its lease is held by ${describeLeaseHolder(holder)}`);
}

/** Takes the store's lease for the copy, so that no client opens the store meanwhile. */
export async function takeLease(redis: Redis, hash: string): Promise<ClientLease> {
  try {
    return await ClientLease.take(redis, companionKeyName(hash, 'lease'), hash, DEFAULT_LEASE_TTL_MS, (p) => p);
  } catch (e) {
    if (e instanceof PersistenceError && e.code === 'ERR_PERSISTENCE_IN_USE') throw runningClient(e.message);
    throw e;
  }
}

function runningClient(why: string): Error {
  return new Error(`refusing: the client is running (${why}); stop it first, nothing was copied`);
}

/** The plaintext of a value of the hash; an encrypted one needs the key. */
export function openField(m: Migration, key: string, value: Buffer): Buffer {
  if (m.encryptor !== undefined) return openValue(m.encryptor, 'migrate', m.hash, key, value);
  if (isEncrypted(value))
    throw new UsageError(
      `hash ${printable(m.hash)} holds encrypted values: give --encryption-key-file and --key-id (the client's encryption key)`,
    );
  return value;
}

/** Every record of `records` is in `target` with the same bytes. */
export function holdsAll(target: FileRecord[], records: FileRecord[]): boolean {
  const byKey = new Map(target.map((r) => [r.key, r.data]));
  return records.every((r) => byKey.get(r.key)?.equals(r.data) === true);
}

export function warnUndecodable(io: CliIO, records: FileRecord[]): void {
  for (const { key, data } of records) {
    const { error } = decodeRecord(key, data);
    if (error !== undefined)
      io.stderr.write(`warning: record ${printable(key)} does not decode (${printable(error)}); copied as it is\n`);
  }
}

export function showPlan(m: Migration, records: FileRecord[], what: string): void {
  m.io.stdout.write(`dry run: would copy ${entries(records.length)} ${what}\n`);
  m.io.stdout.write(formatRows(decodeEntries(m.hash, Object.fromEntries(records.map((r) => [r.key, r.data])))));
}
