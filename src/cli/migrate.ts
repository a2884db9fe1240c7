/**
 * `migrate`: moves one client's records between Paho's file store (`persistence: { dir }`) and
 * its RedisPersistence hash, in either direction (see docs/persistence.md, "Migrating from
 * Paho's file store"). The records are copied byte for byte (Paho's own record bytes; into
 * Redis with the hash's envelope, encrypted when a key is given), all or nothing, while the
 * client's lease is held so no client opens the store meanwhile. Running it again after a
 * crash is safe: a target that already holds exactly the source's records counts as done.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Redis } from 'ioredis';
import { PersistenceError } from '../errors';
import { decodeRecord } from '../persistence/records/paho-records';
import type { ValueEncryptor } from '../persistence/redis/encryption';
import { isEncrypted } from '../persistence/redis/encryption';
import { ClientLease, DEFAULT_LEASE_TTL_MS, describeLeaseHolder, isStale } from '../persistence/redis/lease';
import { companionKeyName } from '../persistence/redis/options';
import { outboxKeyName } from '../persistence/redis/outbox-stream';
import { openValue, sealValue } from '../persistence/redis/stored-values';
import {
  CONNECTION_OPTIONS,
  type CliIO,
  UsageError,
  type Values,
  entries,
  parse,
  printable,
  redisUrl,
  targetHash,
  withRedis,
} from './common';
import {
  type FileRecord,
  RECORD_EXTENSION,
  clientDirName,
  readClientStore,
  recordKeyOf,
  removeClientRecords,
  writeClientStore,
} from './file-store';
import { MIGRATE_HELP } from './help';
import { decodeEntries, encryptorOption, formatRows } from './inspect';

/** Fields per HSET inside the one transaction that writes the hash. */
const FIELDS_PER_HSET = 1000;

interface Migration {
  io: CliIO;
  url: string;
  hash: string;
  clientId: string;
  serverUri: string;
  dir: string;
  encryptor: ValueEncryptor | undefined;
  dryRun: boolean;
  removeSource: boolean;
  /** Copy into Redis although the client's marker says it was migrated before. */
  force: boolean;
}

/** What the marker `{hash}:migrated` records of the last copy into Redis. */
interface MigratedMarker {
  from: string;
  records: number;
  at: string;
}

export async function migrateCommand(args: string[], io: CliIO): Promise<number> {
  const v = parse(args, {
    ...CONNECTION_OPTIONS,
    'from-dir': { type: 'string' },
    'to-dir': { type: 'string' },
    'remove-source': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    force: { type: 'boolean' },
    'encryption-key-file': { type: 'string' },
    'key-id': { type: 'string' },
  });
  if (v.help) {
    io.stdout.write(MIGRATE_HELP);
    return 0;
  }
  const migration = checkedArgs(v, io);
  return v['from-dir'] !== undefined ? toRedis(migration) : toDir(migration);
}

function checkedArgs(v: Values, io: CliIO): Migration {
  const fromDir = v['from-dir'] as string | undefined;
  const toDir = v['to-dir'] as string | undefined;
  if ((fromDir === undefined) === (toDir === undefined))
    throw new UsageError('give --from-dir (file store -> Redis) or --to-dir (Redis -> file store)');
  if (v.hash !== undefined)
    throw new UsageError("give --client-id and --server-uri, not --hash: they name the client's directory too");
  const dir = (fromDir ?? toDir)!;
  if (dir === '') throw new UsageError(`${fromDir !== undefined ? '--from-dir' : '--to-dir'} must not be empty`);
  if (v['dry-run'] && v['remove-source']) throw new UsageError('--dry-run cannot be combined with --remove-source');
  if (v.force && toDir !== undefined) throw new UsageError('--force goes with --from-dir only');
  const url = redisUrl(v);
  const hash = targetHash(v);
  return {
    io,
    url,
    hash,
    clientId: v['client-id'] as string,
    serverUri: v['server-uri'] as string,
    dir,
    encryptor: encryptorOption(v),
    dryRun: v['dry-run'] === true,
    removeSource: v['remove-source'] === true,
    force: v.force === true,
  };
}

/** Refuses while a live client holds the store's lease; a dry run only looks. */
async function checkLease(redis: Redis, hash: string): Promise<void> {
  const holder = await redis.get(companionKeyName(hash, 'lease'));
  if (holder !== null && !isStale(holder)) throw runningClient(`its lease is held by ${describeLeaseHolder(holder)}`);
}

/** Takes the store's lease for the copy, so that no client opens the store meanwhile. */
async function takeLease(redis: Redis, hash: string): Promise<ClientLease> {
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

/** The plaintext of each field of a hash; an encrypted one needs the key. */
function openHash(m: Migration, stored: Record<string, Buffer>): FileRecord[] {
  return Object.entries(stored).map(([key, value]) => {
    if (m.encryptor !== undefined) return { key, data: openValue(m.encryptor, 'migrate', m.hash, key, value) };
    if (isEncrypted(value))
      throw new UsageError(
        `hash ${printable(m.hash)} holds encrypted values: give --encryption-key-file and --key-id (the client's encryption key)`,
      );
    return { key, data: value };
  });
}

/** Every record of `records` is in `target` with the same bytes. */
function holdsAll(target: FileRecord[], records: FileRecord[]): boolean {
  const byKey = new Map(target.map((r) => [r.key, r.data]));
  return records.every((r) => byKey.get(r.key)?.equals(r.data) === true);
}

function warnUndecodable(io: CliIO, records: FileRecord[]): void {
  for (const { key, data } of records) {
    const { error } = decodeRecord(key, data);
    if (error !== undefined)
      io.stderr.write(`warning: record ${printable(key)} does not decode (${printable(error)}); copied as it is\n`);
  }
}

function showPlan(m: Migration, records: FileRecord[], what: string): void {
  m.io.stdout.write(`dry run: would copy ${entries(records.length)} ${what}\n`);
  m.io.stdout.write(formatRows(decodeEntries(m.hash, Object.fromEntries(records.map((r) => [r.key, r.data])))));
}

async function toRedis(m: Migration): Promise<number> {
  const { io, hash } = m;
  const clientDir = path.join(m.dir, clientDirName(m.clientId, m.serverUri));
  const records = readClientStore(m.dir, m.clientId, m.serverUri);
  if (records.length === 0) {
    io.stdout.write(`nothing to migrate: ${printable(clientDir)} holds no records\n`);
    if (m.removeSource) removeClientRecords(m.dir, m.clientId, m.serverUri, []);
    return 0;
  }
  warnUndecodable(io, records);
  const outbox = outboxKeyName(hash);
  const markerKey = companionKeyName(hash, 'migrated');
  const copied = await withRedis(m.url, async (redis) => {
    if (m.dryRun) await checkLease(redis, hash);
    const lease = m.dryRun ? undefined : await takeLease(redis, hash);
    try {
      // Refused below, or written in one MULTI that WATCH voids if anything else wrote meanwhile.
      await redis.watch(hash, outbox, markerKey);
      const [stored, queued, marker] = await Promise.all([
        redis.hgetallBuffer(hash),
        redis.xlen(outbox),
        redis.get(markerKey),
      ]);
      if (Object.keys(stored).length > 0 && holdsAll(openHash(m, stored), records)) {
        io.stdout.write(
          `already copied: hash ${printable(hash)} holds the ${entries(records.length)} of ${printable(clientDir)}\n`,
        );
        return false;
      }
      if (Object.keys(stored).length > 0 || queued > 0) {
        const held = [
          Object.keys(stored).length > 0 ? `hash ${printable(hash)} holds ${entries(Object.keys(stored).length)}` : '',
          queued > 0 ? `outbox ${printable(outbox)} holds ${queued} enqueued message(s)` : '',
        ].filter(Boolean);
        throw new Error(
          `refusing: ${held.join(' and ')}: merging two backlogs would mix two sets of Paho's packet ids and ` +
            "sequence numbers; deliver or 'paho-mqtt-redis clear' them first. Nothing was copied",
        );
      }
      if (marker !== null && !m.force) throw migratedBefore(marker);
      if (m.dryRun) {
        showPlan(m, records, `from ${printable(clientDir)} into hash ${printable(hash)}`);
        return false;
      }
      const transaction = redis.multi();
      for (let at = 0; at < records.length; at += FIELDS_PER_HSET) {
        const fields = records
          .slice(at, at + FIELDS_PER_HSET)
          .flatMap(({ key, data }) => [key, sealValue(m.encryptor, hash, key, data)]);
        transaction.hset(hash, ...fields);
      }
      const copy: MigratedMarker = {
        from: path.resolve(clientDir),
        records: records.length,
        at: new Date().toISOString(),
      };
      transaction.set(markerKey, JSON.stringify(copy));
      const replies = await transaction.exec();
      if (replies === null)
        throw new Error(
          `hash ${printable(hash)} changed while migrating (a client with lease: false?): nothing was copied`,
        );
      for (const [error] of replies) if (error) throw error;
      io.stdout.write(
        `copied ${entries(records.length)} from ${printable(clientDir)} into hash ${printable(hash)}` +
          `${m.encryptor !== undefined ? ' (encrypted)' : ''}\n`,
      );
      return true;
    } finally {
      await lease?.release();
    }
  });
  if (m.dryRun) return 0;
  if (m.removeSource) {
    removeClientRecords(
      m.dir,
      m.clientId,
      m.serverUri,
      records.map((r) => r.key),
    );
    io.stdout.write(`removed ${records.length} file(s) from ${printable(clientDir)}\n`);
  } else if (copied) {
    io.stdout.write(
      `the files stay in ${printable(clientDir)}: do not start a client with that file store any more ` +
        '(--remove-source deletes them)\n',
    );
  }
  return 0;
}

async function toDir(m: Migration): Promise<number> {
  const { io, hash } = m;
  const clientDir = path.join(m.dir, clientDirName(m.clientId, m.serverUri));
  if (!fs.existsSync(m.dir)) throw new UsageError(`--to-dir ${printable(m.dir)} does not exist`);
  return withRedis(m.url, async (redis) => {
    if (m.dryRun) await checkLease(redis, hash);
    const lease = m.dryRun ? undefined : await takeLease(redis, hash);
    try {
      await redis.watch(hash);
      const outbox = outboxKeyName(hash);
      const [stored, queued] = await Promise.all([redis.hgetallBuffer(hash), redis.xlen(outbox)]);
      if (queued > 0)
        throw new Error(
          `refusing: outbox ${printable(outbox)} holds ${queued} enqueued message(s), which are not Paho records: ` +
            "let the client (created with the outbox option) deliver them until 'paho-mqtt-redis inspect' shows none. Nothing was copied",
        );
      const strays = Object.keys(stored).filter((key) => recordKeyOf(`${key}${RECORD_EXTENSION}`) === undefined);
      if (strays.length > 0)
        throw new Error(
          `refusing: hash ${printable(hash)} holds fields that are not Paho record keys (${strays.slice(0, 10).map(printable).join(', ')}). Nothing was copied`,
        );
      const records = openHash(m, stored);
      if (records.length === 0) {
        io.stdout.write(`nothing to migrate: hash ${printable(hash)} holds no records\n`);
        return 0;
      }
      warnUndecodable(io, records);
      const existing = readExisting(clientDir);
      const already = existing.length > 0 && holdsAll(existing, records);
      if (existing.length > 0 && !already)
        throw new Error(
          `refusing: ${printable(clientDir)} holds ${existing.length} file(s) already: merging two backlogs would mix two sets of ` +
            "Paho's packet ids and sequence numbers. Nothing was copied",
        );
      if (m.dryRun) {
        showPlan(m, records, `from hash ${printable(hash)} into ${printable(clientDir)}`);
        return 0;
      }
      if (already) io.stdout.write(`already copied: ${printable(clientDir)} holds the ${entries(records.length)}\n`);
      else {
        writeClientStore(m.dir, m.clientId, m.serverUri, records);
        io.stdout.write(
          `copied ${entries(records.length)} from hash ${printable(hash)} into ${printable(clientDir)}\n`,
        );
      }
      if (!m.removeSource) {
        io.stdout.write(
          `hash ${printable(hash)} stays in Redis: do not start a client with it once the file-store client has sent them ` +
            "('paho-mqtt-redis clear' or --remove-source deletes it)\n",
        );
        return 0;
      }
      // Only the hash as it was read: WATCH voids the DEL if a client wrote to it meanwhile.
      const replies = await redis.multi().del(hash).exec();
      if (replies === null)
        throw new Error(
          `hash ${printable(hash)} changed while migrating (a client with lease: false?): it was kept, and ${printable(clientDir)} holds the records as they were`,
        );
      io.stdout.write(`removed hash ${printable(hash)}\n`);
      return 0;
    } finally {
      await lease?.release();
    }
  });
}

/**
 * A client migrated before: its hash is empty now because the Redis client delivered the copy
 * (or it was cleared). Copying the files again would send their messages twice.
 */
function migratedBefore(marker: string): Error {
  let what = printable(marker);
  try {
    const { from, records, at } = JSON.parse(marker) as MigratedMarker;
    what = `${records} record(s) from ${printable(from)} at ${at}`;
  } catch {
    // an unexpected value: shown as it is
  }
  return new Error(
    `refusing: this client was migrated to Redis before (${what}); its messages may have been delivered since, ` +
      'and copying the files again would send them twice. Pass --force to copy them anyway. Nothing was copied',
  );
}

/** The records already in a client's directory (none when it does not exist). */
function readExisting(clientDir: string): FileRecord[] {
  if (!fs.existsSync(clientDir)) return [];
  return fs.readdirSync(clientDir).map((name) => ({
    key: name.endsWith(RECORD_EXTENSION) ? name.slice(0, -RECORD_EXTENSION.length) : name,
    data: fs.readFileSync(path.join(clientDir, name)),
  }));
}
