/**
 * Binds a ClientPersistence (any store) to a native StoreBridge. Paho's writes reach
 * the store as ordered batches from the native operation log (group commit: `applyBatch`);
 * reads and the other calls arrive one by one as `dispatch`, and settle the waiting C
 * thread. Failures are reported as PersistenceErrors, never lost.
 */
import { PersistenceError, type PersistenceErrorCode } from '../../errors';
import {
  native,
  type NativeBatch,
  type NativeBridgeStats,
  type NativeDispatch,
  type NativeStoreBridge,
} from '../../native';
import {
  assertClientPersistence,
  type ClientPersistence,
  type Durability,
  type PersistenceOp,
  PERSISTENCE_OPS,
} from '../client-persistence';
import { RestoreCheck } from './restore-check';
import { isHeldFailure, outageMessage, recover, within } from './outage';
import { type LogBatch, WriteFailure, applyBatch, causeOf, decodeBatch, isThenable } from './apply-batch';
import { resolveBridgeOptions, type StoreBridgeOptions } from './options';
import { FlushTracker } from './flush-tracker';

export { DEFAULT_MAX_QUEUED_OPS, DEFAULT_MAX_QUEUED_BYTES, type StoreBridgeOptions } from './options';

/** What happened while Paho restored from the store (see StoreBridge.endRestore). */
export interface RestoreOutcome {
  /** Store failures during restore: records may have been left behind, so create() must fail. */
  failures: PersistenceError[];
  /** One ERR_PERSISTENCE_CORRUPT per damaged record set aside. */
  quarantined: PersistenceError[];
}

/** Bridge counters: what reached the store, and what the log and the key ledger spared. */
export type StoreBridgeStats = NativeBridgeStats;

export class StoreBridge {
  readonly native: NativeStoreBridge;
  readonly operationTimeoutMs: number;
  readonly durability: Durability;
  /** onStoreUnavailable 'disconnect': acknowledgements wait for their records through outages. */
  private readonly holdsAcks: boolean;
  private closed = false;
  /** From open until endRestore(): the records are checked, and failures held for create(). */
  private restore: RestoreCheck | undefined;
  private restoreFailures: PersistenceError[] = [];
  /** A failed open, for the create that rejects with it. */
  private claimedOpen: PersistenceError | undefined;
  /** The failure of the batch being settled: native code reports it synchronously, with this cause. */
  /** The failures of batches being settled, by batch id: the cause of native code's report. */
  private readonly failedBatches = new Map<number, PersistenceError>();
  /** Waiting flushes, and the keys whose last write failed: the store does not hold what the log says for them. */
  private readonly flushes: FlushTracker;
  /** Set while the store does not answer (see outage.ts): what flushes reject with meanwhile. */
  private outage: PersistenceError | undefined;

  constructor(
    readonly store: ClientPersistence,
    private readonly options: StoreBridgeOptions,
  ) {
    assertClientPersistence(store);
    const { operationTimeoutMs, durability, maxQueuedOps, maxQueuedBytes, onStoreUnavailable } = resolveBridgeOptions(
      store,
      options,
    );
    this.holdsAcks = onStoreUnavailable === 'disconnect';
    this.operationTimeoutMs = operationTimeoutMs;
    this.durability = durability;
    this.native = new native.StoreBridge(
      (id, op, key, data, clientId, serverURI) => this.dispatch(id, op, key, data, clientId, serverURI),
      (batch) => this.runBatches(decoded(batch)),
      (op, key, code, message, batchId) => {
        const batchFailure = this.failedBatches.get(batchId);
        this.report(
          new PersistenceError(
            code as PersistenceErrorCode,
            op,
            key || undefined,
            message,
            batchFailure && { cause: batchFailure.cause ?? batchFailure },
          ),
        );
      },
      { operationTimeoutMs, durability, maxQueuedOps, maxQueuedBytes, onStoreUnavailable },
    );
    this.flushes = new FlushTracker(this.native);
  }

  /**
   * The PersistenceError (with its cause) of a failed open, which the create it fails rejects
   * with: native code tells the client only the code and message.
   */
  takeClaimed(failure: { op: string; message: string }): PersistenceError | undefined {
    if (failure.op !== 'open') return undefined;
    const open = this.claimedOpen;
    this.claimedOpen = undefined;
    return open;
  }

  stats(): StoreBridgeStats {
    return this.native.stats();
  }

  /**
   * Resolves once every write logged up to `target` (a log position; see client.flush()) is
   * stored. Rejects with the failure of a write up to `target` whose key no later write stored
   * since: every flush does, until Paho writes or removes that key again successfully.
   */
  waitSettled(target: number): Promise<void> {
    // Closed, or the store unavailable: a flush that would wait rejects now, not when the store answers.
    return this.flushes.wait(target, this.closed ? this.closedError() : this.outage);
  }

  /** Resolves once every write logged so far is settled (see waitSettled). */
  flush(): Promise<void> {
    return this.waitSettled(this.native.loggedSeq);
  }

  /** Ends the restore phase (create() answered) and tells what happened during it. */
  endRestore(): RestoreOutcome {
    const outcome = { failures: this.restoreFailures, quarantined: this.restore?.quarantined ?? [] };
    this.restore = undefined;
    this.restoreFailures = [];
    return outcome;
  }

  /** Stops forwarding: Paho's later callbacks fail at once. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    this.flushes.rejectAll(this.closedError());
  }

  private closedError(): PersistenceError {
    return new PersistenceError('ERR_PERSISTENCE_CLOSING', 'flush', undefined, 'the persistence bridge is closed');
  }

  // ---- writes: batches from the operation log, applied in order, one at a time ----

  /** Applies `batch` and every batch that is ready when it settles, without recursion. */
  private runBatches(first: LogBatch | undefined): void {
    let batch = first;
    while (batch !== undefined) {
      let result: unknown;
      try {
        result = applyBatch(this.store, batch);
      } catch (error) {
        batch = this.batchFailed(batch, error);
        continue;
      }
      if (isThenable(result)) {
        const applied = batch;
        const timer = setTimeout(() => {
          const error = new PersistenceError(
            'ERR_PERSISTENCE_TIMEOUT',
            'batch',
            undefined,
            `the store did not apply a batch of writes within ${this.operationTimeoutMs} ms`,
          );
          settle(error);
        }, this.operationTimeoutMs);
        let settled = false;
        const settle = (error?: unknown): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.runBatches(error === undefined ? this.settleBatch(applied) : this.batchFailed(applied, error));
        };
        result.then(
          () => settle(),
          (error: unknown) => settle(error ?? new Error('rejected')),
        );
        return;
      }
      batch = this.settleBatch(batch);
    }
    this.flushes.wake(this.outage);
  }

  /**
   * A batch failed: fail it when the store definitely refused it (the next batch, if ready, is
   * returned), or hold it as an outage (undefined: the drainer waits for the recovery) when the
   * store does not answer or refused it only for now (a transient error, see isHeldFailure).
   */
  private batchFailed(batch: LogBatch, error: unknown): LogBatch | undefined {
    if (this.closed) return this.settleBatch(batch, error);
    const failure = this.toPersistenceError('batch', undefined, causeOf(error));
    if (isHeldFailure(failure)) {
      this.hold(batch, failure);
      return undefined;
    }
    const store = this.store;
    if (typeof store.probe !== 'function') return this.settleBatch(batch, error);
    // Did the store refuse these writes, or is it gone? A refusal fails the batch; gone holds it.
    const probing = Promise.resolve().then(() => store.probe!());
    within(probing, this.operationTimeoutMs, 'the store (probe)').then(
      () => this.runBatches(this.settleBatch(batch, error)),
      () => this.hold(batch, failure),
    );
    return undefined;
  }

  /** Holds `batch` until the store answers again; meanwhile no Paho thread waits for the store. */
  private hold(batch: LogBatch, failure: PersistenceError): void {
    if (this.closed) return;
    this.native.markUnavailable(failure.message);
    this.outage = new PersistenceError(
      'ERR_PERSISTENCE_UNAVAILABLE',
      'batch',
      undefined,
      outageMessage(failure, this.holdsAcks),
      { cause: failure },
    );
    this.report(this.outage);
    this.flushes.wake(this.outage);
    const store = this.store;
    void recover({
      probe: typeof store.probe === 'function' ? () => store.probe!() : undefined,
      retry: () => applyBatch(this.store, batch),
      timedOut: (error) =>
        this.toPersistenceError('batch', undefined, causeOf(error)).code === 'ERR_PERSISTENCE_TIMEOUT',
      transient: (error) => isHeldFailure(this.toPersistenceError('batch', undefined, causeOf(error))),
      operationTimeoutMs: this.operationTimeoutMs,
      closed: () => this.closed,
    }).then((error) => {
      if (error === 'closed') return;
      this.outage = undefined;
      this.runBatches(this.settleBatch(batch, error));
    });
  }

  private settleBatch(batch: LogBatch, error?: unknown): LogBatch | undefined {
    const { id, writes, firstSeq } = batch;
    if (error === undefined) {
      this.flushes.batchSettled(writes, writes.length, firstSeq);
      const next = decoded(this.native.settleBatch(id));
      this.flushes.wake(this.outage);
      return next;
    }
    const failedAt = error instanceof WriteFailure ? error.index : 0;
    const cause = causeOf(error);
    const failure = this.toPersistenceError('batch', undefined, cause);
    this.flushes.batchSettled(writes, failedAt, firstSeq, failure);
    const moves = writes.slice(failedAt).flatMap((write) => write.outboxRemove ?? []);
    if (moves.length) this.options.onOutboxMovesFailed?.(moves);
    // Native code reports it (once per batch).
    let next: LogBatch | undefined;
    this.failedBatches.set(id, failure);
    try {
      next = decoded(this.native.settleBatch(id, failure.code, failure.message, failedAt));
    } finally {
      this.failedBatches.delete(id);
    }
    this.flushes.wake(this.outage);
    return next;
  }

  // ---- everything else: one call at a time, a C thread waiting ----

  private dispatch(...[id, op, key, data, clientId, serverURI]: Parameters<NativeDispatch>): void {
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
        if (this.options.checkRestore) this.restore = new RestoreCheck(store, this.options.checkRestore.mqttVersion);
        return this.options.afterOpen === undefined
          ? store.open(clientId ?? '', serverURI ?? '')
          : Promise.resolve(store.open(clientId ?? '', serverURI ?? '')).then(this.options.afterOpen);
      case 'close':
        return store.close();
      case 'put':
        return store.put(key, data as Buffer);
      case 'get':
        return store.get(key);
      case 'remove':
        return store.remove(key);
      case 'keys':
        return this.restore !== undefined ? this.restore.keys() : store.keys();
      case 'clear':
        return store.clear();
      case 'containsKey':
        return store.containsKey(key);
    }
  }

  private toPersistenceError(op: string, key: string | undefined, error: unknown): PersistenceError {
    if (error instanceof PersistenceError) return error;
    const target = key ? `'${key}'` : '';
    return new PersistenceError(
      'ERR_PERSISTENCE_STORE',
      op,
      key || undefined,
      `store ${op}(${target}) failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }

  private fail(id: number, op: PersistenceOp, key: string, error: unknown): void {
    const failure = this.toPersistenceError(op, key, error);
    // A late failure (the C thread already gave up) was reported as a timeout already.
    if (!this.native.fail(id, failure.message)) return;
    // An open failure fails the create that Paho runs it for: that create rejects with it (code and cause kept).
    if (op === 'open' && this.options.claimOpenFailure) {
      this.claimedOpen = failure;
      return;
    }
    this.report(failure);
  }

  private report(error: PersistenceError): void {
    // During restore no listener can exist yet: create() fails with these instead.
    if (this.restore !== undefined) {
      this.restoreFailures.push(error);
      return;
    }
    this.options.onFailure(error);
  }
}

function decoded(batch: NativeBatch | undefined): LogBatch | undefined {
  return batch === undefined ? undefined : decodeBatch(batch);
}
