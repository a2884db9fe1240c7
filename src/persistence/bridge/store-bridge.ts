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
import {
  ChainFailure,
  WriteFailure,
  applyInOrder,
  causeOf,
  isThenable,
  startBatch,
  type InFlightBatch,
} from './apply-batch';
import { decodeBatch, type LogBatch } from './decode-batch';
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
  /** The failures of batches being settled, by batch id: the cause of native code's report. */
  private readonly failedBatches = new Map<number, PersistenceError>();
  /** Waiting flushes, and the keys whose last write failed: the store does not hold what the log says for them. */
  private readonly flushes: FlushTracker;
  /** Set while the store does not answer (see outage.ts): what flushes reject with meanwhile. */
  private outage: PersistenceError | undefined;
  /** Batches handed to the store (or waiting to be), oldest first: they settle in this order. */
  private readonly inFlight: InFlightBatch[] = [];
  /** The oldest batch failed and waits for a probe or the store's return: nothing after it starts or settles. */
  private stalled = false;
  /** settleReady is running (a batch that ends meanwhile is settled by its loop). */
  private settling = false;

  constructor(
    readonly store: ClientPersistence,
    private readonly options: StoreBridgeOptions,
  ) {
    assertClientPersistence(store);
    const { operationTimeoutMs, durability, maxQueuedOps, maxQueuedBytes, batchesInFlight, onStoreUnavailable } =
      resolveBridgeOptions(store, options);
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
      { operationTimeoutMs, durability, maxQueuedOps, maxQueuedBytes, batchesInFlight, onStoreUnavailable },
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

  // ---- writes: batches from the operation log, applied in order, settled in order ----

  /**
   * A batch handed over by native code: applied at once (as many may be in flight as the store's
   * batchesInFlight), unless a batch before it failed (its failure is decided in its turn) or
   * waits for a decision (a probe, an outage): then it waits too, so that nothing reaches the
   * store beside or before them.
   */
  private runBatches(batch: LogBatch | undefined): void {
    if (batch !== undefined) this.enqueue(batch);
    this.settleReady();
  }

  private enqueue(batch: LogBatch): void {
    this.inFlight.push({ batch, started: false, done: false, error: undefined });
    this.startWaiting();
  }

  /** Hands the batches that wait to the store, in order, up to the first that failed. */
  private startWaiting(): void {
    if (this.stalled) return;
    for (const entry of this.inFlight) {
      if (!entry.started) this.start(entry);
      if (entry.done && entry.error !== undefined) return;
    }
  }

  /** Hands `entry` to the store; its end is noted, and settled in its turn (settleReady). */
  private start(entry: InFlightBatch): void {
    startBatch(this.store, entry, this.operationTimeoutMs, () => this.settleReady());
  }

  /**
   * Settles the batches whose store call ended, strictly in order (a later one that ended first
   * waits for the ones before it); applies the batches native code hands over meanwhile. Loops
   * instead of recursing (a synchronous store settles each batch at once).
   */
  private settleReady(): void {
    if (this.settling) return; // the loop below picks it up
    this.settling = true;
    try {
      while (!this.stalled && this.inFlight.length > 0 && this.inFlight[0].done) {
        const entry = this.inFlight[0];
        const next = entry.error === undefined ? this.settleHead() : this.batchFailed(entry.error);
        if (next !== undefined) this.enqueue(next);
        else this.startWaiting(); // a failed batch settled: the ones it kept back leave
      }
    } finally {
      this.settling = false;
    }
    this.flushes.wake(this.outage);
  }

  /** The oldest batch was applied. */
  private settleHead(error?: unknown): LogBatch | undefined {
    const entry = this.inFlight.shift()!;
    return this.settleBatch(entry.batch, error);
  }

  /**
   * The oldest batch failed: fail it when the store definitely refused it (the next batch, if
   * ready, is returned), or hold it and every later batch as an outage (undefined: applied again,
   * in order, once the store answers) when the store does not answer or refused it only for now
   * (a transient error, see isHeldFailure).
   */
  private batchFailed(error: unknown): LogBatch | undefined {
    if (this.closed) return this.settleHead(error);
    const failure = this.toPersistenceError('batch', undefined, causeOf(error));
    if (isHeldFailure(failure)) {
      this.hold(failure);
      return undefined;
    }
    const store = this.store;
    if (typeof store.probe !== 'function') return this.settleHead(error);
    // Did the store refuse these writes, or is it gone? A refusal fails the batch; gone holds it.
    this.stalled = true;
    const probing = Promise.resolve().then(() => store.probe!());
    within(probing, this.operationTimeoutMs, 'the store (probe)').then(
      () => {
        const next = this.settleHead(error);
        if (next !== undefined) this.inFlight.push({ batch: next, started: false, done: false, error: undefined });
        this.resume();
      },
      () => this.hold(failure),
    );
    return undefined;
  }

  /**
   * Holds the oldest batch and every batch after it until the store answers again; meanwhile no
   * Paho thread waits for the store. The later ones may or may not have been applied: all are
   * applied again, in order (whole-value puts and removes: idempotent).
   */
  private hold(failure: PersistenceError): void {
    this.stalled = true;
    if (this.closed) return;
    const chain = this.inFlight.splice(0).map((entry) => entry.batch);
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
      retry: () => applyInOrder(this.store, chain),
      timedOut: (error) =>
        this.toPersistenceError('batch', undefined, causeOf(error)).code === 'ERR_PERSISTENCE_TIMEOUT',
      transient: (error) => isHeldFailure(this.toPersistenceError('batch', undefined, causeOf(error))),
      operationTimeoutMs: this.operationTimeoutMs,
      closed: () => this.closed,
    }).then((error) => {
      if (error === 'closed') return;
      this.outage = undefined;
      // Applied up to the first that the store refused for good (if any): that one fails, the
      // ones after it are applied again in their turn.
      const failedAt = error instanceof ChainFailure ? error.index : error === undefined ? chain.length : 0;
      const handed: LogBatch[] = [];
      for (let i = 0; i < chain.length && i <= failedAt; i++) {
        const next = this.settleBatch(
          chain[i],
          i === failedAt ? (error instanceof ChainFailure ? error.error : error) : undefined,
        );
        if (next !== undefined) handed.push(next);
      }
      const waiting = (batch: LogBatch): InFlightBatch => ({ batch, started: false, done: false, error: undefined });
      // Older than anything handed over during the outage: first.
      this.inFlight.unshift(...chain.slice(failedAt + 1).map(waiting));
      this.inFlight.push(...handed.map(waiting));
      this.resume();
    });
  }

  /** The batches before are decided: apply the ones that waited, in order, and settle what ended. */
  private resume(): void {
    this.stalled = false;
    this.startWaiting();
    this.settleReady();
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
