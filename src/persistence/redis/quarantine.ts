/** Where RedisPersistence sets damaged records aside (quarantine), and how it reads them back. */
import type { QuarantinedRecord } from '../client-persistence';
import { companionKeyName } from './options';

/**
 * The hash holding a client's quarantined records: the client's hash name + `:quarantine`, in
 * the same Redis Cluster slot so one script moves a record atomically. A name with a hash tag
 * (`{...}`) keeps it; a name without one is wrapped in braces (the slot of `{name}` is the slot of
 * `name` when `name` holds no `}`). A name with a `}` but no tag cannot share its slot: on
 * Cluster, give such clients a keyPrefix with a hash tag.
 */
export function quarantineHashName(name: string): string {
  return companionKeyName(name, 'quarantine');
}

/**
 * Moves field ARGV[1] of hash KEYS[1] to field ARGV[2] of hash KEYS[2], with the reason in
 * ARGV[2]#reason: one script, so the record is never in both hashes or in neither.
 */
export const QUARANTINE_SCRIPT =
  "local v = redis.call('HGET', KEYS[1], ARGV[1]) if not v then return 0 end " +
  "redis.call('HSET', KEYS[2], ARGV[2], v, ARGV[2] .. '#reason', ARGV[3]) redis.call('HDEL', KEYS[1], ARGV[1]) return 1";
const REASON_SUFFIX = '#reason';

/** Pairs the value and reason fields of a quarantine hash (see RedisPersistence.quarantine). */
export function quarantinedRecords(fields: Record<string, Buffer>): QuarantinedRecord[] {
  const records: QuarantinedRecord[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (field.endsWith(REASON_SUFFIX)) continue;
    const at = field.lastIndexOf('@');
    records.push({
      key: at >= 0 ? field.slice(0, at) : field,
      value,
      reason: fields[field + REASON_SUFFIX]?.toString('utf8') ?? '',
      at: at >= 0 ? Number(field.slice(at + 1)) : 0,
    });
  }
  return records.sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1));
}
