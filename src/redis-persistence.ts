import Redis, { type Cluster, type RedisOptions } from 'ioredis';
import type { ClientPersistence } from './persistence';
import { PahoMqttRedisError, PersistenceError, invalidArg } from './errors';

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
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_OPERATION_TIMEOUT_MS = 5000;
const MAX_TIMER_MS = 2_147_483_647;
const TIMED_OUT = 'Command timed out'; // ioredis' commandTimeout message

type AnyClient = Redis | Cluster;

const OPTION_NAMES = new Set(['url', 'redisOptions', 'client', 'keyPrefix', 'operationTimeoutMs']);

/**
 * Stores each client's persistence in one Redis hash named `${keyPrefix}${clientId}:${serverURI}`
 * (with the default empty prefix, the layout of the Rust crate paho-mqtt-redis). One command
 * per operation: HSET, HGET, HDEL, HKEYS, DEL, HEXISTS.
 *
 * The connection is made at open(). Every command is bounded by `operationTimeoutMs`; while
 * Redis is unreachable commands fail (ERR_PERSISTENCE_STORE / ERR_PERSISTENCE_TIMEOUT) and
 * ioredis keeps reconnecting in the background, so the store recovers when Redis is back.
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

  constructor(options: RedisPersistenceOptions = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalidArg('RedisPersistence: options must be an object');
    }
    for (const k of Object.keys(options)) {
      if (!OPTION_NAMES.has(k)) {
        throw invalidArg(`RedisPersistence: unknown option '${k}' (expected one of ${[...OPTION_NAMES].join(', ')})`);
      }
    }
    const { url, redisOptions, client, keyPrefix = '', operationTimeoutMs = DEFAULT_OPERATION_TIMEOUT_MS } = options;

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
    return this.bound(redis.hset(this.name!, key, data)).then(noop, (e) => { throw this.storeError('put', key, e); });
  }

  get(key: string): Promise<Buffer> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('get', key);
    return this.bound(redis.hgetBuffer(this.name!, key)).then((value) => {
      if (value === null) {
        throw new PersistenceError('ERR_PERSISTENCE_NO_SUCH_KEY', 'get', key, `no such key: '${key}' in Redis hash '${this.name}'`);
      }
      return value;
    }, (e) => { throw this.storeError('get', key, e); });
  }

  remove(key: string): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('remove', key);
    return this.bound(redis.hdel(this.name!, key)).then(noop, (e) => { throw this.storeError('remove', key, e); });
  }

  keys(): Promise<string[]> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('keys', undefined);
    return this.bound(redis.hkeys(this.name!)).catch((e) => { throw this.storeError('keys', undefined, e); });
  }

  clear(): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('clear', undefined);
    return this.bound(redis.del(this.name!)).then(noop, (e) => { throw this.storeError('clear', undefined, e); });
  }

  containsKey(key: string): Promise<boolean> {
    const redis = this.redis;
    if (redis === undefined) return this.notOpen('containsKey', key);
    return this.bound(redis.hexists(this.name!, key)).then((n) => n === 1, (e) => { throw this.storeError('containsKey', key, e); });
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
    const redis = this.url !== undefined ? new Redis(this.url, options) : new Redis(options);
    this.lastError = undefined;
    // Without a listener ioredis prints every connection error; keep the last one for messages.
    redis.on('error', (err: Error) => { this.lastError = err; });
    const openTimeoutMs = (typeof user.connectTimeout === 'number' ? user.connectTimeout : this.operationTimeoutMs) + 1000;
    try {
      await withTimeout(redis.connect(), openTimeoutMs);
    } catch (err) {
      redis.disconnect(); // stop the background reconnection of a store that failed to open
      const reason = err === TIMEOUT ? `no answer within ${openTimeoutMs} ms` : this.describe(this.lastError ?? err);
      throw new PersistenceError('ERR_PERSISTENCE_CONNECTION', 'open', undefined,
        `RedisPersistence: cannot connect to Redis at ${this.where()}: ${reason}`, { cause: this.sanitize(this.lastError ?? err) });
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
        `${what} timed out after ${this.operationTimeoutMs} ms`, { cause: err === TIMEOUT ? undefined : err });
    }
    return new PersistenceError('ERR_PERSISTENCE_STORE', op, key, `${what} failed: ${this.describe(err)}`, { cause: this.sanitize(err) });
  }

  private where(): string {
    if (this.url !== undefined) return this.redact(redactUrl(this.url));
    const o = this.redisOptions ?? {};
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

  /** The original error, or a copy without any secret in its message. */
  private sanitize(err: unknown): unknown {
    if (!(err instanceof Error) || this.secrets.length === 0) return err;
    const clean = this.redact(err.message);
    if (clean === err.message) return err;
    const copy = new Error(clean);
    copy.name = err.name;
    return copy;
  }
}

const TIMEOUT = Symbol('timeout');

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(TIMEOUT), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
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
