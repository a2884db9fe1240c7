/**
 * RedisPersistence's connection: making its own ioredis client or checking a supplied one at
 * open(), bounding commands with a deadline, naming the Redis it talks to, and turning ioredis'
 * failures into PersistenceErrors that say what happened (without secrets); RedisConnection ties
 * these together for one store.
 */
import Redis, { type RedisOptions } from 'ioredis';
import { PahoMqttRedisError, PersistenceError } from '../../errors';
import type { AnyClient } from './options';
import { type SecretRedactor, redactUrl } from './redaction';

/** ioredis' commandTimeout message. */
const TIMED_OUT = 'Command timed out';

/** Compared by identity: our own deadline, as opposed to ioredis' commandTimeout. */
export const TIMEOUT = new Error('operation deadline passed');

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(TIMEOUT), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** ioredis' errors for a command that never reached Redis because the connection is down. */
function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    err.message.startsWith('Reached the max retries per request limit') ||
    /^(Connection is closed|Stream isn't writeable|.*enableOfflineQueue)/.test(err.message)
  );
}

/** Redis did not answer: a timeout, or the connection is down (as opposed to an error reply). */
export function isNoAnswer(err: unknown): boolean {
  return err === TIMEOUT || (err instanceof Error && err.message === TIMED_OUT) || isUnreachable(err);
}

/** EXEC answered null: the transaction was discarded, nothing applied. */
export const TRANSACTION_DISCARDED = 'MULTI/EXEC was discarded';

/**
 * Error replies that refuse a write only for now: a replica or a demoted master (READONLY),
 * a master missing its replicas (NOREPLICAS, MASTERDOWN), data still loading (LOADING),
 * maxmemory reached under noeviction (OOM), a failed RDB save (MISCONF), a busy script (BUSY),
 * a Cluster slot moving or down (TRYAGAIN, CLUSTERDOWN). Any other reply (NOPERM, WRONGTYPE,
 * ERR ...) is a definite refusal.
 */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|NOREPLICAS|OOM|MISCONF|BUSY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Whether a failed command may succeed later, sent again unchanged: Redis did not answer, the
 * connection closed under it (ioredis' AbortError), or a transient reply (TRANSIENT_REPLY). An
 * EXECABORT (MULTI/EXEC refused at queue time, nothing applied) is transient when each queued
 * command's error is, or when none is known.
 */
export function isTransient(err: unknown): boolean {
  if (isNoAnswer(err)) return true;
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.message === TRANSACTION_DISCARDED) return true;
  if (err.message.startsWith('EXECABORT')) {
    const previous = (err as { previousErrors?: unknown[] }).previousErrors ?? [];
    return previous.every(isTransient);
  }
  return TRANSIENT_REPLY.test(err.message);
}

/** Where a store connects, for messages: the redacted URL, the sentinels, or host:port. */
export interface ConnectionTarget {
  url: string | undefined;
  redisOptions: RedisOptions | undefined;
  operationTimeoutMs: number;
  redactor: SecretRedactor;
}

export function describeTarget({ url, redisOptions, redactor }: ConnectionTarget): string {
  if (url !== undefined) return redactor.redact(redactUrl(url));
  const o = redisOptions ?? {};
  if (o.sentinels !== undefined) {
    const list = o.sentinels.map((a) => `${a.host ?? '127.0.0.1'}:${a.port ?? 26379}`).join(', ');
    return `master '${o.name}' via sentinels ${list}`;
  }
  return o.path ? `unix:${o.path}` : `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}

/**
 * Connects the store's own client. `onError` hears every connection error (the store keeps the
 * last one for its messages); `onConnect` runs on every (re)connection, which has a new socket.
 */
export async function connectOwnClient(
  target: ConnectionTarget,
  onError: (err: Error) => void,
  onConnect: (redis: Redis) => void,
): Promise<Redis> {
  const { url, operationTimeoutMs, redactor } = target;
  const user = target.redisOptions ?? {};
  const options: RedisOptions = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(times * 50, 1000),
    connectTimeout: operationTimeoutMs,
    ...user,
    // Not negotiable: connect at open(), bound every command, our own explicit hash name.
    lazyConnect: true,
    commandTimeout: operationTimeoutMs,
    keyPrefix: '',
    // A batch cut off by a lost connection fails with it, and the store bridge replays it in
    // its place: one replay, by the one component that knows the log's order.
    autoResendUnfulfilledCommands: false,
  };
  if (user.sentinels !== undefined) {
    // Leave a demoted master as soon as the sentinels announce +switch-master (instead of
    // writing to it until Sentinel reconfigures it, which can take seconds), and reconnect
    // (through the sentinels) if a write still meets a read-only replica.
    if (user.failoverDetector === undefined) options.failoverDetector = true;
    if (user.reconnectOnError === undefined)
      options.reconnectOnError = (err: Error) => (/^READONLY/.test(err.message) ? 1 : false);
  }
  const redis = url !== undefined ? new Redis(url, options) : new Redis(options);
  // Without a listener ioredis prints every connection error; keep the last one for messages.
  // A refused SELECT (e.g. an ACL user without +select) only surfaces as an 'error' event, and
  // ioredis then carries on in db 0: catch it, so open() fails instead of using the wrong db.
  let lastError: Error | undefined;
  let selectError: Error | undefined;
  redis.on('connect', () => onConnect(redis));
  redis.on('error', (err: Error) => {
    lastError = err;
    onError(err);
    if ((err as { command?: { name?: string } }).command?.name === 'select') selectError = err;
  });
  const openTimeoutMs = (typeof user.connectTimeout === 'number' ? user.connectTimeout : operationTimeoutMs) + 1000;
  try {
    await withTimeout(redis.connect(), openTimeoutMs);
  } catch (err) {
    redis.disconnect(); // stop the background reconnection of a store that failed to open
    const reason = err === TIMEOUT ? `no answer within ${openTimeoutMs} ms` : redactor.describe(lastError ?? err);
    throw new PersistenceError(
      'ERR_PERSISTENCE_CONNECTION',
      'open',
      undefined,
      `RedisPersistence: cannot connect to Redis at ${describeTarget(target)}: ${reason}`,
      { cause: redactor.sanitize(lastError ?? err) },
    );
  }
  const db = redis.options.db ?? 0;
  if (db !== 0) {
    // Any reply to this PING (even NOPERM) comes after the reply to ioredis' SELECT.
    await withTimeout(redis.ping(), operationTimeoutMs).catch(() => undefined);
    if (selectError !== undefined) {
      redis.disconnect();
      throw new PersistenceError(
        'ERR_PERSISTENCE_CONNECTION',
        'open',
        undefined,
        `RedisPersistence: connected to Redis at ${describeTarget(target)} but cannot select database ${db}: ${redactor.describe(selectError)}`,
        { cause: redactor.sanitize(selectError) },
      );
    }
  }
  return redis;
}

/** Checks a user-supplied client at open(): connects it if it waits for that, and pings it. */
export async function openSuppliedClient(
  client: AnyClient,
  operationTimeoutMs: number,
  redactor: SecretRedactor,
): Promise<AnyClient> {
  if (client.status === 'end') {
    throw new PersistenceError(
      'ERR_PERSISTENCE_CONNECTION',
      'open',
      undefined,
      'RedisPersistence: the supplied Redis client has been closed',
    );
  }
  try {
    if (client.status === 'wait') await withTimeout(client.connect(), operationTimeoutMs);
    await withTimeout(client.ping(), operationTimeoutMs);
  } catch (err) {
    const reason = err === TIMEOUT ? `no answer within ${operationTimeoutMs} ms` : redactor.describe(err);
    throw new PersistenceError(
      'ERR_PERSISTENCE_CONNECTION',
      'open',
      undefined,
      `RedisPersistence: the supplied Redis client cannot reach Redis: ${reason}`,
      { cause: err === TIMEOUT ? undefined : redactor.sanitize(err) },
    );
  }
  return client;
}

/** What a store error message names: the hash, and how the store reaches Redis. */
export interface ErrorContext {
  hash: string | undefined;
  operationTimeoutMs: number;
  redactor: SecretRedactor;
  /** 'the supplied client', or `Redis at ${describeTarget(...)}`. */
  peer: string;
  lastError: Error | undefined;
}

/** A failed Redis command as a PersistenceError: timeout, unreachable, refused (with an ACL hint). */
export function storeError(ctx: ErrorContext, op: string, key: string | undefined, err: unknown): PersistenceError {
  if (err instanceof PahoMqttRedisError) return err as PersistenceError;
  const { redactor } = ctx;
  const what =
    key === undefined ? `Redis ${op} on hash '${ctx.hash}'` : `Redis ${op} of key '${key}' in hash '${ctx.hash}'`;
  if (err === TIMEOUT || (err instanceof Error && err.message === TIMED_OUT)) {
    return new PersistenceError(
      'ERR_PERSISTENCE_TIMEOUT',
      op,
      key,
      `${what} timed out after ${ctx.operationTimeoutMs} ms`,
      { cause: err === TIMEOUT ? undefined : redactor.sanitize(err), transient: true },
    );
  }
  if (isUnreachable(err)) {
    // ioredis says "Reached the max retries per request limit": say what that means here.
    const last = ctx.lastError !== undefined ? ` (last connection error: ${redactor.describe(ctx.lastError)})` : '';
    return new PersistenceError('ERR_PERSISTENCE_STORE', op, key, `${what} failed: ${ctx.peer} is unreachable${last}`, {
      cause: redactor.sanitize(err),
      transient: true,
    });
  }
  // An EXECABORT says only that queued commands failed: name the first of those failures.
  const previous = (err as { previousErrors?: unknown[] } | undefined)?.previousErrors?.[0];
  const reason = redactor.describe(err) + (previous !== undefined ? ` (${redactor.describe(previous)})` : '');
  const hint = /NOPERM/.test(reason)
    ? ' (the Redis ACL user lacks this command or this key: check its command list and key pattern, and options.keyPrefix)'
    : '';
  return new PersistenceError('ERR_PERSISTENCE_STORE', op, key, `${what} failed: ${reason}${hint}`, {
    cause: redactor.sanitize(err),
    transient: isTransient(err),
  });
}

/**
 * One store's connection to Redis: made at connect() (its own client, or the supplied one
 * checked), dropped at close() (a supplied client is left open), ref'd or unref'd, and the
 * deadline and error wording of every command sent on it.
 */
export class RedisConnection {
  /** Set when the user client has no commandTimeout of its own that is short enough. */
  private readonly wrapTimeout: boolean;
  private redis: AnyClient | undefined;
  private connecting: Promise<AnyClient> | undefined;
  /** Bumped by close(), so a connect() that was under way meanwhile does not resurrect the store. */
  private epoch = 0;
  private lastError: Error | undefined;
  private refSockets = true;

  constructor(
    private readonly target: ConnectionTarget,
    private readonly userClient: AnyClient | undefined,
  ) {
    const ownTimeout = (userClient as { options?: { commandTimeout?: unknown } } | undefined)?.options?.commandTimeout;
    this.wrapTimeout =
      userClient !== undefined &&
      !(typeof ownTimeout === 'number' && ownTimeout > 0 && ownTimeout <= target.operationTimeoutMs);
  }

  /** The client between a successful connect() and close(). */
  get client(): AnyClient | undefined {
    return this.redis;
  }

  /** Connects once; concurrent calls share the attempt. Rejects if close() runs meanwhile. */
  async connect(): Promise<void> {
    if (this.redis !== undefined) return;
    const epoch = this.epoch;
    if (this.connecting === undefined) {
      this.connecting =
        this.userClient !== undefined
          ? openSuppliedClient(this.userClient, this.target.operationTimeoutMs, this.target.redactor)
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

  /** Whether the store's own connection keeps the process alive; a supplied client is left alone. */
  setRef(refed: boolean): void {
    this.refSockets = refed;
    this.applyRef(this.redis);
  }

  async close(): Promise<void> {
    const redis = this.redis;
    this.epoch += 1;
    this.redis = undefined;
    if (redis === undefined || redis === this.userClient) return;
    try {
      await withTimeout(redis.quit(), this.target.operationTimeoutMs);
    } catch {
      // Unreachable Redis: don't wait for it.
    } finally {
      redis.disconnect();
    }
  }

  /** Bounds a command when the user-supplied client has no suitable commandTimeout. */
  bound<T>(p: Promise<T>): Promise<T> {
    return this.wrapTimeout ? withTimeout(p, this.target.operationTimeoutMs) : p;
  }

  /** An error without secrets, to keep as a `cause`. */
  sanitize(err: unknown): unknown {
    return this.target.redactor.sanitize(err);
  }

  /** A failed command on hash `hash` as a PersistenceError (see storeError). */
  storeError(hash: string | undefined, op: string, key: string | undefined, err: unknown): PersistenceError {
    const peer = this.userClient !== undefined ? 'the supplied client' : `Redis at ${describeTarget(this.target)}`;
    const { operationTimeoutMs, redactor } = this.target;
    return storeError({ hash, operationTimeoutMs, redactor, peer, lastError: this.lastError }, op, key, err);
  }

  private connectOwn(): Promise<Redis> {
    this.lastError = undefined;
    return connectOwnClient(
      this.target,
      (err) => (this.lastError = err),
      (redis) => this.applyRef(redis),
    );
  }

  private applyRef(redis: AnyClient | undefined): void {
    if (redis === undefined || redis === this.userClient) return;
    const stream = (redis as unknown as { stream?: { ref?(): void; unref?(): void } }).stream;
    if (this.refSockets) stream?.ref?.();
    else stream?.unref?.();
  }
}
