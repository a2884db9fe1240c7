/**
 * The outbox in front of Paho (client.enqueue(); see docs/persistence.md, "The outbox"). Two
 * halves, both on the JS thread:
 * - appends: enqueued messages are encoded and appended to the store in groups (one store
 *   round trip for every message enqueued while the previous append was under way); each
 *   enqueue resolves once its group is stored, and nothing of it stays in memory;
 * - the pump: reads entries back with a cursor and hands at most `window` of them to Paho at a
 *   time. Paho puts each one's c-N record, and the store removes the entry in the same unit
 *   (PersistenceWrite.outboxRemove), so after a crash a message is in exactly one of the two.
 */
import { PersistenceError, PahoMqttRedisError } from '../errors';
import type { ClientPersistence, OutboxEntry, OutboxStore } from '../persistence/client-persistence';
import { within } from '../persistence/bridge/outage';
import { decodeOutboxEntry, encodeOutboxEntry, type OutboxMessage } from './outbox-entry';
import { DrainPacer } from './drain-pacer';

/** At most this many entries per append round trip. */
const MAX_APPEND_GROUP = 4096;
/** After a failed store read, the pump tries again this much later. */
const RETRY_MS = 1000;

/** What 'delivered' carries. */
export interface DeliveredInfo {
  /** The id enqueue() resolved with. */
  id: string;
  topic: string;
  qos: number;
}

export interface OutboxHost {
  store: ClientPersistence & OutboxStore;
  window: number;
  /** Messages per second handed to Paho at most (outbox.drainRate); undefined: as fast as the window allows. */
  drainRate?: number;
  timeoutMs: number;
  /** May the pump hand messages to Paho now (connected, or Paho buffers while disconnected)? */
  canSend(): boolean;
  /** Hands a message to Paho; resolves at its delivery (QoS 0: written to the socket). */
  send(message: OutboxMessage, outboxId: string | undefined): Promise<unknown>;
  /** Resolves once every write logged so far is stored (the moves included). */
  flush(): Promise<void>;
  delivered(info: DeliveredInfo): void;
  /** Paho refused the message for good (not for want of room or a connection): it left the outbox. */
  dropped(info: DeliveredInfo, error: unknown): void;
  failed(error: PersistenceError): void;
}

/** Paho refusals (of the publish call itself) that pass: the entry stays and is handed over again later. */
const PASSING_REFUSALS = new Set([
  'ERR_PAHO_DISCONNECTED',
  'ERR_PAHO_MAX_BUFFERED_MESSAGES',
  'ERR_PAHO_MAX_BUFFERED',
  'ERR_PAHO_MAX_MESSAGES_INFLIGHT',
  'ERR_PAHO_OPERATION_INCOMPLETE',
  'ERR_PAHO_FAILURE',
  'ERR_CLIENT_CLOSED',
]);

interface BufferedMessage {
  id: string;
  message: OutboxMessage;
}

interface PendingAppend {
  entry: OutboxEntry;
  resolve(value: { id: string }): void;
  reject(error: unknown): void;
}

export class Outbox {
  private lastId = 0;
  private pending: PendingAppend[] = [];
  private appending = false;
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
  /** The most entries ever handed to Paho at once (for tests and stats). */
  maxHanded = 0;

  constructor(private readonly host: OutboxHost) {
    if (host.drainRate !== undefined) this.pacer = new DrainPacer(host.drainRate);
  }

  /** Ids continue after the newest the store ever held, so they never repeat. */
  async start(): Promise<void> {
    const last = await within(this.host.store.outboxLastId(), this.host.timeoutMs, 'the store (outboxLastId)');
    this.lastId = last === undefined ? 0 : Number(last);
    this.pump();
  }

  get handedCount(): number {
    return this.handed.size;
  }

  enqueue(message: OutboxMessage): Promise<{ id: string }> {
    const id = String(++this.lastId);
    const entry = { id, data: encodeOutboxEntry(message) };
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      this.append();
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.paceWait);
    const error = new PahoMqttRedisError('ERR_CLIENT_CLOSED', 'the client was closed before the message was stored');
    for (const waiting of this.pending.splice(0)) waiting.reject(error);
  }

  private append(): void {
    if (this.appending || this.pending.length === 0) return;
    const group = this.pending.splice(0, MAX_APPEND_GROUP);
    this.appending = true;
    const store = this.host.store;
    within(
      Promise.resolve().then(() => store.outboxAppend(group.map((g) => g.entry))),
      this.host.timeoutMs,
      'the store (outboxAppend)',
    )
      .then(
        () => {
          for (const g of group) g.resolve({ id: g.entry.id });
        },
        (error: unknown) => {
          for (const g of group) g.reject(error);
        },
      )
      .finally(() => {
        this.appending = false;
        this.atEnd = false;
        this.append();
        this.pump();
      })
      .catch(() => undefined);
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
    const room = this.host.window - this.handed.size;
    if (room <= 0 || this.buffered.length === 0) return;
    const taken = this.buffered.splice(0, this.paced(room));
    if (taken.length === 0) return;
    this.pacer?.take(taken.length);
    this.readAhead(); // the buffer just shrank
    // QoS 0 is at most once: its entry leaves the store before Paho gets it.
    const qos0 = taken.filter((m) => m.message.qos === 0).map((m) => m.id);
    if (qos0.length === 0) {
      for (const { id, message } of taken) this.handOver(id, message);
      return;
    }
    this.handing = true;
    const store = this.host.store;
    within(
      Promise.resolve().then(() => store.outboxRemove(qos0)),
      this.host.timeoutMs,
      'the store (outboxRemove)',
    )
      .then(
        () => {
          this.handing = false;
          if (this.closed) return;
          for (const { id, message } of taken) this.handOver(id, message);
          this.pump();
        },
        (error: unknown) => {
          this.handing = false;
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
    const fresh = read.filter((e) => !this.handed.has(e.id) && !this.stillStored.has(e.id));
    const messages = fresh.map((e) => ({ id: e.id, message: decodeOutboxEntry(e.id, e.data) }));
    if (read.length > 0) this.cursor = read[read.length - 1].id;
    return { messages, count: read.length };
  }

  private handOver(id: string, message: OutboxMessage): void {
    this.handed.set(id, { topic: message.topic, qos: message.qos });
    this.maxHanded = Math.max(this.maxHanded, this.handed.size);
    Promise.resolve()
      .then(() => this.host.send(message, message.qos > 0 ? id : undefined))
      .then(
        () => this.deliveredOne(id),
        (error: unknown) => this.handOverFailed(id, error),
      );
  }

  private deliveredOne(id: string): void {
    const info = this.handed.get(id);
    this.handed.delete(id);
    if (this.stillStored.delete(id)) this.removeLater(id);
    if (info !== undefined) this.host.delivered({ id, topic: info.topic, qos: info.qos });
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
      this.host.dropped({ id, ...info }, error);
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

function asPersistenceError(error: unknown, op: string): PersistenceError {
  if (error instanceof PersistenceError) return error;
  return new PersistenceError(
    'ERR_PERSISTENCE_STORE',
    op,
    undefined,
    `store ${op} failed: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
