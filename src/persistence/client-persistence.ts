/**
 * The store interface Paho C's persistence is forwarded to. It mirrors Paho's eight
 * `MQTTClient_persistence` callbacks; every method may answer with a value or a Promise of it.
 *
 * Contract (the native bridge relies on it):
 * - `get` of a missing key rejects/throws; `remove` of a missing key succeeds.
 * - `keys` answers every key stored for the client opened last, and nothing else.
 * - Values are opaque bytes; a store must give back exactly what it was given.
 */
import { invalidArg } from '../errors';

/** How long a store operation (and a Paho thread waiting for it) may take, unless a store says otherwise. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 5000;

export type MaybePromise<T> = T | Promise<T>;

/** One write of a batch: `data` set is a put, `data` undefined a remove. */
export interface PersistenceWrite {
  readonly key: string;
  readonly data: Buffer | undefined;
  /**
   * The outbox entry this write moves into Paho (a `c-N` put, or the remove that cancelled
   * it): removed from the outbox in the same unit as the write (see OutboxStore).
   */
  readonly outboxRemove?: string;
}

/** What the bridge knows about a batch's writes (ClientPersistence.batch's second argument). */
export interface BatchShape {
  /** No key occurs twice among the writes, so each write is its key's final state (false: unknown). */
  readonly distinctKeys: boolean;
}

/** One outbox entry: a client-chosen id (increasing decimal digits) and its encoded message. */
export interface OutboxEntry {
  readonly id: string;
  readonly data: Buffer;
}

/** One queued command record handed to the outbox at an upgrade (see outbox-upgrade.ts). */
export interface OutboxAdoption {
  /** The `c-N`/`c5-N` record to remove from Paho's records. */
  readonly key: string;
  /** The outbox entry that replaces it. */
  readonly entry: OutboxEntry;
}

/** The outbox's size, for stats and tests. */
export interface OutboxStats {
  /** Entries waiting in the outbox. */
  length: number;
  /** Their stored bytes, from the store's account (a store with `outboxLimits`). */
  bytes?: number;
}

/** Caps an append honours (see OutboxStore.outboxLimits): 0 or undefined, no cap. */
export interface OutboxLimits {
  maxMessages?: number;
  maxBytes?: number;
  /** 'rejectNew': an entry that does not fit is not appended; 'dropOldest': older entries make room. */
  onFull: 'rejectNew' | 'dropOldest';
  /** Entries 'dropOldest' must not remove (handed to Paho, or about to be). */
  keep: readonly string[];
}

/** What an append under limits did, and the account after it. */
export interface OutboxAppendResult {
  /** Ids of the entries not appended for want of room. */
  rejected: string[];
  /** Entries removed to make room ('dropOldest'), oldest first; possibly ones of this append. */
  dropped: OutboxEntry[];
  length: number;
  bytes: number;
}

/** The outbox clock as last checkpointed (see src/client/outbox-clock.ts). */
export interface OutboxClockCheckpoint {
  /** The outbox clock's reading, ms. */
  outboxMs: number;
  /** The wall clock (Date.now()) at that moment. */
  wallMs: number;
}

/**
 * Optional: the outbox (client.enqueue(), see docs/persistence.md). A store with all five
 * methods (and batch(), which removes a moved entry with its `c-N` put) holds a FIFO of
 * messages apart from Paho's records: keys() never lists outbox entries.
 */
export interface OutboxStore {
  /**
   * Appends entries in order; ids increase and are never reused (see outboxLastId). With
   * `limits` (a store with `outboxLimits`), caps are applied in the same atomic unit as the
   * append and the account is answered.
   */
  outboxAppend(entries: readonly OutboxEntry[], limits?: OutboxLimits): MaybePromise<void | OutboxAppendResult>;
  /** Up to `count` entries after `afterId` (from the head when undefined), oldest first. */
  outboxRead(afterId: string | undefined, count: number): MaybePromise<OutboxEntry[]>;
  /** Removes entries by id; ids not present are ignored. */
  outboxRemove(ids: readonly string[]): MaybePromise<void>;
  /** The highest id ever appended (even if removed since), or undefined if none. */
  outboxLastId(): MaybePromise<string | undefined>;
  outboxStats(): MaybePromise<OutboxStats>;
  /**
   * Optional: moves queued command records into the outbox, in order; each move (remove the
   * record, append its entry) atomic on its own. Without it, an upgraded client's backlog of
   * `c-` records stays with Paho.
   */
  outboxAdopt?(moves: readonly OutboxAdoption[]): MaybePromise<void>;
  /**
   * False when batch() does not apply a move atomically (RedisPersistence with ackReplicas):
   * a crash can then leave a message in both places, so QoS 2 enqueue() is refused.
   */
  readonly outboxAtomicMoves?: boolean;
  /**
   * True when the store keeps an account of the outbox's bytes, updated in the same atomic
   * unit as every append, removal and move (so outboxStats() has `bytes`), applies
   * OutboxLimits in outboxAppend, and keeps the outbox clock's checkpoint. Caps and time to
   * live need it.
   */
  readonly outboxLimits?: boolean;
  /** The maxBytes to use when the application sets none (RedisPersistence: from maxmemory). */
  readonly outboxDefaultMaxBytes?: number;
  /**
   * With outboxLimits: the outbox clock's last checkpoint, undefined if none. A checkpoint is kept
   * across close and open while the outbox holds entries; with an empty outbox a store may drop it
   * at close (nothing is dated on it then).
   */
  outboxReadClock?(): MaybePromise<OutboxClockCheckpoint | undefined>;
  /** With outboxLimits: stores a checkpoint of the outbox clock. */
  outboxWriteClock?(checkpoint: OutboxClockCheckpoint): MaybePromise<void>;
}

/** The outbox methods, as named in ERR_OUTBOX_UNSUPPORTED. */
export const OUTBOX_METHODS: readonly (keyof OutboxStore)[] = [
  'outboxAppend',
  'outboxRead',
  'outboxRemove',
  'outboxLastId',
  'outboxStats',
];

/** The outbox methods `store` lacks (batch() included: the move needs it). */
export function missingOutboxMethods(store: ClientPersistence): string[] {
  const methods = [...OUTBOX_METHODS, 'batch'];
  return methods.filter((m) => typeof (store as unknown as Record<string, unknown>)[m] !== 'function');
}

/**
 * How Paho's writes reach the store. 'batched': written behind, in order, as batches; only
 * the writes a crash could not otherwise recover from make Paho wait (see docs/persistence.md);
 * `client.flush()` says when everything so far is stored. 'sync': every write waits for the store.
 */
export type Durability = 'batched' | 'sync';

export interface ClientPersistence extends Partial<OutboxStore> {
  /** Called once per client before any other call; names the keyspace to use. */
  open(clientId: string, serverURI: string): MaybePromise<void>;
  /** Called when the client is destroyed; the store may release its connections. */
  close(): MaybePromise<void>;
  put(key: string, data: Buffer): MaybePromise<void>;
  get(key: string): MaybePromise<Buffer>;
  remove(key: string): MaybePromise<void>;
  keys(): MaybePromise<string[]>;
  clear(): MaybePromise<void>;
  containsKey(key: string): MaybePromise<boolean>;
  /**
   * Optional: applies writes in the given order, as one unit if the store can (all or none
   * on a crash). Without it, the bridge calls put/remove one by one, each awaited. The
   * Buffers are the store's to keep (copies of the bridge's). A failure thrown as a
   * PersistenceError with `transient` set (the store cannot apply the writes now, but may
   * later) makes the bridge hold the batch and apply it again until it is applied. `shape`
   * says what the bridge knows of the writes (a store may ignore it).
   */
  batch?(writes: readonly PersistenceWrite[], shape?: BatchShape): MaybePromise<void>;
  /**
   * Optional: how many batch() calls the bridge may make before the first settles (1 to 64;
   * default 1: one at a time). Set it above 1 only if batch() sends its writes before it
   * returns, on one connection that applies them in call order (a store that awaits anything
   * first could apply a later batch before an earlier one). The bridge settles batches in
   * order whatever order their promises settle in. Without batch() it is always 1.
   */
  readonly batchesInFlight?: number;
  /**
   * Optional: set a damaged record aside (rename it, never delete it) so Paho does not read it
   * at restore. Without it, a damaged record makes create() fail with ERR_PERSISTENCE_CORRUPT.
   */
  quarantine?(key: string, reason: string): MaybePromise<void>;
  /** Optional: the records set aside by quarantine(), for inspection. */
  quarantined?(): MaybePromise<QuarantinedRecord[]>;
  /**
   * Optional: a cheap round trip that resolves when the store answers and rejects when it
   * cannot be reached (an error reply is an answer). After a batch failed with an error that is
   * neither a timeout nor transient, the bridge probes: if the probe fails too, the store is
   * unavailable (an outage) and the batch is held and retried once a probe answers, instead of
   * failed. Without it, only a timeout or a transient error is an outage, and the held batch
   * itself is retried as the probe.
   */
  probe?(): MaybePromise<void>;
  /** Optional: let the process exit while the store's connections are open (client.unref()). */
  unref?(): void;
  /** Optional: undo unref(). */
  ref?(): void;
}

/** A record set aside by ClientPersistence.quarantine(). */
export interface QuarantinedRecord {
  /** The key the record had. */
  key: string;
  /** The stored value, as it was (still encrypted, with an encrypting store). */
  value: Buffer;
  /** Why it was set aside. */
  reason: string;
  /** When (ms since the epoch). */
  at: number;
}

/**
 * The eight store methods Paho calls, in the order of the native op index (a dispatched call's
 * `op`). A PersistenceError's `op` is one of them, or a step of the bridge or a store: 'batch',
 * 'flush', 'probe', 'restore', 'lease', 'decrypt'...
 */
export type PersistenceOp = 'open' | 'close' | 'put' | 'get' | 'remove' | 'keys' | 'clear' | 'containsKey';

/** Indexed by NativeOpIndex: the order of the addon's persistenceOps (the C++ PersistenceOp enum). */
export const PERSISTENCE_OPS: readonly PersistenceOp[] = [
  'open',
  'close',
  'put',
  'get',
  'remove',
  'keys',
  'clear',
  'containsKey',
];

/** Throws ERR_INVALID_ARG naming the first missing method, so a bad store fails at create time. */
export function assertClientPersistence(store: unknown, what = 'persistence'): asserts store is ClientPersistence {
  if (store === null || typeof store !== 'object') {
    throw invalidArg(
      `${what} must be an object implementing ClientPersistence, got ${store === null ? 'null' : typeof store}`,
    );
  }
  for (const op of PERSISTENCE_OPS) {
    if (typeof (store as Record<string, unknown>)[op] !== 'function') {
      throw invalidArg(`${what} must implement ClientPersistence: method '${op}' is missing`);
    }
  }
}
