/** The store bridge's options, and how they default to the store's own settings. */
import type { PersistenceError } from '../../errors';
import { DEFAULT_OPERATION_TIMEOUT_MS, type ClientPersistence, type Durability } from '../client-persistence';

export const DEFAULT_MAX_QUEUED_OPS = 10_000;
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

export interface StoreBridgeOptions {
  /** How long a Paho thread waits for the store (default: the store's own operationTimeoutMs, else 5000). */
  operationTimeoutMs?: number;
  /** Default: the store's own `durability`, else 'batched'. */
  durability?: Durability;
  /** Bounds of the operation log (default: the store's own, else 10,000 ops and 64 MiB). */
  maxQueuedOps?: number;
  maxQueuedBytes?: number;
  /**
   * 'disconnect': an acknowledgement whose record is not stored is held back until it is,
   * outages included (see CreateOptions.onStoreUnavailable). Default 'continue'.
   */
  onStoreUnavailable?: 'continue' | 'disconnect';
  /** Hears every failure. */
  onFailure: (error: PersistenceError) => void;
  /** Outbox entries whose move (the write carrying outboxRemove) failed: they are still in the outbox. */
  onOutboxMovesFailed?: (ids: string[]) => void;
  /** Runs after the store opened, before Paho lists its records (the outbox's upgrade). */
  afterOpen?: () => Promise<unknown>;
  /** A failed open is not reported: the create it fails rejects with it (takeClaimed). */
  claimOpenFailure?: boolean;
  /**
   * Check the records at restore (see restore-check.ts) and hold failures from open until
   * endRestore(). `mqttVersion` is the client's: an MQTT 3 client refuses MQTT 5 records.
   */
  checkRestore?: { mqttVersion: number };
}

/** What the native bridge is built with. */
export interface ResolvedBridgeOptions {
  operationTimeoutMs: number;
  durability: Durability;
  maxQueuedOps: number;
  maxQueuedBytes: number;
  /** The store's batchesInFlight (default 1). */
  batchesInFlight: number;
  onStoreUnavailable: 'continue' | 'disconnect';
}

function own<T>(store: ClientPersistence, name: string): T | undefined {
  return (store as unknown as Record<string, T | undefined>)[name];
}

function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Each option: given here, else the store's own property of that name, else the default. */
export function resolveBridgeOptions(store: ClientPersistence, options: StoreBridgeOptions): ResolvedBridgeOptions {
  const timeout =
    options.operationTimeoutMs ?? own<number>(store, 'operationTimeoutMs') ?? DEFAULT_OPERATION_TIMEOUT_MS;
  const durability = options.durability ?? own<Durability>(store, 'durability') ?? 'batched';
  if (durability !== 'batched' && durability !== 'sync') {
    throw new RangeError(`durability must be 'batched' or 'sync', got ${String(durability)}`);
  }
  const onStoreUnavailable = options.onStoreUnavailable ?? 'continue';
  if (onStoreUnavailable !== 'continue' && onStoreUnavailable !== 'disconnect') {
    throw new RangeError(`onStoreUnavailable must be 'continue' or 'disconnect', got ${String(onStoreUnavailable)}`);
  }
  return {
    onStoreUnavailable,
    operationTimeoutMs: integerIn('operationTimeoutMs', timeout, 1, 3_600_000),
    durability,
    maxQueuedOps: integerIn(
      'maxQueuedOps',
      options.maxQueuedOps ?? own<number>(store, 'maxQueuedOps') ?? DEFAULT_MAX_QUEUED_OPS,
      1,
      1e9,
    ),
    maxQueuedBytes: integerIn(
      'maxQueuedBytes',
      options.maxQueuedBytes ?? own<number>(store, 'maxQueuedBytes') ?? DEFAULT_MAX_QUEUED_BYTES,
      1024,
      1e12,
    ),
    // Without batch() the writes go one by one, each awaited: two batches at once would interleave.
    batchesInFlight:
      typeof store.batch === 'function'
        ? integerIn('batchesInFlight', own<number>(store, 'batchesInFlight') ?? 1, 1, 64)
        : 1,
  };
}
