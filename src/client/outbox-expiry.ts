/**
 * What leaves the outbox undelivered on its own (see docs/outbox.md, "Limits"): expired
 * entries (found when read for the pump, and by a sweep that runs offline too) and entries a
 * 'dropOldest' append removed. Also the once-a-second tick: the store's account for
 * stats().outbox, and the outbox clock's checkpoint.
 */
import type { OutboxEntry, OutboxStats, OutboxStore } from '../persistence/client-persistence';
import { within } from '../persistence/bridge/outage';
import { CHECKPOINT_MS } from './outbox-clock';
import { decodeOutboxRecord } from './outbox-entry';
import type { BufferedMessage, Outbox } from './outbox';
import { type DroppedInfo, expired } from './outbox-limits';

/** How often the tick runs. */
export const TICK_MS = 1000;
/** close() waits at most this long for the clock's last checkpoint (a store in an outage must not hold it up). */
const CLOSE_CHECKPOINT_MS = 1000;
/** The sweep reads at most this many entries per tick. */
export const SWEEP_BATCH = 512;

export interface ExpiryHost {
  store: OutboxStore;
  timeoutMs: number;
  outbox: Outbox;
  dropped(info: DroppedInfo): void;
  failed(error: unknown, op: string): void;
}

export class OutboxExpiry {
  /** Removed (or being removed) by the expiry or a cap: id -> when the removal was stored (undefined: not yet). */
  private readonly removed = new Map<string, number | undefined>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private ticks = 0;
  /** Where the sweep goes on (undefined: from the head). */
  private cursor: string | undefined;
  /** Whether the outbox may hold entries that expire; a whole pass that saw none clears it. */
  private mayExpire = true;
  private passSawExpiry = false;

  constructor(private readonly host: ExpiryHost) {}

  start(): void {
    void this.tick(); // at once: entries that expired while the process was down
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Stops the tick; resolves once the clock's last checkpoint is stored (or failed). */
  stop(): Promise<void> {
    if (this.timer === undefined) return Promise.resolve();
    clearInterval(this.timer);
    this.timer = undefined;
    return this.checkpoint(Math.min(this.host.timeoutMs, CLOSE_CHECKPOINT_MS));
  }

  /** An entry with an expiry was enqueued. */
  expiring(): void {
    this.mayExpire = true;
    this.passSawExpiry = true;
  }

  /** Whether a read entry is being removed or was removed (a read that overtook the removal). */
  gone(id: string): boolean {
    return this.removed.has(id);
  }

  /** Removes expired entries (never handed to Paho) and reports each once its removal is stored. */
  expire(entries: readonly BufferedMessage[]): void {
    if (entries.length === 0) return;
    const ids = entries.map((m) => m.id);
    for (const id of ids) this.removed.set(id, undefined);
    const { store, timeoutMs, outbox } = this.host;
    within(
      Promise.resolve().then(() => store.outboxRemove(ids)),
      timeoutMs,
      'the store (outboxRemove)',
    ).then(
      () => {
        const now = outbox.clock.now();
        for (const { id, message } of entries) {
          this.removed.set(id, now);
          outbox.tally.dropped.expired += 1;
          this.host.dropped({ id, topic: message.topic, qos: message.qos, reason: 'expired' });
        }
      },
      (error: unknown) => {
        for (const id of ids) this.removed.delete(id); // still stored: found again by a later sweep
        this.host.failed(error, 'outboxRemove');
      },
    );
  }

  /** Entries a 'dropOldest' append removed (already gone from the store). */
  droppedFull(entries: readonly OutboxEntry[]): void {
    if (entries.length === 0) return;
    const { outbox } = this.host;
    const now = outbox.clock.now();
    const ids = new Set(entries.map((e) => e.id));
    outbox.forget(ids);
    for (const { id, data } of entries) {
      this.removed.set(id, now);
      if (outbox.isBusy(id)) continue; // with Paho: it is delivered, not dropped
      let info: DroppedInfo;
      try {
        const { message } = decodeOutboxRecord(id, data);
        info = { id, topic: message.topic, qos: message.qos, reason: 'full' };
      } catch (error) {
        this.host.failed(error, 'outboxAppend');
        continue;
      }
      outbox.tally.dropped.full += 1;
      this.host.dropped(info);
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    this.ticks += 1;
    try {
      await this.account();
      if (this.mayExpire) await this.sweep();
      if (this.ticks === 1 || (this.ticks * TICK_MS) % CHECKPOINT_MS === 0) void this.checkpoint();
      this.prune();
    } catch {
      // The store is unavailable: the pump reports it; the next tick tries again.
    } finally {
      this.ticking = false;
    }
  }

  /** stats().outbox's depth, bytes and oldest age, from the store. */
  private async account(): Promise<void> {
    const { store, timeoutMs, outbox } = this.host;
    const [stats, head] = (await within(
      Promise.all([store.outboxStats(), store.outboxRead(undefined, 1)]),
      timeoutMs,
      'the store (outboxStats)',
    )) as [OutboxStats, OutboxEntry[]];
    outbox.tally.depth = stats.length;
    outbox.tally.bytes = stats.bytes ?? 0;
    const times = head[0] && decodeOutboxRecord(head[0].id, head[0].data).times;
    outbox.tally.oldestEnqueuedAt = times?.enqueuedAt;
  }

  /** Reads the next SWEEP_BATCH entries and removes the expired ones (those with Paho excepted). */
  private async sweep(): Promise<void> {
    const { store, timeoutMs, outbox } = this.host;
    if (this.cursor === undefined) this.passSawExpiry = false;
    const read = (await within(
      Promise.resolve().then(() => store.outboxRead(this.cursor, SWEEP_BATCH)),
      timeoutMs,
      'the store (outboxRead)',
    )) as OutboxEntry[];
    const now = outbox.clock.now();
    const dead: BufferedMessage[] = [];
    for (const { id, data } of read) {
      if (outbox.isBusy(id) || this.removed.has(id)) continue;
      const { message, times } = decodeOutboxRecord(id, data);
      if (times !== undefined && times.expiresAt > 0) this.passSawExpiry = true;
      if (expired(times, now)) dead.push({ id, message, times });
    }
    outbox.forget(new Set(dead.map((m) => m.id)));
    this.expire(dead);
    if (read.length < SWEEP_BATCH) {
      this.cursor = undefined; // a whole pass: from the head again
      this.mayExpire = this.passSawExpiry;
    } else {
      this.cursor = read[read.length - 1].id;
    }
  }

  private checkpoint(timeoutMs = this.host.timeoutMs): Promise<void> {
    const { store, outbox } = this.host;
    if (store.outboxLimits !== true || store.outboxWriteClock === undefined) return Promise.resolve();
    return within(
      Promise.resolve().then(() => store.outboxWriteClock!(outbox.clock.checkpoint())),
      timeoutMs,
      'the store (outboxWriteClock)',
    ).then(
      () => undefined,
      () => undefined, // the next checkpoint tries again
    );
  }

  /** Forgets removals stored long enough ago that no read started before them can still answer. */
  private prune(): void {
    const before = this.host.outbox.clock.now() - 2 * this.host.timeoutMs - TICK_MS;
    for (const [id, at] of this.removed) if (at !== undefined && at < before) this.removed.delete(id);
  }
}
