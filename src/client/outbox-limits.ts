/**
 * The outbox's limits (see docs/outbox.md, "Limits"): the options and their checks, when
 * a message expires (time to live, MQTT 5 message expiry interval), what goes on the wire, and
 * the counters behind stats().outbox.
 */
import { PahoMqttRedisError, invalidArg } from '../errors';
import type { OutboxAppendResult, OutboxEntry } from '../persistence/client-persistence';
import type { OutboxMessage, OutboxTimes } from './outbox-entry';

export type OnFull = 'rejectNew' | 'dropOldest';

/** The limits of CreateOptions.outbox (with `window`, see outbox-options.ts). */
export interface OutboxLimitOptions {
  /** At most this many messages wait in the outbox. Default: no cap. */
  maxMessages?: number;
  /**
   * At most this many bytes of stored entries (topic, payload, properties and 10-16 bytes each;
   * encrypted size with encryption). Default: a quarter of Redis's maxmemory when it has one,
   * else no cap.
   */
  maxBytes?: number;
  /**
   * At a cap: 'rejectNew' (default) rejects enqueue() with ERR_OUTBOX_FULL and stores nothing,
   * so no message the application was told is stored is ever discarded; 'dropOldest' removes
   * the oldest messages still in the outbox (never one already handed to Paho), each reported
   * by 'dropped' with reason 'full'.
   */
  onFull?: OnFull;
  /** Default time to live of an enqueued message, ms (enqueue's ttlMs overrides it). Default: none. */
  ttlMs?: number;
}

export interface OutboxLimitsChoice {
  maxMessages: number | undefined;
  maxBytes: number | undefined;
  onFull: OnFull;
  ttlMs: number | undefined;
}

/** Whether any limit is asked for (the store must then keep an account and a clock). */
export function anyLimit(options: OutboxLimitOptions | undefined): boolean {
  if (options === undefined) return false;
  const { maxMessages, maxBytes, onFull, ttlMs } = options;
  return maxMessages !== undefined || maxBytes !== undefined || onFull !== undefined || ttlMs !== undefined;
}

function positiveInteger(value: unknown, what: string, example: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArg(`${what} must be a positive integer (${example}), got ${JSON.stringify(value) ?? typeof value}`);
  }
  return value;
}

export function checkLimitOptions(options: OutboxLimitOptions | undefined): OutboxLimitsChoice {
  const onFull = options?.onFull ?? 'rejectNew';
  if (onFull !== 'rejectNew' && onFull !== 'dropOldest') {
    throw invalidArg(`outbox.onFull must be 'rejectNew' or 'dropOldest', got ${JSON.stringify(onFull)}`);
  }
  return {
    maxMessages: positiveInteger(options?.maxMessages, 'outbox.maxMessages', 'messages, e.g. 100000'),
    maxBytes: positiveInteger(options?.maxBytes, 'outbox.maxBytes', 'bytes, e.g. 64 * 1024 * 1024'),
    onFull,
    ttlMs: checkTtl(options?.ttlMs, 'outbox.ttlMs'),
  };
}

export function checkTtl(ttlMs: unknown, what: string): number | undefined {
  return positiveInteger(ttlMs, what, 'ms, e.g. 3600000 for an hour');
}

export function outboxFull(limits: OutboxLimitsChoice): PahoMqttRedisError {
  const caps = [
    limits.maxMessages !== undefined ? `maxMessages ${limits.maxMessages}` : undefined,
    limits.maxBytes !== undefined ? `maxBytes ${limits.maxBytes}` : undefined,
  ].filter(Boolean);
  return new PahoMqttRedisError(
    'ERR_OUTBOX_FULL',
    `enqueue: the outbox is full (${caps.join(', ')}, onFull '${limits.onFull}'): the message was not stored`,
  );
}

/** MQTT 5's message expiry interval property (seconds). */
export const MESSAGE_EXPIRY_INTERVAL = 2;

function expiryInterval(message: OutboxMessage): number | undefined {
  const found = message.properties?.find((p) => p.id === MESSAGE_EXPIRY_INTERVAL);
  return typeof found?.value === 'number' ? found.value : undefined;
}

/** A message's times at enqueue: the sooner of its time to live and its MQTT 5 expiry interval. */
export function timesAt(message: OutboxMessage, ttlMs: number | undefined, now: number): OutboxTimes {
  const interval = expiryInterval(message);
  const ends = [ttlMs, interval === undefined ? undefined : interval * 1000].filter((v) => v !== undefined);
  return { enqueuedAt: now, expiresAt: ends.length > 0 ? now + Math.min(...ends) : 0 };
}

export function expired(times: OutboxTimes | undefined, now: number): boolean {
  return times !== undefined && times.expiresAt > 0 && times.expiresAt <= now;
}

/**
 * The message as it goes on the wire: MQTT 5's expiry interval counts from enqueue, so the
 * whole seconds spent in the outbox are taken off (as a broker does for a message it holds).
 */
export function onTheWire(message: OutboxMessage, times: OutboxTimes | undefined, now: number): OutboxMessage {
  const interval = expiryInterval(message);
  if (interval === undefined || times === undefined) return message;
  const remaining = Math.max(1, interval - Math.floor((now - times.enqueuedAt) / 1000));
  return {
    ...message,
    properties: message.properties!.map((p) => (p.id === MESSAGE_EXPIRY_INTERVAL ? { id: p.id, value: remaining } : p)),
  };
}

/** A sealed (encrypted) entry is larger than its bytes: by at most this much (a keyId of 255 bytes, see encryption.ts). */
const SEAL_ALLOWANCE = 300;

/** Whether a 'dropOldest' append of `entries` could drop anything, judged by the ceiling (see OutboxTally). */
export function appendMayDrop(
  limits: OutboxLimitsChoice,
  maxBytes: number | undefined,
  ceiling: { depth: number; bytes: number },
  entries: readonly OutboxEntry[],
): boolean {
  if (limits.onFull !== 'dropOldest') return false;
  let bytes = 0;
  for (const e of entries) bytes += e.data.length + SEAL_ALLOWANCE;
  return (
    (limits.maxMessages !== undefined && ceiling.depth + entries.length > limits.maxMessages) ||
    (maxBytes !== undefined && ceiling.bytes + bytes > maxBytes)
  );
}

export type DropReason = 'expired' | 'full' | 'refused';

/** What 'dropped' carries. */
export interface DroppedInfo {
  /** The id enqueue() resolved with. */
  id: string;
  topic: string;
  qos: number;
  reason: DropReason;
  /** Why the broker or Paho refused it (reason 'refused'). */
  error?: Error;
}

/** stats().outbox. */
export interface OutboxStatsSnapshot {
  /** Messages waiting in the outbox, and their stored bytes: the store's account, at most ~1 s old. */
  depth: number;
  bytes: number;
  /** Age of the oldest message waiting (outbox clock); undefined when empty or written by an older release. */
  oldestAgeMs: number | undefined;
  /** Since create(): enqueue()s stored, 'delivered' events, 'dropped' events by reason. */
  enqueued: number;
  delivered: number;
  dropped: Record<DropReason, number>;
  /** Deliveries per second over the last DRAIN_WINDOW_S seconds (outbox.drainRate is the limit). */
  deliveryRate: number;
  /** The caps in force (maxBytes: the application's or the store's default). */
  maxMessages: number | undefined;
  maxBytes: number | undefined;
}

const DRAIN_WINDOW_S = 10;

export class OutboxTally {
  enqueued = 0;
  delivered = 0;
  readonly dropped: Record<DropReason, number> = { expired: 0, full: 0, refused: 0 };
  depth = 0;
  bytes = 0;
  /** When the oldest entry waiting was enqueued (outbox clock), if known. */
  oldestEnqueuedAt: number | undefined;
  /** Deliveries per second, by whole second of the outbox clock. */
  private readonly seconds = new Map<number, number>();
  private readonly startedAt: number;

  /**
   * At least the store's account: only this process appends, and removals only lower it. An
   * append that stays below the caps by it cannot drop anything.
   */
  ceiling = { depth: 0, bytes: 0 };

  constructor(now: number) {
    this.startedAt = now;
  }

  /** After an append: the store's account; an outbox that was empty starts with this group. */
  appended(result: OutboxAppendResult, firstEnqueuedAt: () => number | undefined): void {
    this.depth = result.length;
    this.bytes = result.bytes;
    this.ceiling = { depth: result.length, bytes: result.bytes };
    if (this.oldestEnqueuedAt === undefined && result.length > 0) this.oldestEnqueuedAt = firstEnqueuedAt();
  }

  deliveredAt(now: number): void {
    this.delivered += 1;
    const second = Math.floor(now / 1000);
    this.seconds.set(second, (this.seconds.get(second) ?? 0) + 1);
    if (this.seconds.size > DRAIN_WINDOW_S + 1) {
      for (const s of this.seconds.keys()) if (s < second - DRAIN_WINDOW_S) this.seconds.delete(s);
    }
  }

  deliveryRate(now: number): number {
    const since = now - Math.min(DRAIN_WINDOW_S * 1000, Math.max(1, now - this.startedAt));
    let count = 0;
    for (const [second, n] of this.seconds) if (second * 1000 >= since) count += n;
    return count / ((now - since) / 1000);
  }
}
