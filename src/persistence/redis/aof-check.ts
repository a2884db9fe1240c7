/**
 * Whether the Redis behind a store keeps an append-only file: without one, a power loss takes
 * everything written since the last RDB snapshot, the outbox's backlog included
 * (docs/redis-aof.md).
 */
import type { AnyClient } from './options';

/**
 * Reads `aof_enabled` from INFO persistence (the documented ACL user may run INFO). Undefined
 * when unknown: a user without +info connects with enableReadyCheck off, and INFO is not sent.
 */
export async function readAofEnabled(
  redis: AnyClient,
  bound: <T>(p: Promise<T>) => Promise<T>,
): Promise<boolean | undefined> {
  if ((redis as { options?: { enableReadyCheck?: boolean } }).options?.enableReadyCheck === false) return undefined;
  try {
    const flag = /^aof_enabled:(\d)/m.exec(String(await bound(redis.info('persistence'))))?.[1];
    return flag === undefined ? undefined : flag === '1';
  } catch {
    return undefined; // INFO denied or renamed: the store works without knowing
  }
}
