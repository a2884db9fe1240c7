/**
 * What RedisPersistence.open() checks on a connected Redis before it takes the lease: the ACL
 * user's rights (acl-check.ts), the eviction policy and maxmemory (outbox-stream.ts) and the
 * append-only file (aof-check.ts); then it makes the client's outbox stream.
 */
import type { PersistenceError } from '../../errors';
import { checkRights } from './acl-check';
import { readAofEnabled } from './aof-check';
import type { RedisConnection } from './connection';
import type { ValueEncryptor } from './encryption';
import { type AnyClient, companionKeyName } from './options';
import { OutboxStream, checkMemoryPolicy } from './outbox-stream';

/** What the checks use of the store. */
export interface OpenCheckContext {
  readonly connection: RedisConnection;
  readonly encryptor: ValueEncryptor | undefined;
  /** options.lease is on: its scripts need rights on the lease key. */
  readonly leased: boolean;
  readonly ackReplicas: boolean;
  readonly allowEvictingPolicy: boolean;
  bound: <T>(p: Promise<T>) => Promise<T>;
  storeError: (op: string, key: string | undefined, err: unknown) => PersistenceError;
  count: (commands: number) => void;
}

/**
 * Runs the checks for the hash `name`; resolves with INFO persistence's aof_enabled and the
 * outbox stream (its account not yet read: see OutboxStream.initAccount), or rejects with what
 * open() refuses.
 */
export async function checkBeforeOpen(
  redis: AnyClient,
  name: string,
  ctx: OpenCheckContext,
): Promise<{ aof: boolean | undefined; outbox: OutboxStream }> {
  const { bound } = ctx;
  await checkRights(redis, {
    name,
    lease: ctx.leased ? companionKeyName(name, 'lease') : undefined,
    ackReplicas: ctx.ackReplicas,
    bound,
    sanitize: (err) => ctx.connection.sanitize(err),
  });
  const maxMemory = await checkMemoryPolicy(redis, name, ctx.allowEvictingPolicy, bound);
  const aof = await readAofEnabled(redis, bound);
  const outbox = new OutboxStream(
    { redis, hash: name, encryptor: ctx.encryptor, bound, storeError: ctx.storeError, count: ctx.count },
    maxMemory,
  );
  return { aof, outbox };
}
