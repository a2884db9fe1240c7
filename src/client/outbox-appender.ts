/**
 * The outbox's appends (see outbox.ts): enqueued messages are encoded and appended to the store
 * in groups, one store round trip for every message enqueued while the previous append was under
 * way; each enqueue resolves once its group is stored, and nothing of it stays in memory.
 */
import { PahoMqttRedisError } from '../errors';
import type { OutboxAppendResult, OutboxEntry } from '../persistence/client-persistence';
import { within } from '../persistence/bridge/outage';
import { decodeOutboxRecord, encodeOutboxEntry, type OutboxMessage } from './outbox-entry';
import type { OutboxHost, PendingAppend } from './outbox-host';
import { appendMayDrop, outboxFull, timesAt } from './outbox-limits';
import type { Outbox } from './outbox';

/** At most this many entries per append round trip. */
const MAX_APPEND_GROUP = 4096;

export class OutboxAppender {
  private lastId = 0;
  private pending: PendingAppend[] = [];
  private appending = false;
  /** While a 'dropOldest' append that may drop is in flight: what it keeps (the pump waits). */
  keep: Set<string> | undefined;

  constructor(
    private readonly host: OutboxHost,
    private readonly outbox: Outbox,
  ) {}

  /** Ids continue after the newest the store ever held, so they never repeat. */
  continueAfter(lastId: string | undefined): void {
    this.lastId = lastId === undefined ? 0 : Number(lastId);
  }

  enqueue(message: OutboxMessage, ttlMs: number | undefined): Promise<{ id: string }> {
    const { clock, expiry } = this.outbox;
    const id = String(++this.lastId);
    const times = timesAt(message, ttlMs ?? this.host.limits.ttlMs, clock.now());
    if (times.expiresAt > 0) expiry.expiring();
    const entry = { id, data: encodeOutboxEntry(message, times) };
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      this.append();
    });
  }

  /** Rejects every enqueue not appended yet. */
  close(): void {
    const error = new PahoMqttRedisError('ERR_CLIENT_CLOSED', 'the client was closed before the message was stored');
    for (const waiting of this.pending.splice(0)) waiting.reject(error);
  }

  private append(): void {
    if (this.appending || this.pending.length === 0) return;
    const group = this.pending.splice(0, MAX_APPEND_GROUP);
    this.appending = true;
    const store = this.host.store;
    const limits = store.outboxLimits === true ? this.limits(group.map((g) => g.entry)) : undefined;
    within(
      Promise.resolve().then(() =>
        store.outboxAppend(
          group.map((g) => g.entry),
          limits,
        ),
      ),
      this.host.timeoutMs,
      'the store (outboxAppend)',
    )
      .then(
        (answer) => this.answered(group, answer as OutboxAppendResult | undefined),
        (error: unknown) => {
          for (const g of group) g.reject(error);
        },
      )
      .finally(() => {
        this.appending = false;
        this.keep = undefined;
        this.outbox.appended(); // first: what it hands over now is kept by the next append
        this.append();
      })
      .catch(() => undefined);
  }

  private answered(group: readonly PendingAppend[], result: OutboxAppendResult | undefined): void {
    const { tally, expiry, maxBytes } = this.outbox;
    const rejected = new Set(result?.rejected);
    for (const g of group) {
      if (rejected.has(g.entry.id)) {
        g.reject(outboxFull({ ...this.host.limits, maxBytes }));
      } else {
        tally.enqueued += 1;
        g.resolve({ id: g.entry.id });
      }
    }
    if (result) {
      const first = group[0].entry;
      tally.appended(result, () => decodeOutboxRecord(first.id, first.data).times?.enqueuedAt);
      expiry.droppedFull(result.dropped);
    }
  }

  /**
   * The caps for the next append. With 'dropOldest', an append that may drop keeps what is with
   * Paho, and the pump hands nothing over until it is answered (keep): an entry it took
   * meanwhile might be the one dropped. `ceiling` tells when no drop is possible (the common case).
   */
  private limits(entries: readonly OutboxEntry[]) {
    const { maxMessages, onFull } = this.host.limits;
    const maxBytes = this.outbox.maxBytes;
    let keep: string[] = [];
    if (appendMayDrop(this.host.limits, maxBytes, this.outbox.tally.ceiling, entries)) {
      keep = this.outbox.withPaho();
      this.keep = new Set(keep);
    }
    return { maxMessages, maxBytes, onFull, keep };
  }
}
