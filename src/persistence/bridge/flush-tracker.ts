/**
 * What flush() waits on, kept in one place: the flushes waiting for a log position, and the
 * keys whose last write failed (the TypeScript mirror of the native log's failed ranges). A
 * failed key makes every flush up to its write reject until a later write of it is stored.
 */
import { PersistenceError } from '../../errors';
import type { NativeStoreBridge } from '../../native';

interface FlushWaiter {
  target: number;
  resolve(): void;
  reject(error: PersistenceError): void;
}

/** The two readings of the native log a flush needs. */
type SettledLog = Pick<NativeStoreBridge, 'settledSeq' | 'refusedUpTo'>;

export class FlushTracker {
  /** Keys whose last write failed, with the log position of that write's batch. */
  private readonly unstored = new Map<string, { seq: number; error: PersistenceError }>();
  private waiters: FlushWaiter[] = [];

  constructor(private readonly log: SettledLog) {}

  /**
   * Resolves once every write logged up to `target` is stored; rejects with the failure of the
   * oldest of them not stored since. While `blocked` is set (the bridge is closed, or the store
   * unavailable) a flush that would have to wait rejects with it at once.
   */
  wait(target: number, blocked: PersistenceError | undefined): Promise<void> {
    if (this.log.settledSeq >= target) {
      const failed = this.unstoredUpTo(target);
      return failed ? Promise.reject(failed) : Promise.resolve();
    }
    if (blocked) return Promise.reject(blocked);
    return new Promise((resolve, reject) => this.waiters.push({ target, resolve, reject }));
  }

  /** writes[0..storedUpTo) of the batch at log position `seq` are stored; the rest failed with `error`. */
  batchSettled(writes: readonly { key: string }[], storedUpTo: number, seq: number, error?: PersistenceError): void {
    if (error === undefined && this.unstored.size === 0) return; // nothing to forget, nothing to learn
    writes.forEach(({ key }, i) => {
      if (i < storedUpTo) this.unstored.delete(key);
      else if (error !== undefined && !this.unstored.has(key)) this.unstored.set(key, { seq, error });
    });
  }

  /** Settles the flushes whose writes are settled; while `outage` is set, the others reject with it. */
  wake(outage: PersistenceError | undefined): void {
    if (this.waiters.length === 0) return;
    const settled = this.log.settledSeq;
    const still: FlushWaiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.target > settled) {
        if (outage) waiter.reject(outage);
        else still.push(waiter);
        continue;
      }
      const failed = this.unstoredUpTo(waiter.target);
      if (failed) waiter.reject(failed);
      else waiter.resolve();
    }
    this.waiters = still;
  }

  /** Every waiting flush rejects with `error` (the bridge closed). */
  rejectAll(error: PersistenceError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  /** The failure of the oldest write up to `target` that is still not stored. */
  private unstoredUpTo(target: number): PersistenceError | undefined {
    let oldest: { seq: number; error: PersistenceError } | undefined;
    for (const entry of this.unstored.values()) {
      if (entry.seq <= target && (oldest === undefined || entry.seq < oldest.seq)) oldest = entry;
    }
    if (oldest !== undefined) return oldest.error;
    const refused = this.log.refusedUpTo(target);
    if (refused === undefined) return undefined;
    return new PersistenceError(
      'ERR_PERSISTENCE_UNAVAILABLE',
      'flush',
      refused,
      `a write of '${refused}' was refused while the store was unavailable (the log was full), ` +
        'and that key has not been written since: the store does not hold it',
    );
  }
}
