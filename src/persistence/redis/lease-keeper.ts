/**
 * RedisPersistence's side of the lease (the lease itself is lease.ts): taken at open(), once per
 * store, so concurrent opens share it; given back at close(). An open() that a close() overtook
 * gives its lease back and rejects with ERR_PERSISTENCE_NOT_OPEN.
 */
import { PersistenceError } from '../../errors';
import type { RedisConnection } from './connection';
import { ClientLease } from './lease';
import { companionKeyName } from './options';

/** What the keeper uses of its store. */
export interface LeaseKeeperContext {
  readonly connection: RedisConnection;
  /** Bounds a command by the store's operation timeout. */
  bound: <T>(p: Promise<T>) => Promise<T>;
  /** Counts a round trip of `commands` commands in the store's commandStats(). */
  count: (commands: number) => void;
  notOpen: (op: string, key: string | undefined) => Promise<never>;
}

export class LeaseKeeper {
  /** The lease of the open store, taken or being taken. */
  private leasing: { key: string; taken: Promise<ClientLease> } | undefined;
  /** release() calls so far: an open() that a close() overtook gives its lease back. */
  private closes = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly ctx: LeaseKeeperContext,
  ) {}

  /** The lease key of the store, taken or being taken, or undefined. */
  get key(): string | undefined {
    return this.leasing?.key;
  }

  /**
   * For open(): the lease on `name`'s store. A refused lease closes the connection unless the
   * store is open (`isOpen`, a reopen without close()) or a close() came meanwhile.
   */
  async acquire(name: string, isOpen: () => boolean): Promise<ClientLease> {
    const closes = this.closes;
    let lease: ClientLease;
    try {
      lease = await this.take(name);
    } catch (e) {
      // A refused open keeps no connection (nor, so, the process) alive.
      if (!isOpen() && this.closes === closes) await this.ctx.connection.close().catch(() => undefined);
      throw e;
    }
    if (this.closes !== closes) return this.ctx.notOpen('open', undefined); // close() released it
    return lease;
  }

  /** For close(): gives the lease back, best effort (a lease not released expires after its ttl). */
  async release(): Promise<void> {
    this.closes += 1;
    const leasing = this.leasing;
    this.leasing = undefined;
    // Redis may be down right now.
    await leasing?.taken.then((lease) => lease.release()).catch(() => undefined);
  }

  /** Takes the lease on `name`'s store, once per store (concurrent opens share it). */
  private take(name: string): Promise<ClientLease> {
    const key = companionKeyName(name, 'lease');
    if (this.leasing?.key !== key) {
      const previous = this.leasing?.taken;
      const closes = this.closes;
      const connection = this.ctx.connection;
      const taken = (async () => {
        await previous?.then((lease) => lease.release()).catch(() => undefined); // reopened without close()
        const redis = connection.client;
        if (redis === undefined || this.closes !== closes) return this.ctx.notOpen('open', undefined);
        const lease = await ClientLease.take(redis, key, name, this.ttlMs, (p) => {
          this.ctx.count(1);
          return this.ctx.bound(p);
        }).catch((e: unknown) => {
          if (e instanceof PersistenceError) throw e;
          if (e instanceof Error && /\bNOPERM\b/.test(e.message)) {
            throw new PersistenceError(
              'ERR_PERSISTENCE_CONNECTION',
              'open',
              undefined,
              `RedisPersistence: this Redis ACL user cannot take the client's lease '${key}' (options.lease): grant +eval +get +set +pttl and a key pattern that matches it, or set lease: false`,
              { cause: connection.storeError(name, 'open', undefined, e) },
            );
          }
          throw connection.storeError(name, 'open', undefined, e);
        });
        if (this.closes !== closes) {
          await lease.release().catch(() => undefined);
          return this.ctx.notOpen('open', undefined);
        }
        return lease;
      })();
      this.leasing = { key, taken };
      taken.catch(() => {
        if (this.leasing?.taken === taken) this.leasing = undefined;
      });
    }
    return this.leasing.taken;
  }
}
