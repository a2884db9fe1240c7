/**
 * The options of RedisPersistence and their validation: every check runs in the constructor,
 * so a bad option fails at once (ERR_INVALID_ARG) instead of at the first command.
 */
import type { Redis, Cluster, RedisOptions } from 'ioredis';
import { invalidArg } from '../../errors';
import { DEFAULT_OPERATION_TIMEOUT_MS } from '../client-persistence';
import { ValueEncryptor } from './encryption';
import { DEFAULT_LEASE_TTL_MS } from './lease';
import { checkConnectionOptions } from './connection-options';

export interface RedisPersistenceOptions {
  /** `redis://` or `rediss://` URL; credentials and `/db` allowed. Exclusive with `client`. */
  url?: string;
  /** Passed to ioredis (tls, username, password, db, ...). Not allowed with `client`. */
  redisOptions?: RedisOptions;
  /**
   * A user-owned connection: used as is and never quit() by close(). Exclusive with `url`.
   * An ioredis 6 or ioredis 5 `Redis` or `Cluster`, speaking RESP2 or RESP3.
   */
  client?: RedisClient;
  /** Prepended to the hash name: `${keyPrefix}${clientId}:${serverURI}`. Default ''. */
  keyPrefix?: string;
  /**
   * Per-command timeout in ms (positive integer, default 5000). Also bounds open() and how long a
   * Paho thread waits for Redis; while connected, that wait is further capped at a quarter of the
   * keepalive interval (docs/reliability.md, "Store outages").
   */
  operationTimeoutMs?: number;
  /**
   * Encrypts every value at rest (AES-256-GCM, see ValueEncryptor): put() encrypts, get() decrypts, so
   * Paho only ever sees plaintext. Each value is bound to its place (hash name + '\0' + field):
   * a value copied to another field or hash does not decrypt. Hash and field names (client id,
   * server URI, Paho's `s-1`/`c-12` keys) stay readable.
   *
   * A value that does not decrypt (wrong key, unknown keyId, tampered, or plaintext written
   * before encryption was enabled) makes get() reject with ERR_PERSISTENCE_DECRYPT; nothing is
   * ever deleted because of it.
   *
   * Key rotation: give the new key a new `keyId` and move the old one into `previousKeys`
   * (`{ [oldKeyId]: oldKey }`). New and rewritten values are encrypted with the new key; values
   * encrypted with an old key stay readable while that key is listed. Paho rewrites most records
   * as it works (every in-flight message and command is short-lived), and `reencrypt()` rewrites
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
  /**
   * 'batched' (default): Paho's writes are logged in memory and written behind, in order, one
   * MULTI/EXEC per batch; only the writes a crash could not otherwise recover from (QoS 2
   * PUBLISH and PUBREL records, received QoS 2 records) make Paho wait for Redis. Use
   * `client.flush()` to know that every message published so far is in Redis.
   * 'sync': every write waits for Redis before Paho goes on (slower; nothing to flush).
   * See docs/persistence.md.
   */
  durability?: 'batched' | 'sync';
  /**
   * Bound of the write log: writes not yet acknowledged by Redis (default 10,000). When full, Paho
   * waits for room (up to twice operationTimeoutMs, capped at a quarter of the keepalive); while
   * Redis is unavailable a full log refuses writes at once.
   */
  maxQueuedOps?: number;
  /** Same, in bytes of keys and values (default 64 MiB). */
  maxQueuedBytes?: number;
  /**
   * One process at a time per client id and Redis (default on): open() takes a lease, the Redis
   * string `{hash}:lease`, renewed every ttlMs / 3 while open, and refuses with
   * ERR_PERSISTENCE_IN_USE while another process holds it. A holder that died on this host is
   * taken over at once; one on another host after `ttlMs` (default 15000, or 3 x
   * operationTimeoutMs if that is more; must exceed operationTimeoutMs). `false` turns it off
   * (then two processes with one client id corrupt each other's messages).
   */
  lease?: false | { ttlMs?: number };
  /**
   * open() refuses a Redis whose maxmemory-policy is allkeys-* (ERR_PERSISTENCE_EVICTION): it
   * evicts the client's hash and outbox silently. true accepts that loss. Default false.
   */
  allowEvictingPolicy?: boolean;
}

export interface EncryptionOptions {
  /** The current 32-byte AES-256 key; every new value is encrypted with it. */
  key: Buffer;
  /** Names the current key inside each encrypted value (1..255 printable ASCII characters). */
  keyId: string;
  /** Older keys by keyId, only to read values encrypted before a rotation. */
  previousKeys?: Record<string, Buffer>;
}

export interface AckReplicasOptions {
  /** How many replicas must acknowledge each write (positive integer). */
  replicas: number;
  /** How long WAIT may wait for them, in ms (positive integer, below operationTimeoutMs). */
  timeoutMs: number;
}

export type AnyClient = Redis | Cluster;

type UsedMethods =
  | 'status'
  | 'connect'
  | 'ping'
  | 'quit'
  | 'disconnect'
  | 'hset'
  | 'hgetBuffer'
  | 'hdel'
  | 'hkeys'
  | 'del'
  | 'hexists'
  | 'eval'
  | 'isCluster';

/**
 * What options.client must be: the methods RedisPersistence calls, typed as ioredis 6 has them.
 * Structural, so an ioredis 5 instance (whose pipeline type differs) or a RESP3-mapped one fits.
 */
export type RedisClient = (Pick<Redis, UsedMethods> | Pick<Cluster, UsedMethods>) & { pipeline(): unknown };

/** RedisPersistenceOptions once checked, with the defaults filled in. */
export interface CheckedOptions {
  /** What the store connects to itself; undefined with `client`, or with only `redisOptions`. */
  url: string | undefined;
  redisOptions: RedisOptions | undefined;
  client: AnyClient | undefined;
  keyPrefix: string;
  operationTimeoutMs: number;
  encryptor: ValueEncryptor | undefined;
  ack: AckReplicasOptions | undefined;
  durability: 'batched' | 'sync';
  maxQueuedOps: number | undefined;
  maxQueuedBytes: number | undefined;
  /** The lease's time to live, or undefined without a lease. */
  leaseTtlMs: number | undefined;
  /** Strings that must never appear in an error message (passwords). */
  secrets: string[];
  allowEvictingPolicy: boolean;
}

/** RedisPersistence's default key prefix: none, as the Rust crate paho-mqtt-redis. */
export const DEFAULT_KEY_PREFIX = '';

/**
 * The server URI as Paho hands it to a store: without the scheme Paho strips (tcp://, mqtt://,
 * ws://, ssl://, mqtts://, wss://; lower case only, as Paho compares). `tcp://h:1883` -> `h:1883`.
 */
export function pahoServerURI(serverURI: string): string {
  const scheme = /^(tcp|mqtt|ws|ssl|mqtts|wss):\/\//.exec(serverURI);
  return scheme === null ? serverURI : serverURI.slice(scheme[0].length);
}

/** The hash holding one client's records: `${keyPrefix}${clientId}:${serverURI}` (serverURI as Paho names it, without scheme). */
export function hashName(keyPrefix: string, clientId: string, serverURI: string): string {
  return `${keyPrefix}${clientId}:${serverURI}`;
}

/**
 * A key that belongs with the hash `name` (its quarantine, its lease): `name:role`, with the
 * name as hash tag when it has none, so a Cluster puts both in the hash's slot.
 */
export function companionKeyName(name: string, role: string): string {
  const open = name.indexOf('{');
  const hasTag = open >= 0 && name.indexOf('}', open + 1) > open + 1;
  return hasTag || name.includes('}') ? `${name}:${role}` : `{${name}}:${role}`;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const MAX_TIMER_MS = 2_147_483_647;

const OPTION_NAMES = new Set([
  'url',
  'redisOptions',
  'client',
  'keyPrefix',
  'operationTimeoutMs',
  'encryption',
  'ackReplicas',
  'durability',
  'maxQueuedOps',
  'maxQueuedBytes',
  'lease',
  'allowEvictingPolicy',
]);

/** Validates the options of the RedisPersistence constructor; throws ERR_INVALID_ARG. */
export function checkOptions(options: RedisPersistenceOptions): CheckedOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArg('RedisPersistence: options must be an object');
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_NAMES.has(k)) {
      throw invalidArg(`RedisPersistence: unknown option '${k}' (expected one of ${[...OPTION_NAMES].join(', ')})`);
    }
  }
  const {
    url,
    redisOptions,
    client,
    keyPrefix = DEFAULT_KEY_PREFIX,
    operationTimeoutMs = DEFAULT_OPERATION_TIMEOUT_MS,
    encryption,
    ackReplicas,
    durability = 'batched',
    maxQueuedOps,
    maxQueuedBytes,
    lease,
  } = options;

  const secrets = checkConnectionOptions(url, redisOptions, client);
  if (typeof keyPrefix !== 'string') {
    throw invalidArg(`RedisPersistence: options.keyPrefix must be a string, got ${typeof keyPrefix}`);
  }
  if (
    typeof operationTimeoutMs !== 'number' ||
    !Number.isInteger(operationTimeoutMs) ||
    operationTimeoutMs <= 0 ||
    operationTimeoutMs > MAX_TIMER_MS
  ) {
    throw invalidArg(
      `RedisPersistence: options.operationTimeoutMs must be a positive integer number of milliseconds (at most ${MAX_TIMER_MS}), got ${String(operationTimeoutMs)}`,
    );
  }

  if (durability !== 'batched' && durability !== 'sync') {
    throw invalidArg(`RedisPersistence: options.durability must be 'batched' or 'sync', got ${String(durability)}`);
  }
  checkBound('maxQueuedOps', maxQueuedOps, 1);
  checkBound('maxQueuedBytes', maxQueuedBytes, 1024);

  return {
    durability,
    maxQueuedOps,
    maxQueuedBytes,
    leaseTtlMs: checkLease(lease, operationTimeoutMs),
    encryptor: encryption === undefined ? undefined : makeEncryptor(encryption),
    ack: ackReplicas === undefined ? undefined : checkAck(ackReplicas, operationTimeoutMs),
    url: client === undefined ? (url ?? (redisOptions === undefined ? DEFAULT_URL : undefined)) : undefined,
    redisOptions,
    // Both ioredis majors answer the commands used here alike.
    client: client as AnyClient | undefined,
    keyPrefix,
    operationTimeoutMs,
    secrets,
    allowEvictingPolicy: checkAllowEviction(options.allowEvictingPolicy),
  };
}

function checkAllowEviction(allow: unknown): boolean {
  if (allow !== undefined && typeof allow !== 'boolean')
    throw invalidArg(`RedisPersistence: options.allowEvictingPolicy must be a boolean, got ${typeof allow}`);
  return allow === true;
}

function makeEncryptor(encryption: EncryptionOptions): ValueEncryptor {
  if (encryption === null || typeof encryption !== 'object' || Array.isArray(encryption)) {
    throw invalidArg('RedisPersistence: options.encryption must be an object { key, keyId, previousKeys? }');
  }
  for (const k of Object.keys(encryption)) {
    if (!['key', 'keyId', 'previousKeys'].includes(k)) {
      throw invalidArg(`RedisPersistence: unknown option 'encryption.${k}' (expected key, keyId, previousKeys)`);
    }
  }
  try {
    return new ValueEncryptor({ key: encryption.key, keyId: encryption.keyId, previousKeys: encryption.previousKeys });
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
    throw invalidArg(
      `RedisPersistence: options.ackReplicas.replicas must be a positive integer, got ${String(replicas)}`,
    );
  }
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs >= operationTimeoutMs
  ) {
    throw invalidArg(
      `RedisPersistence: options.ackReplicas.timeoutMs must be a positive integer below operationTimeoutMs (${operationTimeoutMs}), got ${String(timeoutMs)}`,
    );
  }
  return { replicas, timeoutMs };
}

function checkLease(lease: RedisPersistenceOptions['lease'], operationTimeoutMs: number): number | undefined {
  if (lease === false) return undefined;
  const fallback = Math.max(DEFAULT_LEASE_TTL_MS, 3 * operationTimeoutMs);
  if (lease === undefined) return Math.min(fallback, MAX_TIMER_MS);
  if (lease === null || typeof lease !== 'object' || Array.isArray(lease)) {
    throw invalidArg('RedisPersistence: options.lease must be false or an object { ttlMs? }');
  }
  for (const k of Object.keys(lease)) {
    if (k !== 'ttlMs') throw invalidArg(`RedisPersistence: unknown option 'lease.${k}' (expected ttlMs)`);
  }
  const { ttlMs = fallback } = lease;
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs <= operationTimeoutMs || ttlMs > MAX_TIMER_MS) {
    throw invalidArg(
      `RedisPersistence: options.lease.ttlMs must be an integer number of milliseconds above operationTimeoutMs (${operationTimeoutMs}), so a renewal can finish before the lease expires; got ${String(ttlMs)}`,
    );
  }
  return ttlMs;
}

function checkBound(name: string, value: unknown, min: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalidArg(
      `RedisPersistence: options.${name} must be an integer of at least ${min}, got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
}
