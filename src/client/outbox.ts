/**
 * The outbox in front of Paho (client.enqueue(); see docs/outbox.md). Two
 * halves, both on the JS thread:
 * - appends (outbox-appender.ts): enqueued messages are appended to the store in groups; each
 *   enqueue resolves once its group is stored, and nothing of it stays in memory;
 * - the pump (here): reads entries back with a cursor and hands at most `window` of them to Paho
 *   at a time. Paho puts each one's c-N record, and the store removes the entry in the same unit
 *   (PersistenceWrite.outboxRemove), so after a crash a message is in exactly one of the two.
 * Limits (caps, time to live, the clock, stats) are in outbox-expiry.ts and outbox-limits.ts.
 */
import type { OutboxClockCheckpoint, OutboxEntry, OutboxStats } from '../persistence/client-persistence';
import { within } from '../persistence/bridge/outage';
import { decodeOutboxRecord, type OutboxMessage } from './outbox-entry';
import { OutboxAppender } from './outbox-appender';
import { OutboxClock } from './outbox-clock';
import { OutboxExpiry } from './outbox-expiry';
import { type BufferedMessage, type OutboxHost, PASSING_REFUSALS, asPersistenceError } from './outbox-host';
import { OutboxTally, expired, onTheWire } from './outbox-limits';
import { DrainPacer } from './drain-pacer';

/** After a failed store read, the pump tries again this much later. */
const RETRY_MS = 1000;

export type { DeliveredInfo, OutboxHost, BufferedMessage } from './outbox-host';

export class Outbox {
  /** The newest id handed to Paho (the pump reads after it); undefined: from the head. */
  private cursor: string | undefined;
  /** Handed to Paho, not delivered yet: id -> topic and QoS (at most `window`). */
  private readonly handed = new Map<string, { topic: string; qos: number }>();
  /** Handed, but their move failed in the store: removed from the outbox once delivered. */
  private readonly stillStored = new Set<string>();
  /** Read from the store, not handed to Paho yet (at most one window): the read-ahead. */
  private buffered: BufferedMessage[] = [];
  /** A store read is in flight. */
  private reading = false;
  /** The last read came back short: nothing to read until an append or a rewind. */
  private atEnd = false;
  /** Bumped at a rewind: a read started before it is discarded. */
  private generation = 0;
  /** QoS 0 entries are being removed from the store before their hand-over. */
  private handing = false;
  /** A hand-off failed: read from the head again once the moves so far are stored. */
  private rewind = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly pacer: DrainPacer | undefined;
  /** The pump waits for the pacer's next token. */
  private paceWait: NodeJS.Timeout | undefined;
  private closed = false;
  /** QoS 0 entries being removed before their hand-over (see pump). */
  private taking: BufferedMessage[] = [];
  /** Events held until the application could attach listeners (see release()). */
  private held: (() => void)[] | undefined = [];
  /** The most entries ever handed to Paho at once (for tests and stats). */
  maxHanded = 0;
  clock = new OutboxClock(undefined);
  tally = new OutboxTally(0);
  /** maxBytes in force: the application's, else the store's default. */
  maxBytes: number | undefined;
  readonly expiry: OutboxExpiry;
  private readonly appender: OutboxAppender;

  constructor(private readonly host: OutboxHost) {
    this.maxBytes = host.limits.maxBytes;
    this.expiry = new OutboxExpiry({
      store: host.store,
      timeoutMs: host.timeoutMs,
      outbox: this,
      dropped: (info) => this.emit(() => host.dropped(info)),
      failed: (error, op) => host.failed(asPersistenceError(error, op)),
    });
    if (host.drainRate !== undefined) this.pacer = new DrainPacer(host.drainRate);
    this.appender = new OutboxAppender(host, this);
  }

  /** Ids continue after the newest the store ever held, so they never repeat. */
  async start(): Promise<void> {
    const { store, timeoutMs } = this.host;
    const [last, saved] = await Promise.all([
      within(store.outboxLastId(), timeoutMs, 'the store (outboxLastId)'),
      store.outboxLimits === true && store.outboxReadClock
        ? within(store.outboxReadClock(), timeoutMs, 'the store (outboxReadClock)')
        : undefined,
    ]);
    this.appender.continueAfter(last as string | undefined);
    this.clock = new OutboxClock(saved as OutboxClockCheckpoint | undefined);
    this.tally = new OutboxTally(this.clock.now());
    this.maxBytes = this.host.limits.maxBytes ?? store.outboxDefaultMaxBytes;
    if (store.outboxLimits === true) {
      const { length, bytes } = (await within(
        store.outboxStats(),
        timeoutMs,
        'the store (outboxStats)',
      )) as OutboxStats;
      this.tally.ceiling = { depth: length, bytes: bytes ?? 0 };
    }
    this.pump();
    this.expiry.start();
  }

  /** Emits the events held since start(): called once the application could listen (after create() resolved). */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const emit of held) emit();
  }

  private emit(event: () => void): void {
    if (this.closed) return;
    if (this.held !== undefined) this.held.push(event);
    else event();
  }

  /** Handed to Paho, or about to be: not to be dropped or expired from under the pump. */
  isBusy(id: string): boolean {
    return this.handed.has(id) || this.stillStored.has(id) || this.taking.some((m) => m.id === id);
  }

  /** Takes entries the expiry removes out of the read-ahead. */
  forget(ids: ReadonlySet<string>): void {
    this.buffered = this.buffered.filter((m) => !ids.has(m.id));
  }

  get handedCount(): number {
    return this.handed.size;
  }

  /** With Paho, or about to be: what an append that may drop keeps. */
  withPaho(): string[] {
    return [...this.handed.keys(), ...this.stillStored, ...this.taking.map((m) => m.id)];
  }

  enqueue(message: OutboxMessage, ttlMs: number | undefined): Promise<{ id: string }> {
    return this.appender.enqueue(message, ttlMs);
  }

  /** An append was answered: the store may hold entries past the last short read. */
  appended(): void {
    this.atEnd = false;
    this.pump();
  }

  /** Stops the pump and the tick; resolves once the clock's checkpoint is stored (or failed). */
  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const checkpoint = this.expiry.stop();
    this.held = undefined;
    clearTimeout(this.paceWait);
    this.appender.close();
    return checkpoint;
  }

  /**
   * Hands buffered entries to Paho while the window has room, and keeps the next store read in
   * flight: the read-ahead buffer holds up to one window, so a delivery is refilled at once
   * instead of after a store round trip (Paho would idle meanwhile).
   */
  pump(): void {
    if (this.closed) return;
    this.readAhead();
    if (this.handing || this.rewind || !this.host.canSend()) return;
    // An entry taken while a 'dropOldest' append that may drop is in flight could be dropped by it.
    if (this.appender.keep !== undefined) return;
    const room = Math.min(this.host.window - this.handed.size, this.buffered.length);
    if (room <= 0) return;
    const batch = this.buffered.splice(0, this.paced(room));
    if (batch.length === 0) return;
    const now = this.clock.now();
    const taken: BufferedMessage[] = [];
    const dead: BufferedMessage[] = [];
    for (const m of batch) (expired(m.times, now) ? dead : taken).push(m);
    this.expiry.expire(dead);
    this.pacer?.take(taken.length);
    this.readAhead(); // the buffer just shrank
    if (taken.length === 0) return this.pump();
    // QoS 0 is at most once: its entry leaves the store before Paho gets it.
    const qos0 = taken.filter((m) => m.message.qos === 0).map((m) => m.id);
    if (qos0.length === 0) {
      for (const m of taken) this.handOver(m, now);
      return;
    }
    this.handing = true;
    this.taking = taken;
    const store = this.host.store;
    within(
      Promise.resolve().then(() => store.outboxRemove(qos0)),
      this.host.timeoutMs,
      'the store (outboxRemove)',
    )
      .then(
        () => {
          this.handing = false;
          this.taking = [];
          if (this.closed) return;
          for (const m of taken) this.handOver(m, this.clock.now());
          this.pump();
        },
        (error: unknown) => {
          this.handing = false;
          this.taking = [];
          this.buffered.unshift(...taken); // still in the store: handed over at the next try
          this.readFailed(error, 'outboxRemove');
        },
      )
      .catch(() => undefined);
  }

  /** With a drainRate, at most the messages the pacer allows now; with none allowed, wakes the pump when one is. */
  private paced(room: number): number {
    if (this.pacer === undefined) return room;
    const allowed = this.pacer.available();
    if (allowed === 0 && this.paceWait === undefined) {
      this.paceWait = setTimeout(() => {
        this.paceWait = undefined;
        this.pump();
      }, this.pacer.msUntilNext());
      this.paceWait.unref();
    }
    return Math.min(room, allowed);
  }

  /** Starts the next store read when the buffer is below half a window and none is in flight. */
  private readAhead(): void {
    if (this.closed || this.reading || this.atEnd) return;
    const want = this.host.window - this.buffered.length;
    if (want < Math.max(1, this.host.window >> 1)) return;
    this.reading = true;
    const generation = this.generation;
    this.read(want)
      .then(
        (entries) => {
          this.reading = false;
          if (this.closed) return;
          if (generation === this.generation) {
            this.buffered.push(...entries.messages);
            this.atEnd = entries.count < want;
          }
          this.pump();
        },
        (error: unknown) => {
          this.reading = false;
          this.readFailed(error, 'outboxRead');
        },
      )
      .catch(() => undefined);
  }

  private readFailed(error: unknown, op: string): void {
    if (this.closed) return;
    this.host.failed(asPersistenceError(error, op));
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.pump(), RETRY_MS);
    this.retry.unref();
  }

  /** Reads up to `count` entries after the cursor (from the head after a rewind). */
  private async read(count: number): Promise<{ messages: BufferedMessage[]; count: number }> {
    const store = this.host.store;
    if (this.rewind) {
      // Moves still in the log are not in the store yet: an entry read now might be in Paho already.
      await this.host.flush().catch(() => undefined);
      this.rewind = false;
      this.cursor = undefined;
    }
    const read = (await within(
      Promise.resolve().then(() => store.outboxRead(this.cursor, count)),
      this.host.timeoutMs,
      'the store (outboxRead)',
    )) as OutboxEntry[];
    const fresh = read.filter((e) => !this.handed.has(e.id) && !this.stillStored.has(e.id) && !this.expiry.gone(e.id));
    const now = this.clock.now();
    const messages: BufferedMessage[] = [];
    const dead: BufferedMessage[] = [];
    for (const e of fresh) {
      const { message, times } = decodeOutboxRecord(e.id, e.data);
      (expired(times, now) ? dead : messages).push({ id: e.id, message, times });
    }
    this.expiry.expire(dead); // never handed to Paho
    if (read.length > 0) this.cursor = read[read.length - 1].id;
    return { messages, count: read.length };
  }

  private handOver({ id, message, times }: BufferedMessage, now: number): void {
    this.handed.set(id, { topic: message.topic, qos: message.qos });
    this.maxHanded = Math.max(this.maxHanded, this.handed.size);
    const wire = onTheWire(message, times, now);
    Promise.resolve()
      .then(() => this.host.send(wire, message.qos > 0 ? id : undefined))
      .then(
        () => this.deliveredOne(id),
        (error: unknown) => this.handOverFailed(id, error),
      );
  }

  private deliveredOne(id: string): void {
    const info = this.handed.get(id);
    this.handed.delete(id);
    if (this.stillStored.delete(id)) this.removeLater(id);
    if (info !== undefined) {
      this.tally.deliveredAt(this.clock.now());
      this.emit(() => this.host.delivered({ id, topic: info.topic, qos: info.qos }));
    }
    this.pump();
  }

  private handOverFailed(id: string, error: unknown): void {
    const info = this.handed.get(id);
    this.handed.delete(id);
    const stillStored = this.stillStored.delete(id);
    if (this.closed) return;
    if (info !== undefined && acceptedByPaho(error) && !stillStored && keptInPahoRecords(error)) {
      // Paho's destroy (a poison message set aside creates Paho again): its record stays, and
      // the next Paho client restores and sends it, without an id (no 'delivered').
      this.pump();
      return;
    }
    if (info !== undefined && (acceptedByPaho(error) ? !stillStored : refusedForGood(error))) {
      // Accepted by Paho, then lost by it (e.g. QoS 0 on a dead socket): its move took it out of
      // the outbox, so no rewind finds it. Refused for good (e.g. beyond a broker limit):
      // handing it over again would loop. (Paho follows an accepted QoS 1/2 message it still
      // holds to its delivery: that settles send() as delivered.)
      this.removeLater(id);
      this.tally.dropped.refused += 1;
      const dropped = { id, ...info, reason: 'refused' as const, error: error as Error };
      this.emit(() => this.host.dropped(dropped));
      this.pump();
      return;
    }
    // Refused for now (Paho's buffer full, not connected), or accepted and lost while its move
    // failed: the entry is still in the outbox.
    this.startRewind();
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.pump(), RETRY_MS / 10);
    this.retry.unref();
  }

  /** Drops the read-ahead and reads from the head again (see read()). */
  private startRewind(): void {
    this.rewind = true;
    this.atEnd = false;
    this.generation += 1;
    this.buffered = [];
  }

  /** The store failed the batches that held these moves: the entries are still in the outbox. */
  movesFailed(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.handed.has(id)) this.stillStored.add(id);
      else this.removeLater(id); // delivered already
    }
  }

  private removeLater(id: string): void {
    const store = this.host.store;
    Promise.resolve()
      .then(() => store.outboxRemove([id]))
      .catch((error: unknown) => this.host.failed(asPersistenceError(error, 'outboxRemove')));
  }
}

/** The publish failed after Paho accepted it: the message was Paho's (see PahoError). */
function acceptedByPaho(error: unknown): boolean {
  return (error as { acceptedByPaho?: unknown } | undefined)?.acceptedByPaho === true;
}

/** Paho failed an accepted publish as incomplete: it was destroyed, its records stay in the store. */
function keptInPahoRecords(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'ERR_PAHO_OPERATION_INCOMPLETE';
}

/** Paho refused the publish call for a reason waiting does not change. */
function refusedForGood(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && !PASSING_REFUSALS.has(code);
}
