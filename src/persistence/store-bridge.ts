/**
 * Binds a ClientPersistence (any store) to a native PersistenceBridge: every Paho
 * persistence callback arrives here as `dispatch`, runs the store method, and settles the
 * waiting C thread. Failures are reported as PersistenceErrors, never lost.
 */
import { PersistenceError, type PersistenceErrorCode } from '../errors';
import { native, type NativeOpIndex, type NativePersistenceBridge } from '../native';
import {
  DEFAULT_OPERATION_TIMEOUT_MS,
  assertClientPersistence,
  type ClientPersistence,
  type PersistenceOp,
  PERSISTENCE_OPS,
} from './client-persistence';

export interface StoreBridgeOptions {
  /** How long a Paho thread waits for the store (default: the store's own operationTimeoutMs, else 5000). */
  operationTimeoutMs?: number;
  /** Hears every failure. */
  onFailure: (error: PersistenceError) => void;
  /**
   * Failures of `c-` puts are not reported: the client that queued the command rejects
   * that publish with them instead (Paho itself swallows them). They wait in `claimed`.
   */
  claimCommandPuts?: boolean;
}

const COMMAND_KEY = /^c5?-/;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function timeoutOf(store: ClientPersistence, given: number | undefined): number {
  const own = (store as { operationTimeoutMs?: unknown }).operationTimeoutMs;
  const timeout = given ?? (typeof own === 'number' ? own : DEFAULT_OPERATION_TIMEOUT_MS);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3_600_000) {
    throw new RangeError(`operationTimeoutMs must be an integer from 1 to 3600000, got ${String(timeout)}`);
  }
  return timeout;
}

export class StoreBridge {
  readonly native: NativePersistenceBridge;
  readonly timeoutMs: number;
  private readonly claimed = new Map<string, PersistenceError>();
  private closed = false;

  constructor(
    readonly store: ClientPersistence,
    private readonly options: StoreBridgeOptions,
  ) {
    assertClientPersistence(store);
    this.timeoutMs = timeoutOf(store, options.operationTimeoutMs);
    this.native = new native.PersistenceBridge(
      (id, op, key, data, clientId, serverURI) => this.dispatch(id, op, key, data, clientId, serverURI),
      (op, key, code, message) =>
        this.report(new PersistenceError(code as PersistenceErrorCode, op, key || undefined, message)),
      this.timeoutMs,
    );
  }

  /** The failure of a `c-` put claimed for the publish that queued it (see claimCommandPuts). */
  takeClaimed(key: string): PersistenceError | undefined {
    const error = this.claimed.get(key);
    this.claimed.delete(key);
    return error;
  }

  /** Stops forwarding: Paho's later callbacks fail at once. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }

  private dispatch(
    id: number,
    op: NativeOpIndex,
    key: string,
    data: Buffer | undefined,
    clientId?: string,
    serverURI?: string,
  ): void {
    const name = PERSISTENCE_OPS[op];
    let result: unknown;
    try {
      result = this.invoke(name, key, data, clientId, serverURI);
    } catch (error) {
      this.fail(id, name, key, error);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.native.settle(id, value),
        (error: unknown) => this.fail(id, name, key, error),
      );
    } else {
      this.native.settle(id, result);
    }
  }

  private invoke(
    op: PersistenceOp,
    key: string,
    data: Buffer | undefined,
    clientId?: string,
    serverURI?: string,
  ): unknown {
    const store = this.store;
    switch (op) {
      case 'open':
        return store.open(clientId ?? '', serverURI ?? '');
      case 'close':
        return store.close();
      case 'put':
        return store.put(key, data as Buffer);
      case 'get':
        return store.get(key);
      case 'remove':
        return store.remove(key);
      case 'keys':
        return store.keys();
      case 'clear':
        return store.clear();
      case 'containsKey':
        return store.containsKey(key);
    }
  }

  private fail(id: number, op: PersistenceOp, key: string, error: unknown): void {
    const failure =
      error instanceof PersistenceError
        ? error
        : new PersistenceError(
            'ERR_PERSISTENCE_STORE',
            op,
            key || undefined,
            `store ${op}(${key ? `'${key}'` : ''}) failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    // A late failure (the C thread already gave up) was reported as a timeout already.
    if (!this.native.fail(id, failure.message)) return;
    // An open failure fails the create that Paho runs it for: that create rejects with it (code and cause kept).
    if (this.options.claimCommandPuts && (op === 'open' || (op === 'put' && COMMAND_KEY.test(key)))) {
      this.claimed.set(key, failure);
      return;
    }
    this.report(failure);
  }

  private report(error: PersistenceError): void {
    this.options.onFailure(error);
  }
}
