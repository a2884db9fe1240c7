import type { Redis, RedisOptions } from 'ioredis';
import type { ClientPersistence, PersistenceWrite, QuarantinedRecord } from '../client-persistence';
import { PersistenceError, invalidArg } from '../../errors';
import {
  type ConnectionTarget,
  connectOwnClient,
  describeTarget,
  isNoAnswer,
  openSuppliedClient,
  storeError,
  withTimeout,
} from './connection';
import { type ValueEncryptor, encryptedKeyId } from './encryption';
import {
  type AckReplicasOptions,
  type AnyClient,
  type RedisPersistenceOptions,
  checkOptions,
  hashName,
} from './options';
import { QUARANTINE_SCRIPT, quarantineHashName, quarantinedRecords } from './quarantine';
import { SecretRedactor } from './redaction';
import { type WriteCommand, writeAndWait } from './ack-replicas';

export type { RedisPersistenceOptions, EncryptionOptions, AckReplicasOptions, RedisClient } from './options';

/** What reencrypt() did to the hash of the open client. */
export interface ReencryptResult {
  /** Values rewritten with the current key. */
  reencrypted: number;
  /** Values already encrypted with the current key. */
  current: number;
  /** Values changed or removed by someone else while reencrypt() ran (left as they were). */
  skipped: number;
}

/** Sets field ARGV[1] to ARGV[3] only while it still holds ARGV[2] (a compare-and-set for reencrypt). */
const CAS_SCRIPT =
  "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0";

/**
 * Stores each client's persistence in one Redis hash named `${keyPrefix}${clientId}:${serverURI}`
 * (with the default empty prefix, the layout of the Rust crate paho-mqtt-redis). One command
 * per operation: HSET, HGET, HDEL, HKEYS, DEL, HEXISTS.
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
export class RedisPersistence implements ClientPersistence {
  readonly operationTimeoutMs: number;
  readonly keyPrefix: string;
  /** How Paho's writes reach Redis (read by the bridge): see RedisPersistenceOptions.durability. */
  readonly durability: 'batched' | 'sync';
  readonly maxQueuedOps: number | undefined;
  readonly maxQueuedBytes: number | undefined;
  /** Commands sent to Redis (MULTI and EXEC included) and round trips, since construction. */
  private readonly counters = { commands: 0, roundTrips: 0 };
  private readonly url: string | undefined;
  private readonly redisOptions: RedisOptions | undefined;
  private readonly userClient: AnyClient | undefined;
  /** Masks the passwords from the options in every message and error cause. */
  private readonly redactor: SecretRedactor;
  /** Set when the user client has no commandTimeout of its own that is short enough. */
  private readonly wrapTimeout: boolean;
  private redis: AnyClient | undefined;
  private connecting: Promise<AnyClient> | undefined;
  /** Bumped by close(), so an open() that was connecting meanwhile does not resurrect the store. */
  private epoch = 0;
  private name: string | undefined;
  private lastError: Error | undefined;
  private refSockets = true;
  private readonly encryptor: ValueEncryptor | undefined;
  private readonly ack: AckReplicasOptions | undefined;

  constructor(options: RedisPersistenceOptions = {}) {
    const {
      url,
      redisOptions,
      client,
      keyPrefix,
      operationTimeoutMs,
      encryptor,
      ack,
      secrets,
      durability,
      maxQueuedOps,
      maxQueuedBytes,
    } = checkOptions(options);
    this.durability = durability;
    this.maxQueuedOps = maxQueuedOps;
    this.maxQueuedBytes = maxQueuedBytes;
    this.encryptor = encryptor;
    this.ack = ack;
    this.url = url;
    this.redisOptions = redisOptions;
    this.userClient = client;
    this.keyPrefix = keyPrefix;
    this.operationTimeoutMs = operationTimeoutMs;
    this.redactor = new SecretRedactor(secrets);
    const ownTimeout = (client as { options?: { commandTimeout?: unknown } } | undefined)?.options?.commandTimeout;
    this.wrapTimeout =
      client !== undefined && !(typeof ownTimeout === 'number' && ownTimeout > 0 && ownTimeout <= operationTimeoutMs);
  }

  /** The name of the hash in use: `${keyPrefix}${clientId}:${serverURI}`. Undefined until open. */
  get hashName(): string | undefined {
    return this.name;
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
    if (this.redis === undefined) {
      const epoch = this.epoch;
      if (this.connecting === undefined) {
        this.connecting =
          this.userClient !== undefined
            ? openSuppliedClient(this.userClient, this.operationTimeoutMs, this.redactor)
            : this.connectOwn();
        this.connecting
          .then(
            () => undefined,
            () => undefined,
          )
          .finally(() => {
            this.connecting = undefined;
          });
      }
      const redis = await this.connecting;
      if (epoch !== this.epoch) {
        if (redis !== this.userClient) redis.disconnect();
        throw new PersistenceError(
          'ERR_PERSISTENCE_NOT_OPEN',
          'open',
          undefined,
          'RedisPersistence.open: the store was closed while it was connecting',
        );
      }
      this.redis = redis;
    }
    this.name = name;
  }

  /**
   * Lets the process exit while this store's own connection is open (AsyncClient.unref()
   * calls it); a user-supplied client is left alone. `ref()` undoes it.
   */
  unref(): void {
    this.refSockets = false;
    this.applyRef(this.redis);
  }

  ref(): void {
    this.refSockets = true;
    this.applyRef(this.redis);
  }

  private applyRef(redis: AnyClient | undefined): void {
    if (redis === undefined || redis === this.userClient) return;
    const stream = (redis as unknown as { stream?: { ref?(): void; unref?(): void } }).stream;
    if (this.refSockets) stream?.ref?.();
    else stream?.unref?.();
  }

  async close(): Promise<void> {
    const redis = this.redis;
    this.epoch += 1;
    this.name = undefined;
    this.redis = undefined;
    if (redis === undefined || redis === this.userClient) return;
    try {
      await withTimeout(redis.quit(), this.operationTimeoutMs);
    } catch {
      // Unreachable Redis: don't wait for it.
    } finally {
      redis.disconnect();
    }
  }

  put(key: string, data: Buffer): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('put', key);
    const name = this.name!;
    let value: Buffer;
    try {
      value = this.encryptor !== undefined ? this.encryptor.encrypt(`${name}\0${key}`, data) : data;
    } catch (e) {
      return Promise.reject(this.storeError('put', key, e));
    }
    return this.write('put', key, redis, name, (c) => c.hset(name, key, value)).then(noop);
  }

  /**
   * Applies Paho's writes in order as one MULTI/EXEC (all or nothing) on one connection: runs
   * of puts become one HSET, runs of removes one HDEL. With ackReplicas, each command is
   * followed by WAIT instead (in order, not atomic).
   */
  batch(writes: readonly PersistenceWrite[]): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('batch', undefined);
    const name = this.name!;
    let commands: (string | Buffer)[][];
    try {
      commands = this.batchCommands(name, writes);
    } catch (e) {
      return Promise.reject(this.storeError('batch', undefined, e));
    }
    if (commands.length === 0) return Promise.resolve();
    if (commands.length === 1) {
      const [command, ...args] = commands[0];
      return this.write('batch', undefined, redis, name, (c) => c.call(command as string, ...args)).then(noop);
    }
    if (this.ack !== undefined) return this.writeEach(redis, name, commands);
    this.count(commands.length + 2);
    return this.bound(redis.multi(commands as string[][]).exec()).then(
      (replies) => {
        if (replies === null) throw new Error('MULTI/EXEC was aborted');
        for (const [error] of replies) if (error) throw error;
      },
      (e) => {
        throw this.storeError('batch', undefined, e);
      },
    );
  }

  /**
   * A cheap round trip for the store bridge (see ClientPersistence.probe): HEXISTS on the
   * client's hash, which the least-rights ACL user may run and a Cluster routes to the hash's
   * slot. Resolves when Redis answers (an error reply is an answer), rejects when it is
   * unreachable or does not answer within operationTimeoutMs.
   */
  probe(): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('probe', undefined);
    this.count(1);
    return this.bound(redis.hexists(this.name!, '')).then(noop, (e: unknown) => {
      if (isNoAnswer(e)) throw this.storeError('probe', undefined, e);
    });
  }

  /** Redis commands and round trips this store has made (reads included). */
  commandStats(): { commands: number; roundTrips: number } {
    return { ...this.counters };
  }

  get(key: string): Promise<Buffer> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('get', key);
    const name = this.name!;
    this.count(1);
    return this.bound(redis.hgetBuffer(name, key)).then(
      (value) => {
        if (value === null) {
          throw new PersistenceError(
            'ERR_PERSISTENCE_NO_SUCH_KEY',
            'get',
            key,
            `no such key: '${key}' in Redis hash '${name}'`,
          );
        }
        return this.encryptor !== undefined ? this.decrypt('get', name, key, value) : value;
      },
      (e) => {
        throw this.storeError('get', key, e);
      },
    );
  }

  remove(key: string): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('remove', key);
    const name = this.name!;
    return this.write('remove', key, redis, name, (c) => c.hdel(name, key)).then(noop);
  }

  keys(): Promise<string[]> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('keys', undefined);
    this.count(1);
    return this.bound(redis.hkeys(this.name!)).catch((e) => {
      throw this.storeError('keys', undefined, e);
    });
  }

  clear(): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('clear', undefined);
    const name = this.name!;
    return this.write('clear', undefined, redis, name, (c) => c.del(name)).then(noop);
  }

  containsKey(key: string): Promise<boolean> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('containsKey', key);
    this.count(1);
    return this.bound(redis.hexists(this.name!, key)).then(
      (n) => n === 1,
      (e) => {
        throw this.storeError('containsKey', key, e);
      },
    );
  }

  /**
   * Sets a damaged record aside: moves it (atomically, with a script: the ACL user needs +eval)
   * to the field `${key}@${ms since epoch}` of the hash `quarantineHashName(hashName)`, with the
   * reason next to it. Nothing is deleted; `paho-mqtt-redis inspect` lists them.
   */
  quarantine(key: string, reason: string): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('quarantine', key);
    const name = this.name!;
    const field = `${key}@${Date.now()}`;
    return this.write('quarantine', key, redis, name, (c) =>
      c.eval(QUARANTINE_SCRIPT, 2, name, quarantineHashName(name), key, field, reason),
    ).then(noop);
  }

  /** The records quarantine() set aside for the open client, oldest first. */
  async quarantined(): Promise<QuarantinedRecord[]> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('quarantined', undefined);
    const fields = await this.bound(redis.hgetallBuffer(quarantineHashName(this.name!))).catch((e) => {
      throw this.storeError('quarantined', undefined, e);
    });
    return quarantinedRecords(fields);
  }

  /**
   * Rewrites every value of the open client's hash that is not encrypted with the current key
   * (encrypted with one of previousKeys, or - with `encryptPlaintext` - not encrypted at all, e.g.
   * written before encryption was enabled), so the old key can be retired. Each value is
   * replaced only if it is still unchanged (an EVAL compare-and-set, so the ACL user needs
   * +eval), so it is safe while Paho uses the store. Rejects with ERR_PERSISTENCE_DECRYPT on the
   * first value that no configured key opens; nothing is deleted.
   */
  async reencrypt(options: { encryptPlaintext?: boolean } = {}): Promise<ReencryptResult> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('reencrypt', undefined);
    const encryptor = this.encryptor;
    if (encryptor === undefined) {
      throw invalidArg('RedisPersistence.reencrypt: the store has no options.encryption');
    }
    const name = this.name!;
    const result: ReencryptResult = { reencrypted: 0, current: 0, skipped: 0 };
    const fields = await this.bound(redis.hkeys(name)).catch((e) => {
      throw this.storeError('reencrypt', undefined, e);
    });
    for (const field of fields) {
      const value = await this.bound(redis.hgetBuffer(name, field)).catch((e) => {
        throw this.storeError('reencrypt', field, e);
      });
      if (value === null) {
        result.skipped += 1;
        continue;
      }
      const keyId = encryptedKeyId(value);
      if (keyId === encryptor.keyId) {
        result.current += 1;
        continue;
      }
      const plain =
        keyId === null && options.encryptPlaintext === true ? value : this.decrypt('reencrypt', name, field, value);
      const fresh = encryptor.encrypt(`${name}\0${field}`, plain);
      const swapped = await this.write('reencrypt', field, redis, name, (c) =>
        c.eval(CAS_SCRIPT, 1, name, field, value, fresh),
      );
      if (swapped === 1) result.reencrypted += 1;
      else result.skipped += 1;
    }
    return result;
  }

  // -------------------------------------------------------------------------------------

  /**
   * Runs one write on hash `name`. With ackReplicas, the write is followed by WAIT (see
   * writeAndWait) and too few acknowledgements fail the operation.
   */
  private async write(
    op: string,
    key: string | undefined,
    redis: AnyClient,
    name: string,
    cmd: WriteCommand,
  ): Promise<unknown> {
    this.count(this.ack === undefined ? 1 : 2);
    try {
      if (this.ack === undefined) return await this.bound(cmd(redis) as Promise<unknown>);
      return await writeAndWait(op, key, redis, name, this.ack, (p) => this.bound(p), cmd);
    } catch (e) {
      throw this.storeError(op, key, e);
    }
  }

  /** A batch as commands: consecutive puts share one HSET, consecutive removes one HDEL. */
  private batchCommands(name: string, writes: readonly PersistenceWrite[]): (string | Buffer)[][] {
    const commands: (string | Buffer)[][] = [];
    let current: (string | Buffer)[] | undefined;
    let currentIsPut = false;
    for (const write of writes) {
      const isPut = write.data !== undefined;
      if (current === undefined || isPut !== currentIsPut) {
        current = [isPut ? 'hset' : 'hdel', name];
        currentIsPut = isPut;
        commands.push(current);
      }
      if (write.data === undefined) {
        current.push(write.key);
      } else {
        const value =
          this.encryptor !== undefined ? this.encryptor.encrypt(`${name}\0${write.key}`, write.data) : write.data;
        current.push(write.key, value);
      }
    }
    return commands;
  }

  private async writeEach(redis: AnyClient, name: string, commands: (string | Buffer)[][]): Promise<void> {
    for (const [command, ...args] of commands) {
      await this.write('batch', undefined, redis, name, (c) => c.call(command as string, ...args));
    }
  }

  private count(commands: number): void {
    this.counters.commands += commands;
    this.counters.roundTrips += 1;
  }

  private decrypt(op: string, name: string, key: string, value: Buffer): Buffer {
    try {
      return this.encryptor!.decrypt(`${name}\0${key}`, value);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const plaintext =
        encryptedKeyId(value) === null
          ? ' (a value written before encryption was enabled can be encrypted with reencrypt({ encryptPlaintext: true }))'
          : '';
      throw new PersistenceError(
        'ERR_PERSISTENCE_DECRYPT',
        op,
        key,
        `RedisPersistence.${op}: cannot decrypt key '${key}' in hash '${name}' (${why}). The value was left in Redis untouched; ` +
          `check options.encryption (key, keyId, previousKeys)${plaintext}`,
        { cause: e },
      );
    }
  }

  private connectOwn(): Promise<Redis> {
    this.lastError = undefined;
    return connectOwnClient(
      this.target,
      (err) => (this.lastError = err),
      (redis) => this.applyRef(redis),
    );
  }

  private get target(): ConnectionTarget {
    const { url, redisOptions, operationTimeoutMs, redactor } = this;
    return { url, redisOptions, operationTimeoutMs, redactor };
  }

  /** Bounds a command when the user-supplied client has no suitable commandTimeout. */
  private bound<T>(p: Promise<T>): Promise<T> {
    return this.wrapTimeout ? withTimeout(p, this.operationTimeoutMs) : p;
  }

  private notOpen(op: string, key: string | undefined): Promise<never> {
    return Promise.reject(
      new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', op, key, `RedisPersistence.${op}: the store is not open`),
    );
  }

  private storeError(op: string, key: string | undefined, err: unknown): PersistenceError {
    const peer = this.userClient !== undefined ? 'the supplied client' : `Redis at ${describeTarget(this.target)}`;
    const { operationTimeoutMs, redactor, lastError } = this;
    return storeError({ hash: this.name, operationTimeoutMs, redactor, peer, lastError }, op, key, err);
  }
}

function noop(): void {
  /* nothing */
}
