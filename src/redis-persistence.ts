import Redis, { type Cluster, type RedisOptions, type ChainableCommander } from 'ioredis';
import type { ClientPersistence } from './persistence';
import { PahoMqttRedisError, PersistenceError, invalidArg } from './errors';
import { ValueSealer, sealedKeyId } from './sealing';

export interface RedisPersistenceOptions {
  /** `redis://` or `rediss://` URL; credentials and `/db` allowed. Exclusive with `client`. */
  url?: string;
  /** Passed to ioredis (tls, username, password, db, ...). Not allowed with `client`. */
  redisOptions?: RedisOptions;
  /** A user-owned connection: used as is and never quit() by close(). Exclusive with `url`. */
  client?: Redis | Cluster;
  /** Prepended to the hash name: `${keyPrefix}${clientId}:${serverURI}`. Default ''. */
  keyPrefix?: string;
  /** Per-command timeout in ms (positive integer, default 5000). Also bounds open(). */
  operationTimeoutMs?: number;
  /**
   * Encrypts every value at rest (AES-256-GCM, see ValueSealer): put() seals, get() unseals, so
   * Paho only ever sees plaintext. Each value is bound to its place (hash name + '\0' + field):
   * a value copied to another field or hash does not decrypt. Hash and field names (client id,
   * server URI, Paho's `s-1`/`c-12` keys) stay readable.
   *
   * A value that does not decrypt (wrong key, unknown keyId, tampered, or plaintext written
   * before encryption was enabled) makes get() reject with ERR_PERSISTENCE_DECRYPT; nothing is
   * ever deleted because of it.
   *
   * Key rotation: give the new key a new `keyId` and move the old one into `previousKeys`
   * (`{ [oldKeyId]: oldKey }`). New and rewritten values are sealed with the new key; values
   * sealed with an old key stay readable while that key is listed. Paho rewrites most records
   * as it works (every in-flight message and command is short-lived), and `reseal()` rewrites
   * the rest of one client's hash at once; after that, the old key can be dropped.
   */
  encryption?: EncryptionOptions;
  /**
   * After each write (put/remove/clear) run `WAIT replicas timeoutMs` on the same connection
   * and fail the operation (ERR_PERSISTENCE_STORE) when fewer replicas acknowledged it. This
   * narrows, but does not close, the window in which a failover loses acknowledged writes: Redis
   * replication stays asynchronous, and a failed WAIT does not undo the write on the master.
   * With a Cluster client, the write and its WAIT are sent as one pipeline to the master owning
   * the hash's slot. `timeoutMs` must be below operationTimeoutMs.
   */
  ackReplicas?: AckReplicasOptions;
}

export interface EncryptionOptions {
  /** The current 32-byte AES-256 key; every new value is sealed with it. */
  key: Buffer;
  /** Names the current key inside each sealed value (1..255 printable ASCII characters). */
  keyId: string;
  /** Older keys by keyId, only to read values sealed before a rotation. */
  previousKeys?: Record<string, Buffer>;
}

export interface AckReplicasOptions {
  /** How many replicas must acknowledge each write (positive integer). */
  replicas: number;
  /** How long WAIT may wait for them, in ms (positive integer, below operationTimeoutMs). */
  timeoutMs: number;
}

/** What reseal() did to the hash of the open client. */
export interface ResealResult {
  /** Values rewritten with the current key. */
  resealed: number;
  /** Values already sealed with the current key. */
  current: number;
  /** Values changed or removed by someone else while reseal() ran (left as they were). */
  skipped: number;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_OPERATION_TIMEOUT_MS = 5000;
const MAX_TIMER_MS = 2_147_483_647;
const TIMED_OUT = 'Command timed out'; // ioredis' commandTimeout message

type AnyClient = Redis | Cluster;

const OPTION_NAMES = new Set(['url', 'redisOptions', 'client', 'keyPrefix', 'operationTimeoutMs', 'encryption', 'ackReplicas']);

/** Sets field ARGV[1] to ARGV[3] only while it still holds ARGV[2] (a compare-and-set for reseal). */
const CAS_SCRIPT = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0";

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
  private readonly url: string | undefined;
  private readonly redisOptions: RedisOptions | undefined;
  private readonly userClient: AnyClient | undefined;
  /** Strings that must never appear in an error message (passwords). */
  private readonly secrets: string[];
  /** Set when the user client has no commandTimeout of its own that is short enough. */
  private readonly wrapTimeout: boolean;
  private redis: AnyClient | undefined;
  private connecting: Promise<AnyClient> | undefined;
  /** Bumped by close(), so an open() that was connecting meanwhile does not resurrect the store. */
  private epoch = 0;
  private name: string | undefined;
  private lastError: Error | undefined;
  private refSockets = true;
  private readonly sealer: ValueSealer | undefined;
  private readonly ack: AckReplicasOptions | undefined;

  constructor(options: RedisPersistenceOptions = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalidArg('RedisPersistence: options must be an object');
    }
    for (const k of Object.keys(options)) {
      if (!OPTION_NAMES.has(k)) {
        throw invalidArg(`RedisPersistence: unknown option '${k}' (expected one of ${[...OPTION_NAMES].join(', ')})`);
      }
    }
    const { url, redisOptions, client, keyPrefix = '', operationTimeoutMs = DEFAULT_OPERATION_TIMEOUT_MS, encryption, ackReplicas } = options;

    if (url !== undefined && client !== undefined) {
      throw invalidArg('RedisPersistence: options.url and options.client are exclusive; give one of them');
    }
    if (redisOptions !== undefined && client !== undefined) {
      throw invalidArg('RedisPersistence: options.redisOptions cannot be combined with options.client (configure your client instead)');
    }
    this.secrets = [];
    if (url !== undefined) {
      if (typeof url !== 'string') throw invalidArg(`RedisPersistence: options.url must be a string, got ${typeof url}`);
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        // Never echo the url: it may hold a password.
        throw invalidArg('RedisPersistence: options.url is not a valid URL (expected redis://[[user]:password@]host[:port][/db] or rediss://...)');
      }
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
        throw invalidArg(`RedisPersistence: options.url must use the redis:// or rediss:// scheme, got '${parsed.protocol}//'`);
      }
      if (!url.startsWith(parsed.protocol)) {
        // ioredis only recognises lower-case "rediss://" as TLS.
        throw invalidArg('RedisPersistence: the scheme of options.url must be written in lower case');
      }
      if (parsed.password) this.secrets.push(parsed.password, safeDecode(parsed.password));
    }
    if (redisOptions !== undefined) {
      if (redisOptions === null || typeof redisOptions !== 'object') {
        throw invalidArg('RedisPersistence: options.redisOptions must be an object');
      }
      if (redisOptions.keyPrefix !== undefined && redisOptions.keyPrefix !== '') {
        throw invalidArg('RedisPersistence: use options.keyPrefix, not options.redisOptions.keyPrefix (the hash name must stay explicit)');
      }
      if (typeof redisOptions.password === 'string' && redisOptions.password) this.secrets.push(redisOptions.password);
      if (typeof redisOptions.sentinelPassword === 'string' && redisOptions.sentinelPassword) this.secrets.push(redisOptions.sentinelPassword);
      if (redisOptions.sentinels !== undefined && (!Array.isArray(redisOptions.sentinels) || redisOptions.sentinels.length === 0
        || typeof redisOptions.name !== 'string' || redisOptions.name === '')) {
        throw invalidArg('RedisPersistence: Sentinel needs options.redisOptions.sentinels (a non-empty array of { host, port }) and options.redisOptions.name (the master name)');
      }
      if (redisOptions.sentinels !== undefined && url !== undefined) {
        throw invalidArg('RedisPersistence: give either options.url or options.redisOptions.sentinels, not both (with Sentinel, the master address comes from the sentinels)');
      }
    }
    if (client !== undefined) {
      const c = client as unknown as Record<string, unknown> | null;
      if (c === null || typeof c !== 'object' || typeof c.hgetBuffer !== 'function' || typeof c.hset !== 'function') {
        throw invalidArg('RedisPersistence: options.client must be an ioredis Redis or Cluster instance');
      }
    }
    if (typeof keyPrefix !== 'string') {
      throw invalidArg(`RedisPersistence: options.keyPrefix must be a string, got ${typeof keyPrefix}`);
    }
    if (typeof operationTimeoutMs !== 'number' || !Number.isInteger(operationTimeoutMs)
      || operationTimeoutMs <= 0 || operationTimeoutMs > MAX_TIMER_MS) {
      throw invalidArg(`RedisPersistence: options.operationTimeoutMs must be a positive integer number of milliseconds (at most ${MAX_TIMER_MS}), got ${String(operationTimeoutMs)}`);
    }

    this.sealer = encryption === undefined ? undefined : makeSealer(encryption);
    this.ack = ackReplicas === undefined ? undefined : checkAck(ackReplicas, operationTimeoutMs);

    this.url = client === undefined ? (url ?? (redisOptions === undefined ? DEFAULT_URL : undefined)) : undefined;
    this.redisOptions = redisOptions;
    this.userClient = client;
    this.keyPrefix = keyPrefix;
    this.operationTimeoutMs = operationTimeoutMs;
    const ownTimeout = (client as { options?: { commandTimeout?: unknown } } | undefined)?.options?.commandTimeout;
    this.wrapTimeout = client !== undefined
      && !(typeof ownTimeout === 'number' && ownTimeout > 0 && ownTimeout <= operationTimeoutMs);
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
      throw new PersistenceError('ERR_PERSISTENCE_STORE', 'open', undefined,
        'RedisPersistence.open: clientId and serverURI must be strings');
    }
    const name = `${this.keyPrefix}${clientId}:${serverURI}`;
    if (this.redis === undefined) {
      const epoch = this.epoch;
      if (this.connecting === undefined) {
        this.connecting = this.userClient !== undefined ? this.openUserClient() : this.connectOwn();
        this.connecting.then(() => undefined, () => undefined).finally(() => { this.connecting = undefined; });
      }
      const redis = await this.connecting;
      if (epoch !== this.epoch) {
        if (redis !== this.userClient) redis.disconnect();
        throw new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', 'open', undefined,
          'RedisPersistence.open: the store was closed while it was connecting');
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
    if (this.refSockets) stream?.ref?.(); else stream?.unref?.();
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
      value = this.sealer !== undefined ? this.sealer.seal(`${name}\0${key}`, data) : data;
    } catch (e) {
      return Promise.reject(this.storeError('put', key, e));
    }
    return this.write('put', key, redis, name, (c) => c.hset(name, key, value)).then(noop);
  }

  get(key: string): Promise<Buffer> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('get', key);
    const name = this.name!;
    return this.bound(redis.hgetBuffer(name, key)).then((value) => {
      if (value === null) {
        throw new PersistenceError('ERR_PERSISTENCE_NO_SUCH_KEY', 'get', key, `no such key: '${key}' in Redis hash '${name}'`);
      }
      return this.sealer !== undefined ? this.unseal('get', name, key, value) : value;
    }, (e) => { throw this.storeError('get', key, e); });
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
    return this.bound(redis.hkeys(this.name!)).catch((e) => { throw this.storeError('keys', undefined, e); });
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
    return this.bound(redis.hexists(this.name!, key)).then((n) => n === 1, (e) => { throw this.storeError('containsKey', key, e); });
  }

  /**
   * Rewrites every value of the open client's hash that is not sealed with the current key
   * (sealed with one of previousKeys, or - with `encryptPlaintext` - not sealed at all, e.g.
   * written before encryption was enabled), so the old key can be retired. Each value is
   * replaced only if it is still unchanged (an EVAL compare-and-set, so the ACL user needs
   * +eval), so it is safe while Paho uses the store. Rejects with ERR_PERSISTENCE_DECRYPT on the
   * first value that no configured key opens; nothing is deleted.
   */
  async reseal(options: { encryptPlaintext?: boolean } = {}): Promise<ResealResult> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('reseal', undefined);
    const sealer = this.sealer;
    if (sealer === undefined) {
      throw invalidArg('RedisPersistence.reseal: the store has no options.encryption');
    }
    const name = this.name!;
    const result: ResealResult = { resealed: 0, current: 0, skipped: 0 };
    const fields = await this.bound(redis.hkeys(name)).catch((e) => { throw this.storeError('reseal', undefined, e); });
    for (const field of fields) {
      const value = await this.bound(redis.hgetBuffer(name, field)).catch((e) => { throw this.storeError('reseal', field, e); });
      if (value === null) { result.skipped += 1; continue; }
      const keyId = sealedKeyId(value);
      if (keyId === sealer.keyId) { result.current += 1; continue; }
      const plain = keyId === null && options.encryptPlaintext === true ? value : this.unseal('reseal', name, field, value);
      const fresh = sealer.seal(`${name}\0${field}`, plain);
      const swapped = await this.write('reseal', field, redis, name,
        (c) => c.eval(CAS_SCRIPT, 1, name, field, value, fresh));
      if (swapped === 1) result.resealed += 1; else result.skipped += 1;
    }
    return result;
  }

  // -------------------------------------------------------------------------------------

  /**
   * Runs one write on hash `name`. With ackReplicas, the write and `WAIT replicas timeoutMs` go
   * out as one pipeline on one connection - for a Cluster, to the master owning the hash's slot
   * (WAIT itself has no key, so sent alone it would go to a random node) - and too few
   * acknowledgements fail the operation.
   */
  private async write(op: string, key: string | undefined, redis: AnyClient, name: string,
    cmd: (c: AnyClient | ChainableCommander) => unknown): Promise<unknown> {
    const ack = this.ack;
    try {
      if (ack === undefined) return await this.bound(cmd(redis) as Promise<unknown>);
      const wait = ['WAIT', String(ack.replicas), String(ack.timeoutMs)] as const;
      const pipeline = redis.pipeline();
      cmd(pipeline);
      pipeline.call(...wait);
      let [[writeErr, reply], [waitErr, acked]] = pipelineReplies(await this.bound(pipeline.exec()));
      if (writeErr && redis.isCluster && /^(MOVED|ASK) /.test(writeErr.message)) {
        // The slot moved. ioredis only follows a redirection in a pipeline whose other commands
        // are read-only, so send the write alone (ioredis follows MOVED and updates its slot
        // map), then WAIT behind a read of the same hash: same node, same connection.
        reply = await this.bound(cmd(redis) as Promise<unknown>);
        let pinErr: Error | null;
        [[pinErr], [waitErr, acked]] = pipelineReplies(await this.bound(redis.pipeline().exists(name).call(...wait).exec()));
        writeErr = pinErr;
      }
      if (writeErr) throw writeErr;
      if (waitErr) throw waitErr;
      if (typeof acked !== 'number' || acked < ack.replicas) {
        const what = key === undefined ? `Redis ${op} on hash '${name}'` : `Redis ${op} of key '${key}' in hash '${name}'`;
        throw new PersistenceError('ERR_PERSISTENCE_STORE', op, key,
          `${what}: only ${String(acked)} of ${ack.replicas} required replica(s) acknowledged the write within ${ack.timeoutMs} ms (WAIT); `
          + 'the master applied it, but a failover could lose it');
      }
      return reply;
    } catch (e) {
      throw this.storeError(op, key, e);
    }
  }

  private unseal(op: string, name: string, key: string, value: Buffer): Buffer {
    try {
      return this.sealer!.unseal(`${name}\0${key}`, value);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const plaintext = sealedKeyId(value) === null
        ? ' (a value written before encryption was enabled can be encrypted with reseal({ encryptPlaintext: true }))' : '';
      throw new PersistenceError('ERR_PERSISTENCE_DECRYPT', op, key,
        `RedisPersistence.${op}: cannot decrypt key '${key}' in hash '${name}' (${why}). The value was left in Redis untouched; `
        + `check options.encryption (key, keyId, previousKeys)${plaintext}`, { cause: e });
    }
  }

  // -------------------------------------------------------------------------------------

  private async connectOwn(): Promise<Redis> {
    const user = this.redisOptions ?? {};
    const options: RedisOptions = {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      retryStrategy: (times: number) => Math.min(times * 50, 1000),
      connectTimeout: this.operationTimeoutMs,
      ...user,
      // Not negotiable: connect at open(), bound every command, our own explicit hash name.
      lazyConnect: true,
      commandTimeout: this.operationTimeoutMs,
      keyPrefix: '',
    };
    if (user.sentinels !== undefined) {
      // Leave a demoted master as soon as the sentinels announce +switch-master (instead of
      // writing to it until Sentinel reconfigures it, which can take seconds), and reconnect
      // (through the sentinels) if a write still meets a read-only replica.
      if (user.failoverDetector === undefined) options.failoverDetector = true;
      if (user.reconnectOnError === undefined) options.reconnectOnError = (err: Error) => (/^READONLY/.test(err.message) ? 1 : false);
    }
    const redis = this.url !== undefined ? new Redis(this.url, options) : new Redis(options);
    this.lastError = undefined;
    // Without a listener ioredis prints every connection error; keep the last one for messages.
    // A refused SELECT (e.g. an ACL user without +select) only surfaces as an 'error' event, and
    // ioredis then carries on in db 0: catch it, so open() fails instead of using the wrong db.
    let selectError: Error | undefined;
    redis.on('connect', () => this.applyRef(redis)); // every (re)connection has a new socket
    redis.on('error', (err: Error) => {
      this.lastError = err;
      if ((err as { command?: { name?: string } }).command?.name === 'select') selectError = err;
    });
    const openTimeoutMs = (typeof user.connectTimeout === 'number' ? user.connectTimeout : this.operationTimeoutMs) + 1000;
    try {
      await withTimeout(redis.connect(), openTimeoutMs);
    } catch (err) {
      redis.disconnect(); // stop the background reconnection of a store that failed to open
      const reason = err === TIMEOUT ? `no answer within ${openTimeoutMs} ms` : this.describe(this.lastError ?? err);
      throw new PersistenceError('ERR_PERSISTENCE_CONNECTION', 'open', undefined,
        `RedisPersistence: cannot connect to Redis at ${this.where()}: ${reason}`, { cause: this.sanitize(this.lastError ?? err) });
    }
    const db = redis.options.db ?? 0;
    if (db !== 0) {
      // Any reply to this PING (even NOPERM) comes after the reply to ioredis' SELECT.
      await withTimeout(redis.ping(), this.operationTimeoutMs).catch(noop);
      if (selectError !== undefined) {
        redis.disconnect();
        throw new PersistenceError('ERR_PERSISTENCE_CONNECTION', 'open', undefined,
          `RedisPersistence: connected to Redis at ${this.where()} but cannot select database ${db}: ${this.describe(selectError)}`,
          { cause: this.sanitize(selectError) });
      }
    }
    return redis;
  }

  private async openUserClient(): Promise<AnyClient> {
    const client = this.userClient!;
    if (client.status === 'end') {
      throw new PersistenceError('ERR_PERSISTENCE_CONNECTION', 'open', undefined,
        'RedisPersistence: the supplied Redis client has been closed');
    }
    try {
      if (client.status === 'wait') await withTimeout(client.connect(), this.operationTimeoutMs);
      await withTimeout(client.ping(), this.operationTimeoutMs);
    } catch (err) {
      const reason = err === TIMEOUT ? `no answer within ${this.operationTimeoutMs} ms` : this.describe(err);
      throw new PersistenceError('ERR_PERSISTENCE_CONNECTION', 'open', undefined,
        `RedisPersistence: the supplied Redis client cannot reach Redis: ${reason}`, { cause: err === TIMEOUT ? undefined : this.sanitize(err) });
    }
    return client;
  }

  /** Bounds a command when the user-supplied client has no suitable commandTimeout. */
  private bound<T>(p: Promise<T>): Promise<T> {
    return this.wrapTimeout ? withTimeout(p, this.operationTimeoutMs) : p;
  }

  private notOpen(op: string, key: string | undefined): Promise<never> {
    return Promise.reject(new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', op, key,
      `RedisPersistence.${op}: the store is not open`));
  }

  private storeError(op: string, key: string | undefined, err: unknown): PersistenceError {
    if (err instanceof PahoMqttRedisError) return err as PersistenceError;
    const what = key === undefined ? `Redis ${op} on hash '${this.name}'` : `Redis ${op} of key '${key}' in hash '${this.name}'`;
    if (err === TIMEOUT || (err instanceof Error && err.message === TIMED_OUT)) {
      return new PersistenceError('ERR_PERSISTENCE_TIMEOUT', op, key,
        `${what} timed out after ${this.operationTimeoutMs} ms`, { cause: err === TIMEOUT ? undefined : this.sanitize(err) });
    }
    const reason = this.describe(err);
    const hint = /^NOPERM/.test(reason)
      ? ' (the Redis ACL user lacks this command or this key: check its command list and key pattern, and options.keyPrefix)' : '';
    return new PersistenceError('ERR_PERSISTENCE_STORE', op, key, `${what} failed: ${reason}${hint}`, { cause: this.sanitize(err) });
  }

  private where(): string {
    if (this.url !== undefined) return this.redact(redactUrl(this.url));
    const o = this.redisOptions ?? {};
    if (o.sentinels !== undefined) {
      const list = o.sentinels.map((a) => `${a.host ?? '127.0.0.1'}:${a.port ?? 26379}`).join(', ');
      return `master '${o.name}' via sentinels ${list}`;
    }
    return o.path ? `unix:${o.path}` : `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
  }

  private describe(err: unknown): string {
    const msg = err instanceof Error ? err.message || err.name : String(err);
    return this.redact(msg);
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (s) out = out.split(s).join('***');
    return out;
  }

  /**
   * The original error, or a copy without secrets: no password in its message or stack, and no
   * AUTH/HELLO arguments in the `command` ioredis attaches to reply errors.
   */
  private sanitize(err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    const command = (err as { command?: { name?: unknown; args?: unknown } }).command;
    const clean = this.redact(err.message);
    if (clean === err.message && command === undefined) return err;
    const copy = new Error(clean) as Error & { command?: unknown };
    copy.name = err.name;
    copy.stack = this.redact(err.stack ?? clean);
    if (command !== undefined && command !== null && typeof command === 'object') {
      const name = typeof command.name === 'string' ? command.name : String(command.name);
      const args = Array.isArray(command.args) ? command.args : [];
      copy.command = {
        name,
        args: SECRET_ARG_COMMANDS.has(name.toLowerCase()) ? args.map(() => '***')
          : args.map((a) => (typeof a === 'string' ? this.redact(a) : a)),
      };
    }
    return copy;
  }
}

/** Commands whose arguments carry credentials. */
const SECRET_ARG_COMMANDS = new Set(['auth', 'hello', 'migrate', 'config', 'acl']);

const TIMEOUT = Symbol('timeout');

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(TIMEOUT), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function makeSealer(encryption: EncryptionOptions): ValueSealer {
  if (encryption === null || typeof encryption !== 'object' || Array.isArray(encryption)) {
    throw invalidArg('RedisPersistence: options.encryption must be an object { key, keyId, previousKeys? }');
  }
  for (const k of Object.keys(encryption)) {
    if (!['key', 'keyId', 'previousKeys'].includes(k)) {
      throw invalidArg(`RedisPersistence: unknown option 'encryption.${k}' (expected key, keyId, previousKeys)`);
    }
  }
  try {
    return new ValueSealer({ key: encryption.key, keyId: encryption.keyId, previousKeys: encryption.previousKeys });
  } catch (e) {
    throw invalidArg(`RedisPersistence: options.encryption: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkAck(ack: AckReplicasOptions, operationTimeoutMs: number): AckReplicasOptions {
  if (ack === null || typeof ack !== 'object' || Array.isArray(ack)) {
    throw invalidArg('RedisPersistence: options.ackReplicas must be an object { replicas, timeoutMs }');
  }
  for (const k of Object.keys(ack)) {
    if (k !== 'replicas' && k !== 'timeoutMs') {
      throw invalidArg(`RedisPersistence: unknown option 'ackReplicas.${k}' (expected replicas, timeoutMs)`);
    }
  }
  const { replicas, timeoutMs } = ack;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) {
    throw invalidArg(`RedisPersistence: options.ackReplicas.replicas must be a positive integer, got ${String(replicas)}`);
  }
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs >= operationTimeoutMs) {
    throw invalidArg(`RedisPersistence: options.ackReplicas.timeoutMs must be a positive integer below operationTimeoutMs (${operationTimeoutMs}), got ${String(timeoutMs)}`);
  }
  return { replicas, timeoutMs };
}

type Reply = [Error | null, unknown];

/** The [error, reply] pairs of a two-command pipeline. */
function pipelineReplies(results: Reply[] | null): [Reply, Reply] {
  if (results === null || results.length !== 2) throw new Error('unexpected pipeline reply');
  return [results[0], results[1]];
}

function noop(): void { /* nothing */ }

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}
