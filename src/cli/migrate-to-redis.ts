/**
 * `migrate --from-dir`: Paho's file store into a client's Redis hash (see migrate.ts). The files
 * are read and written in chunks into a staging hash `{<hash>}:migrating` (in the hash's Cluster
 * slot), which one MULTI/EXEC then renames into place with the marker beside it: all or
 * nothing, while this process holds only one chunk of records.
 */
import * as path from 'node:path';
import type { Redis } from 'ioredis';
import { companionKeyName } from '../persistence/redis/options';
import { outboxKeyName } from '../persistence/redis/outbox-stream';
import { sealValue } from '../persistence/redis/stored-values';
import { entries, printable, withRedis } from './common';
import { clientDirName, listClientRecords, readRecords, removeClientRecords } from './file-store';
import { type Migration, checkLease, openField, showPlan, takeLease, warnUndecodable } from './migrate-common';

/** Records read, compared or written per round trip. */
const CHUNK = 1000;

/** What the marker `{<hash>}:migrated` records of the last copy into Redis. */
interface MigratedMarker {
  from: string;
  records: number;
  at: string;
}

function chunksOf<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let at = 0; at < items.length; at += CHUNK) chunks.push(items.slice(at, at + CHUNK));
  return chunks;
}

export async function toRedis(m: Migration): Promise<number> {
  const { io, hash } = m;
  const clientDir = path.join(m.dir, clientDirName(m.clientId, m.serverUri));
  const keys = listClientRecords(m.dir, m.clientId, m.serverUri);
  if (keys.length === 0) {
    io.stdout.write(`nothing to migrate: ${printable(clientDir)} holds no records\n`);
    if (m.removeSource) removeClientRecords(m.dir, m.clientId, m.serverUri, []);
    return 0;
  }
  const outbox = outboxKeyName(hash);
  const markerKey = companionKeyName(hash, 'migrated');
  const staging = companionKeyName(hash, 'migrating');
  const copied = await withRedis(m.url, async (redis) => {
    if (m.dryRun) await checkLease(redis, hash);
    const lease = m.dryRun ? undefined : await takeLease(redis, hash);
    try {
      // Refused below, or renamed into place by one MULTI that WATCH voids if anything else wrote meanwhile.
      await redis.watch(hash, outbox, markerKey);
      const [stored, queued, marker] = await Promise.all([redis.hlen(hash), redis.xlen(outbox), redis.get(markerKey)]);
      if (stored > 0 && (await holdsFiles(redis, m, clientDir, keys))) {
        io.stdout.write(
          `already copied: hash ${printable(hash)} holds the ${entries(keys.length)} of ${printable(clientDir)}\n`,
        );
        return false;
      }
      if (stored > 0 || queued > 0) {
        const held = [
          stored > 0 ? `hash ${printable(hash)} holds ${entries(stored)}` : '',
          queued > 0 ? `outbox ${printable(outbox)} holds ${queued} enqueued message(s)` : '',
        ].filter(Boolean);
        throw new Error(
          `refusing: ${held.join(' and ')}: merging two backlogs would mix two sets of Paho's packet ids and ` +
            "sequence numbers; deliver or 'paho-mqtt-redis clear' them first. Nothing was copied",
        );
      }
      if (marker !== null && !m.force) throw migratedBefore(marker);
      if (m.dryRun) {
        const records = readRecords(clientDir, keys);
        warnUndecodable(io, records);
        showPlan(m, records, `from ${printable(clientDir)} into hash ${printable(hash)}`);
        return false;
      }
      await redis.del(staging); // what a crashed run left
      for (const chunk of chunksOf(keys)) {
        const records = readRecords(clientDir, chunk);
        warnUndecodable(io, records);
        await redis.hset(
          staging,
          ...records.flatMap(({ key, data }) => [key, sealValue(m.encryptor, hash, key, data)]),
        );
      }
      const copy: MigratedMarker = {
        from: path.resolve(clientDir),
        records: keys.length,
        at: new Date().toISOString(),
      };
      const replies = await redis.multi().rename(staging, hash).set(markerKey, JSON.stringify(copy)).exec();
      if (replies === null) {
        await redis.del(staging);
        throw new Error(
          `hash ${printable(hash)} changed while migrating (a client with lease: false?): nothing was copied`,
        );
      }
      for (const [error] of replies) if (error) throw error;
      io.stdout.write(
        `copied ${entries(keys.length)} from ${printable(clientDir)} into hash ${printable(hash)}` +
          `${m.encryptor !== undefined ? ' (encrypted)' : ''}\n`,
      );
      return true;
    } finally {
      await lease?.release();
    }
  });
  if (m.dryRun) return 0;
  if (m.removeSource) {
    removeClientRecords(m.dir, m.clientId, m.serverUri, keys);
    io.stdout.write(`removed ${keys.length} file(s) from ${printable(clientDir)}\n`);
  } else if (copied) {
    io.stdout.write(
      `the files stay in ${printable(clientDir)}: do not start a client with that file store any more ` +
        '(--remove-source deletes them)\n',
    );
  }
  return 0;
}

/** The hash holds every record of the files with the same bytes (a copy made before). */
async function holdsFiles(redis: Redis, m: Migration, clientDir: string, keys: string[]): Promise<boolean> {
  for (const chunk of chunksOf(keys)) {
    const values = await redis.hmgetBuffer(m.hash, ...chunk);
    const records = readRecords(clientDir, chunk);
    const same = records.every(({ key, data }, i) => {
      const value = values[i];
      return value !== null && openField(m, key, value).equals(data);
    });
    if (!same) return false;
  }
  return true;
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
