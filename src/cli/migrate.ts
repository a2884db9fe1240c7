/**
 * `migrate`: moves one client's records between Paho's file store (`persistence: { dir }`) and
 * its RedisPersistence hash, in either direction (see docs/persistence.md, "Migrating from
 * Paho's file store"). The records are copied byte for byte (Paho's own record bytes; into
 * Redis with the hash's envelope, encrypted when a key is given), all or nothing, while the
 * client's lease is held so no client opens the store meanwhile. Running it again after a
 * crash is safe: a target that already holds exactly the source's records counts as done.
 */
import { CONNECTION_OPTIONS, type CliIO, UsageError, type Values, parse, redisUrl, targetHash } from './common';
import { MIGRATE_HELP } from './help';
import { encryptorOption } from './inspect';
import type { Migration } from './migrate-common';
import { toDir } from './migrate-to-dir';
import { toRedis } from './migrate-to-redis';

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
  const fromDirArg = v['from-dir'] as string | undefined;
  const toDirArg = v['to-dir'] as string | undefined;
  if ((fromDirArg === undefined) === (toDirArg === undefined))
    throw new UsageError('give --from-dir (file store -> Redis) or --to-dir (Redis -> file store)');
  if (v.hash !== undefined)
    throw new UsageError("give --client-id and --server-uri, not --hash: they name the client's directory too");
  const dir = (fromDirArg ?? toDirArg)!;
  if (dir === '') throw new UsageError(`${fromDirArg !== undefined ? '--from-dir' : '--to-dir'} must not be empty`);
  if (v['dry-run'] && v['remove-source']) throw new UsageError('--dry-run cannot be combined with --remove-source');
  if (v.force && toDirArg !== undefined) throw new UsageError('--force goes with --from-dir only');
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
