/** `migrate --to-dir`: a client's Redis hash into Paho's file store (see migrate.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { outboxKeyName } from '../persistence/redis/outbox-stream';
import { UsageError, entries, printable, withRedis } from './common';
import { type FileRecord, RECORD_EXTENSION, clientDirName, recordKeyOf, writeClientStore } from './file-store';
import {
  type Migration,
  checkLease,
  holdsAll,
  openField,
  showPlan,
  takeLease,
  warnUndecodable,
} from './migrate-common';

export async function toDir(m: Migration): Promise<number> {
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
      const records = Object.entries(stored).map(([key, value]) => ({ key, data: openField(m, key, value) }));
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

/** The records already in a client's directory (none when it does not exist). */
function readExisting(clientDir: string): FileRecord[] {
  if (!fs.existsSync(clientDir)) return [];
  return fs.readdirSync(clientDir).map((name) => ({
    key: name.endsWith(RECORD_EXTENSION) ? name.slice(0, -RECORD_EXTENSION.length) : name,
    data: fs.readFileSync(path.join(clientDir, name)),
  }));
}
