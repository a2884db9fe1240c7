/**
 * RedisPersistence's outbox (see docs/persistence.md, "The outbox"): one Redis Stream per
 * client, `{<hash>}:outbox`, in the hash's Cluster slot so a move (HSET c-N + XDEL) runs in one
 * MULTI/EXEC. Entry ids are the client's (`<n>-0`, increasing; a stream keeps its
 * last-generated-id after XDEL empties it, so ids never repeat); one field `d` holds the
 * encoded message, encrypted with the store's key bound to the stream and the id. Redis stores
 * the field name once per listpack node, so an entry costs little beyond its bytes.
 */
import { PersistenceError } from '../../errors';
import type { OutboxEntry, OutboxStats } from '../client-persistence';
import type { ValueEncryptor } from './encryption';
import { type AnyClient, companionKeyName } from './options';
import { openValue, sealValue } from './stored-values';

export const OUTBOX_FIELD = 'd';

export function outboxKeyName(hash: string): string {
  return companionKeyName(hash, 'outbox');
}

export function streamId(id: string): string {
  return `${id}-0`;
}

/** Below this share of maxmemory an append leaves Paho's own records their headroom. */
const HEADROOM = 0.9;
/** How long a used_memory reading is trusted. */
const MEMORY_READING_MS = 100;

export interface OutboxStreamContext {
  redis: AnyClient;
  hash: string;
  encryptor: ValueEncryptor | undefined;
  bound: <T>(p: Promise<T>) => Promise<T>;
  storeError: (op: string, key: string | undefined, err: unknown) => PersistenceError;
  count: (commands: number) => void;
}

export class OutboxStream {
  readonly key: string;
  private usedMemory: { bytes: number; at: number } | undefined;

  /** `maxmemory`: 0 = no limit, undefined = unknown (CONFIG GET denied). */
  constructor(
    private readonly ctx: OutboxStreamContext,
    private readonly maxMemory: number | undefined,
  ) {
    this.key = outboxKeyName(ctx.hash);
  }

  async append(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const { redis, encryptor, bound } = this.ctx;
    let bytes = 0;
    const commands = entries.map(({ id, data }) => {
      bytes += data.length + 32;
      return ['xadd', this.key, streamId(id), OUTBOX_FIELD, sealValue(encryptor, this.key, id, data)];
    });
    await this.checkHeadroom(bytes);
    this.ctx.count(commands.length + 2);
    try {
      const replies = await bound(redis.multi(commands as string[][]).exec());
      if (replies === null) throw new Error('the transaction was discarded');
      for (const [error] of replies) if (error) throw error;
    } catch (e) {
      throw this.error('outboxAppend', e);
    }
    if (this.usedMemory !== undefined) this.usedMemory.bytes += bytes;
  }

  async read(afterId: string | undefined, count: number): Promise<OutboxEntry[]> {
    const { redis, encryptor, bound } = this.ctx;
    const start = afterId === undefined ? '-' : `(${streamId(afterId)}`;
    this.ctx.count(1);
    let reply: [Buffer, Buffer[]][];
    try {
      reply = await bound(redis.xrangeBuffer(this.key, start, '+', 'COUNT', count));
    } catch (e) {
      throw this.ctx.storeError('outboxRead', afterId, e);
    }
    return reply.map(([rawId, fields]) => {
      const id = rawId.toString().split('-')[0];
      const value = fields[1] ?? Buffer.alloc(0);
      return { id, data: encryptor !== undefined ? openValue(encryptor, 'outboxRead', this.key, id, value) : value };
    });
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.ctx.count(1);
    try {
      await this.ctx.bound(this.ctx.redis.xdel(this.key, ...ids.map(streamId)));
    } catch (e) {
      throw this.ctx.storeError('outboxRemove', ids[0], e);
    }
  }

  /** The stream's last-generated-id (kept after XDEL), as an entry id. */
  async lastId(): Promise<string | undefined> {
    this.ctx.count(1);
    let info: unknown[];
    try {
      info = (await this.ctx.bound(this.ctx.redis.call('xinfo', 'stream', this.key))) as unknown[];
    } catch (e) {
      if (e instanceof Error && /no such key/i.test(e.message)) return undefined;
      throw this.ctx.storeError('outboxLastId', undefined, e);
    }
    info = flatReply(info);
    const at = info.findIndex((v) => String(v) === 'last-generated-id');
    const last = at >= 0 ? String(info[at + 1]).split('-')[0] : '0';
    return last === '0' ? undefined : last;
  }

  async stats(): Promise<OutboxStats> {
    this.ctx.count(1);
    try {
      return { length: await this.ctx.bound(this.ctx.redis.xlen(this.key)) };
    } catch (e) {
      throw this.ctx.storeError('outboxStats', undefined, e);
    }
  }

  /**
   * With a maxmemory, an append that would take Redis past 90% of it is refused (ERR_PERSISTENCE_OOM):
   * the rest stays for Paho's records, whose puts must not fail while the outbox is full.
   */
  private async checkHeadroom(bytes: number): Promise<void> {
    const limit = this.maxMemory;
    if (limit === undefined || limit === 0) return;
    const now = Date.now();
    if (this.usedMemory === undefined || now - this.usedMemory.at > MEMORY_READING_MS) {
      this.ctx.count(1);
      const info = String(await this.ctx.bound(this.ctx.redis.info('memory')).catch(() => ''));
      const used = /used_memory:(\d+)/.exec(info);
      this.usedMemory = used === null ? undefined : { bytes: Number(used[1]), at: now };
    }
    if (this.usedMemory !== undefined && this.usedMemory.bytes + bytes > limit * HEADROOM) {
      throw new PersistenceError(
        'ERR_PERSISTENCE_OOM',
        'outboxAppend',
        undefined,
        `RedisPersistence: Redis is near its memory limit (used_memory ${this.usedMemory.bytes} of maxmemory ${limit}; ` +
          `the outbox may fill ${HEADROOM * 100}% of it): the messages were not enqueued`,
      );
    }
  }

  private error(op: string, e: unknown): PersistenceError {
    if (e instanceof Error && /\bOOM\b/.test(e.message)) {
      return new PersistenceError(
        'ERR_PERSISTENCE_OOM',
        op,
        undefined,
        `RedisPersistence: Redis is at its memory limit (maxmemory): the messages were not enqueued (${e.message})`,
        { cause: e },
      );
    }
    return this.ctx.storeError(op, undefined, e);
  }
}

/**
 * Reads maxmemory and maxmemory-policy from INFO memory (which the documented ACL user may run;
 * a user without +info: undefined, and no check is made). An allkeys-* policy evicts any key,
 * the outbox and the hash included, silently: refused unless `allowEviction`.
 */
export async function checkMemoryPolicy(
  redis: AnyClient,
  hash: string,
  allowEviction: boolean,
  bound: <T>(p: Promise<T>) => Promise<T>,
): Promise<number | undefined> {
  // enableReadyCheck off is how a user without +info connects (docs/redis-deployments.md): no INFO then.
  if ((redis as { options?: { enableReadyCheck?: boolean } }).options?.enableReadyCheck === false) return undefined;
  let info: string;
  try {
    info = String(await bound(redis.info('memory')));
  } catch {
    return undefined; // INFO denied or renamed: see docs/redis-deployments.md
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy?.startsWith('allkeys-') && !allowEviction) {
    throw new PersistenceError(
      'ERR_PERSISTENCE_EVICTION',
      'open',
      undefined,
      `RedisPersistence: Redis runs with maxmemory-policy ${policy}, which evicts any key under memory pressure, ` +
        `the hash '${hash}' and its outbox included, silently. Use noeviction (or a volatile-* policy), ` +
        'or set options.allowEvictingPolicy: true to accept the loss',
    );
  }
  const max = /^maxmemory:(\d+)/m.exec(info)?.[1];
  return max === undefined ? undefined : Number(max);
}

/** A RESP2 flat array or a RESP3 map reply, as a flat array of names and values. */
function flatReply(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply;
  if (reply instanceof Map) return [...reply.entries()].flat();
  if (reply !== null && typeof reply === 'object') return Object.entries(reply).flat();
  return [];
}
