/**
 * RedisPersistence's outbox (see docs/outbox.md): one Redis Stream per
 * client, `{<hash>}:outbox`, in the hash's Cluster slot so a move (HSET c-N + XDEL) runs in one
 * MULTI/EXEC. Entry ids are the client's (`<n>-0`, increasing; a stream keeps its
 * last-generated-id after XDEL empties it, so ids never repeat); one field `d` holds the
 * encoded message, encrypted with the store's key bound to the stream and the id; field `t`
 * its append time (plaintext, for `inspect`). Redis stores
 * the field name once per listpack node, so an entry costs little beyond its bytes.
 */
import { PersistenceError } from '../../errors';
import type {
  OutboxAdoption,
  OutboxAppendResult,
  OutboxClockCheckpoint,
  OutboxEntry,
  OutboxLimits,
  OutboxStats,
} from '../client-persistence';
import type { ValueEncryptor } from './encryption';
import { type AnyClient, companionKeyName } from './options';
import { openValue, sealValue } from './stored-values';
import { sendTransaction } from './transaction';
import {
  ADD_SCRIPT,
  APPEND_SCRIPT,
  DEFAULT_MAX_BYTES_SHARE,
  DROP_EMPTY_ACCOUNT_SCRIPT,
  INIT_SCRIPT,
  outboxAccountKeyName,
  removalCommand,
} from './outbox-account';

export const OUTBOX_FIELD = 'd';
/** When the entry was appended (ms since the epoch, plaintext): for `inspect`'s oldest age. */
export const OUTBOX_TIME_FIELD = 't';

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
  /** The account of the stream's bytes and the clock's checkpoint (see outbox-account.ts). */
  readonly accountKey: string;
  private usedMemory: { bytes: number; at: number } | undefined;

  /** `maxmemory`: 0 = no limit, undefined = unknown (CONFIG GET denied). */
  constructor(
    private readonly ctx: OutboxStreamContext,
    private readonly maxMemory: number | undefined,
  ) {
    this.key = outboxKeyName(ctx.hash);
    this.accountKey = outboxAccountKeyName(ctx.hash);
  }

  /** The maxBytes a client gets when it sets none: a share of maxmemory, if Redis has one. */
  get defaultMaxBytes(): number | undefined {
    return this.maxMemory ? Math.floor(this.maxMemory * DEFAULT_MAX_BYTES_SHARE) : undefined;
  }

  /** At open: counts the bytes of a stream an older release wrote (once; see INIT_SCRIPT). */
  async initAccount(): Promise<void> {
    this.ctx.count(1);
    try {
      await this.ctx.bound(this.ctx.redis.eval(INIT_SCRIPT, 2, this.key, this.accountKey));
    } catch (e) {
      throw this.ctx.storeError('open', undefined, e);
    }
  }

  /** One script: caps (see OutboxLimits), the XADDs and the account, atomically. */
  async append(entries: readonly OutboxEntry[], limits?: OutboxLimits): Promise<OutboxAppendResult> {
    const { redis, encryptor, bound } = this.ctx;
    let bytes = 0;
    const args: (string | Buffer)[] = [];
    for (const { id, data } of entries) {
      bytes += data.length + 32;
      args.push(streamId(id), sealValue(encryptor, this.key, id, data));
    }
    if (entries.length > 0) await this.checkHeadroom(bytes);
    const keep = (limits?.keep ?? []).map(streamId);
    const head = [
      String(limits?.maxMessages ?? 0),
      String(limits?.maxBytes ?? 0),
      limits?.onFull === 'dropOldest' ? '1' : '0',
      String(Date.now()),
      String(keep.length),
      ...keep,
    ];
    this.ctx.count(1);
    let reply: [Buffer[], Buffer[], number, number];
    try {
      reply = (await bound(
        redis.callBuffer('eval', APPEND_SCRIPT, '2', this.key, this.accountKey, ...head, ...args),
      )) as typeof reply;
    } catch (e) {
      throw this.error('outboxAppend', e);
    }
    if (this.usedMemory !== undefined) this.usedMemory.bytes += bytes;
    const [rejected, dropped, length, total] = reply;
    const result: OutboxAppendResult = {
      rejected: rejected.map((id) => id.toString().split('-')[0]),
      dropped: [],
      length: Number(length),
      bytes: Number(total),
    };
    for (let i = 0; i < dropped.length; i += 2) {
      const id = dropped[i].toString().split('-')[0];
      const value = dropped[i + 1];
      result.dropped.push({
        id,
        data: encryptor !== undefined ? openValue(encryptor, 'outboxAppend', this.key, id, value) : value,
      });
    }
    return result;
  }

  /**
   * Moves records of hash `hash` into the stream: per record one MULTI (HDEL + XADD + the account's
   * script), so a crash leaves each in exactly one of the two. The transactions of a group share a
   * round trip.
   */
  async adopt(moves: readonly OutboxAdoption[]): Promise<void> {
    const { redis, encryptor, bound, hash } = this.ctx;
    const now = String(Date.now()); // the time of the move: the record's own is not kept
    this.ctx.count(moves.length * 5);
    try {
      await Promise.all(
        moves.map(({ key, entry }) => {
          const sealed = sealValue(encryptor, this.key, entry.id, entry.data);
          return bound(
            sendTransaction(redis, [
              ['hdel', hash, key],
              ['xadd', this.key, streamId(entry.id), OUTBOX_FIELD, sealed, OUTBOX_TIME_FIELD, now],
              ['eval', ADD_SCRIPT, '1', this.accountKey, String(sealed.length)],
            ]),
          );
        }),
      );
    } catch (e) {
      throw this.error('outboxAdopt', e);
    }
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
    const [command, ...args] = removalCommand(this.ctx.hash, ids.map(streamId));
    try {
      await this.ctx.bound(this.ctx.redis.call(command, ...args));
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
      const [length, bytes] = await Promise.all([
        this.ctx.bound(this.ctx.redis.xlen(this.key)),
        this.ctx.bound(this.ctx.redis.hget(this.accountKey, 'bytes')),
      ]);
      return { length, bytes: Number(bytes ?? 0) };
    } catch (e) {
      throw this.ctx.storeError('outboxStats', undefined, e);
    }
  }

  async readClock(): Promise<OutboxClockCheckpoint | undefined> {
    this.ctx.count(1);
    let account: Record<string, string>;
    try {
      account = await this.ctx.bound(this.ctx.redis.hgetall(this.accountKey));
    } catch (e) {
      throw this.ctx.storeError('outboxReadClock', undefined, e);
    }
    if (account.clock === undefined || account.wall === undefined) return undefined;
    return { outboxMs: Number(account.clock), wallMs: Number(account.wall) };
  }

  /**
   * At close, best effort: the account of an empty outbox goes (see DROP_EMPTY_ACCOUNT_SCRIPT). Not
   * while the connection is down: close() would wait for it, for a key the next close removes.
   */
  async dropEmptyAccount(): Promise<void> {
    if ((this.ctx.redis as { status?: string }).status !== 'ready') return;
    this.ctx.count(1);
    await this.ctx
      .bound(this.ctx.redis.eval(DROP_EMPTY_ACCOUNT_SCRIPT, 2, this.key, this.accountKey))
      .catch(() => undefined);
  }

  async writeClock({ outboxMs, wallMs }: OutboxClockCheckpoint): Promise<void> {
    this.ctx.count(1);
    try {
      await this.ctx.bound(this.ctx.redis.hset(this.accountKey, 'clock', String(outboxMs), 'wall', String(wallMs)));
    } catch (e) {
      throw this.ctx.storeError('outboxWriteClock', undefined, e);
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
