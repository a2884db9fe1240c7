import type {
  ClientPersistence,
  OutboxAdoption,
  OutboxAppendResult,
  OutboxClockCheckpoint,
  OutboxEntry,
  OutboxLimits,
  OutboxStats,
  QuarantinedRecord,
} from '../client-persistence';
import { PersistenceError, invalidArg } from '../../errors';
import { RedisConnection, isNoAnswer } from './connection';
import { type RedisPersistenceOptions, checkOptions, hashName } from './options';
import { LeaseKeeper } from './lease-keeper';
import { checkBeforeOpen } from './open-checks';
import { QUARANTINE_SCRIPT, quarantineHashName, quarantinedRecords } from './quarantine';
import { SecretRedactor } from './redaction';
import { CAS_SCRIPT, type ReencryptResult, reencryptHash } from './reencrypt';
import { type OutboxStream, outboxKeyName } from './outbox-stream';
import { sealValue, storedValue } from './stored-values';
import { outboxAccountKeyName } from './outbox-account';
import { RedisHashAccess } from './hash-access';

/**
 * Batches in flight on the store's connection (see batchesInFlight): a QoS 2 barrier's batch
 * leaves at once instead of after the batch in flight (docs/benchmarks.md, "Several batches in
 * flight").
 */
export const REDIS_BATCHES_IN_FLIGHT = 4;

export type { RedisPersistenceOptions, EncryptionOptions, AckReplicasOptions, RedisClient } from './options';
export type { ReencryptResult } from './reencrypt';

/**
 * Stores each client's persistence in one Redis hash named `${keyPrefix}${clientId}:${serverURI}`
 * (with the default empty prefix, the layout of the Rust crate paho-mqtt-redis). A single call
 * is one command (put HSET, get HGET, remove HDEL, keys HKEYS, clear DEL, containsKey HEXISTS);
 * a batch of writes is one HSET of the keys it leaves stored and one HDEL of those it leaves
 * removed, sent alone when there is one, else as one MULTI/EXEC (see batch). With ackReplicas each write is
 * followed by WAIT; with a lease, a write first renews it unless it is fresh (see lease.ts).
 * open() checks that the Redis ACL user may run them (see checkRights).
 *
 * The connection is made at open(). Every command is bounded by `operationTimeoutMs`; while
 * Redis is unreachable commands fail (ERR_PERSISTENCE_STORE / ERR_PERSISTENCE_TIMEOUT) and
 * ioredis keeps reconnecting in the background, so the store recovers when Redis is back.
 *
 * Deployments: a url or redisOptions (AUTH/ACL user, TLS, db), Sentinel through
 * `redisOptions: { sentinels, name }` (the store then also enables ioredis' failoverDetector
 * and reconnects on READONLY unless you set those yourself), or Cluster through
 * `client: new Cluster(...)` (one client = one hash = one slot). See docs/redis-deployments.md.
 */
export class RedisPersistence extends RedisHashAccess implements ClientPersistence {
  readonly operationTimeoutMs: number;
  readonly keyPrefix: string;
  /** How Paho's writes reach Redis (read by the bridge): see RedisPersistenceOptions.durability. */
  readonly durability: 'batched' | 'sync';
  readonly maxQueuedOps: number | undefined;
  readonly maxQueuedBytes: number | undefined;
  /**
   * Batches the bridge may have in flight at once (see ClientPersistence.batchesInFlight): a batch
   * is sent before batch() returns, on one connection, so Redis applies them in call order. One
   * with ackReplicas (a batch's writes go one by one, each awaited) or a Cluster client (a
   * command may wait for the slot map or be redirected).
   */
  readonly batchesInFlight: number;
  /** Takes the lease at open() and gives it back at close(); undefined with lease: false. */
  private readonly leases: LeaseKeeper | undefined;
  private readonly allowEvictingPolicy: boolean;
  /** INFO persistence's aof_enabled, read at open() (see aof-check.ts). */
  private aof: boolean | undefined;
  /** The open client's outbox stream (see outbox-stream.ts). */
  private outbox: OutboxStream | undefined;
  /** With ackReplicas a move is HSET then XDEL, each acknowledged, not one transaction. */
  readonly outboxAtomicMoves: boolean;
  /** Caps, the bytes account and the clock checkpoint (see outbox-account.ts). */
  readonly outboxLimits = true;

  constructor(options: RedisPersistenceOptions = {}) {
    const checked = checkOptions(options);
    const { url, redisOptions, client, operationTimeoutMs, ack, leaseTtlMs } = checked;
    // The redactor masks the passwords from the options in every message and error cause.
    const redactor = new SecretRedactor(checked.secrets);
    super(new RedisConnection({ url, redisOptions, operationTimeoutMs, redactor }, client), checked.encryptor, ack);
    this.allowEvictingPolicy = checked.allowEvictingPolicy;
    this.durability = checked.durability;
    this.maxQueuedOps = checked.maxQueuedOps;
    this.maxQueuedBytes = checked.maxQueuedBytes;
    this.keyPrefix = checked.keyPrefix;
    this.outboxAtomicMoves = ack === undefined;
    this.batchesInFlight =
      ack !== undefined || (client as { isCluster?: boolean } | undefined)?.isCluster === true
        ? 1
        : REDIS_BATCHES_IN_FLIGHT;
    this.operationTimeoutMs = operationTimeoutMs;
    this.leases =
      leaseTtlMs === undefined
        ? undefined
        : new LeaseKeeper(leaseTtlMs, {
            connection: this.connection,
            bound: (p) => this.bound(p),
            count: (n) => this.count(n),
            notOpen: (op, key) => this.notOpen(op, key),
          });
  }

  /** The name of the hash in use: `${keyPrefix}${clientId}:${serverURI}`. Undefined until open. */
  get hashName(): string | undefined {
    return this.name;
  }

  /**
   * Whether the Redis this store opened keeps an append-only file (INFO persistence, read at
   * open()): false means a power loss takes what was written since the last RDB snapshot.
   * Undefined before open() and when INFO is not allowed (enableReadyCheck: false).
   */
  get aofEnabled(): boolean | undefined {
    return this.isOpen ? this.aof : undefined;
  }

  /** True between a successful open() and close(). */
  get isOpen(): boolean {
    return this.name !== undefined;
  }

  async open(clientId: string, serverURI: string): Promise<void> {
    if (typeof clientId !== 'string' || typeof serverURI !== 'string') {
      throw new PersistenceError(
        'ERR_PERSISTENCE_STORE',
        'open',
        undefined,
        'RedisPersistence.open: clientId and serverURI must be strings',
      );
    }
    const name = hashName(this.keyPrefix, clientId, serverURI);
    if (this.connection.client === undefined) await this.connection.connect();
    const redis = this.connection.client;
    if (redis === undefined) return this.notOpen('open', undefined);
    try {
      const checked = await checkBeforeOpen(redis, name, {
        connection: this.connection,
        encryptor: this.encryptor,
        leased: this.leases !== undefined,
        ackReplicas: this.ack !== undefined,
        allowEvictingPolicy: this.allowEvictingPolicy,
        bound: (p) => this.bound(p),
        storeError: (op, key, e) => this.storeError(op, key, e),
        count: (n) => this.count(n),
      });
      this.aof = checked.aof;
      this.outbox = checked.outbox;
      await this.outbox.initAccount();
    } catch (err) {
      await this.connection.close();
      throw err;
    }
    if (this.leases !== undefined) this.lease = await this.leases.acquire(name, () => this.isOpen);
    this.name = name;
  }

  /** The lease key of the open store (see options.lease), or undefined. */
  get leaseKey(): string | undefined {
    return this.isOpen ? this.leases?.key : undefined;
  }

  /**
   * Lets the process exit while this store's own connection is open (AsyncClient.unref()
   * calls it); a user-supplied client is left alone. `ref()` undoes it.
   */
  unref(): void {
    this.connection.setRef(false);
  }

  ref(): void {
    this.connection.setRef(true);
  }

  async close(): Promise<void> {
    const outbox = this.outbox;
    this.name = undefined;
    this.outbox = undefined;
    await outbox?.dropEmptyAccount(); // before the lease goes: the client's keys are still ours
    this.lease = undefined;
    await this.leases?.release();
    await this.connection.close();
  }

  put(key: string, data: Buffer): Promise<void> {
    const redis = this.connection.client;
    if (redis === undefined) return this.notOpen('put', key);
    const name = this.name!;
    let value: Buffer;
    try {
      value = sealValue(this.encryptor, name, key, data);
    } catch (e) {
      return Promise.reject(this.storeError('put', key, e));
    }
    return this.write('put', key, redis, name, (c) => c.hset(name, key, value)).then(noop);
  }

  /**
   * A cheap round trip for the store bridge (see ClientPersistence.probe): HEXISTS on the
   * client's hash, which the least-rights ACL user may run and a Cluster routes to the hash's
   * slot. Resolves when Redis answers (an error reply is an answer), rejects when it is
   * unreachable or does not answer within operationTimeoutMs.
   */
  probe(): Promise<void> {
    return this.withHash('probe', undefined, (redis, name) => {
      this.count(1);
      return this.bound(redis.hexists(name, '')).then(noop, (e: unknown) => {
        if (isNoAnswer(e)) throw this.storeError('probe', undefined, e);
      });
    });
  }

  // ---- the outbox (OutboxStore; see outbox-stream.ts) ----

  outboxAppend(entries: readonly OutboxEntry[], limits?: OutboxLimits): Promise<OutboxAppendResult> {
    return this.withOutbox('outboxAppend', (o) => o.append(entries, limits));
  }

  /** A quarter of Redis's maxmemory when it has one (read at open()), else undefined. */
  get outboxDefaultMaxBytes(): number | undefined {
    return this.outbox?.defaultMaxBytes;
  }

  outboxReadClock(): Promise<OutboxClockCheckpoint | undefined> {
    return this.withOutbox('outboxReadClock', (o) => o.readClock());
  }

  outboxWriteClock(checkpoint: OutboxClockCheckpoint): Promise<void> {
    return this.withOutbox('outboxWriteClock', (o) => o.writeClock(checkpoint));
  }

  outboxRead(afterId: string | undefined, count: number): Promise<OutboxEntry[]> {
    return this.withOutbox('outboxRead', (o) => o.read(afterId, count));
  }

  outboxRemove(ids: readonly string[]): Promise<void> {
    return this.withOutbox('outboxRemove', (o) => o.remove(ids));
  }

  outboxAdopt(moves: readonly OutboxAdoption[]): Promise<void> {
    return this.withOutbox('outboxAdopt', (o) => o.adopt(moves));
  }

  outboxLastId(): Promise<string | undefined> {
    return this.withOutbox('outboxLastId', (o) => o.lastId());
  }

  outboxStats(): Promise<OutboxStats> {
    return this.withOutbox('outboxStats', (o) => o.stats());
  }

  private withOutbox<T>(op: string, run: (outbox: OutboxStream) => Promise<T>): Promise<T> {
    const outbox = this.outbox;
    if (outbox === undefined || this.name === undefined) return this.notOpen(op, undefined);
    return run(outbox);
  }

  /** Redis commands and round trips this store has made (reads included). */
  commandStats(): { commands: number; roundTrips: number } {
    return { ...this.counters };
  }

  get(key: string): Promise<Buffer> {
    return this.withHash('get', key, (redis, name) =>
      this.read('get', key, redis.hgetBuffer(name, key)).then((value) => storedValue(this.encryptor, name, key, value)),
    );
  }

  remove(key: string): Promise<void> {
    const redis = this.connection.client;
    if (redis === undefined) return this.notOpen('remove', key);
    const name = this.name!;
    return this.write('remove', key, redis, name, (c) => c.hdel(name, key)).then(noop);
  }

  keys(): Promise<string[]> {
    return this.withHash('keys', undefined, (redis, name) => this.read('keys', undefined, redis.hkeys(name)));
  }

  clear(): Promise<void> {
    // The outbox and its account go too, in the same command (one DEL, one Cluster slot). The
    // stream's last id goes with it: a later process's enqueue ids start again from 1.
    return this.withHash('clear', undefined, (redis, name) =>
      this.write('clear', undefined, redis, name, (c) => c.del(name, outboxKeyName(name), outboxAccountKeyName(name))),
    ).then(noop);
  }

  containsKey(key: string): Promise<boolean> {
    return this.withHash('containsKey', key, (redis, name) =>
      this.read('containsKey', key, redis.hexists(name, key)).then((n) => n === 1),
    );
  }

  /**
   * Sets a damaged record aside: moves it (atomically, with a script: the ACL user needs +eval)
   * to the field `${key}@${ms since epoch}` of the hash `quarantineHashName(hashName)`, with the
   * reason next to it. Nothing is deleted; `paho-mqtt-redis inspect` lists them.
   */
  quarantine(key: string, reason: string): Promise<void> {
    return this.withHash('quarantine', key, (redis, name) => {
      const field = `${key}@${Date.now()}`;
      return this.write('quarantine', key, redis, name, (c) =>
        c.eval(QUARANTINE_SCRIPT, 2, name, quarantineHashName(name), key, field, reason),
      );
    }).then(noop);
  }

  /** The records quarantine() set aside for the open client, oldest first. */
  quarantined(): Promise<QuarantinedRecord[]> {
    return this.withHash('quarantined', undefined, (redis, name) =>
      this.read('quarantined', undefined, redis.hgetallBuffer(quarantineHashName(name))),
    ).then(quarantinedRecords);
  }

  /**
   * Rewrites every value of the open client's hash that is not encrypted with the current key
   * (encrypted with one of previousKeys, or - with `encryptPlaintext` - not encrypted at all, e.g.
   * written before encryption was enabled), so the old key can be retired. Each value is
   * replaced only if it is still unchanged (an EVAL compare-and-set, so the ACL user needs
   * +eval), so it is safe while Paho uses the store. Rejects with ERR_PERSISTENCE_DECRYPT on the
   * first value that no configured key opens; nothing is deleted.
   */
  reencrypt(options: { encryptPlaintext?: boolean } = {}): Promise<ReencryptResult> {
    return this.withHash('reencrypt', undefined, async (redis, name) => {
      const encryptor = this.encryptor;
      if (encryptor === undefined) throw invalidArg('RedisPersistence.reencrypt: the store has no options.encryption');
      const target = {
        name,
        encryptor,
        fields: () => this.read('reencrypt', undefined, redis.hkeys(name)),
        read: (field: string) => this.read('reencrypt', field, redis.hgetBuffer(name, field)),
        compareAndSet: (field: string, expected: Buffer, fresh: Buffer) =>
          this.write('reencrypt', field, redis, name, (c) => c.eval(CAS_SCRIPT, 1, name, field, expected, fresh)),
      };
      return reencryptHash(target, options.encryptPlaintext === true);
    });
  }
}

function noop(): void {
  /* nothing */
}
