/** CreateOptions.outbox: validation, and whether a client gets an outbox at all. */
import { PahoMqttRedisError, invalidArg } from '../errors';
import { type ClientPersistence, type OutboxStore, missingOutboxMethods } from '../persistence/client-persistence';
import type { CreateOptions } from './options';
import { type OutboxLimitOptions, type OutboxLimitsChoice, anyLimit, checkLimitOptions } from './outbox-limits';

/** CreateOptions.outbox: the window, and the limits (see outbox-limits.ts). */
export interface OutboxOptions extends OutboxLimitOptions {
  /**
   * How many outbox messages Paho holds at most at a time, connected or not (the rest wait in
   * the store). Default: half of maxBufferedMessages, at most 100 (50 with Paho's default
   * buffer of 100): after a restart Paho holds the restored window as well as the pump's new
   * one, and publish() calls made while disconnected count in the same buffer. At most
   * maxBufferedMessages. A window above the connection's maxInflight only queues the excess
   * inside Paho.
   */
  window?: number;
  /**
   * Messages per second the pump hands to Paho at most (a token bucket with a burst of 100 ms
   * worth, at least 1), so a fleet reconnecting at once does not flood the broker. Default: no
   * limit (the drain is then bounded by the window over the round trip).
   */
  drainRate?: number;
}

export const DEFAULT_OUTBOX_WINDOW = 100;

/** Either the window of the client's outbox, or why it has none (enqueue() rejects with it). */
export type OutboxChoice =
  | {
      store: ClientPersistence & OutboxStore;
      window: number;
      drainRate: number | undefined;
      /** CreateOptions.outbox was given: the application asked for the outbox (the upgrade runs). */
      requested: boolean;
      limits: OutboxLimitsChoice;
    }
  | { store: undefined; unsupported: string };

export function chooseOutbox(options: CreateOptions, store: ClientPersistence | undefined): OutboxChoice {
  const requested = options.outbox;
  if (requested !== undefined && (requested === null || typeof requested !== 'object'))
    throw invalidArg('outbox must be an object, e.g. { window: 100 }');
  const maxBuffered = options.maxBufferedMessages ?? 100;
  const window = requested?.window ?? Math.max(1, Math.min(DEFAULT_OUTBOX_WINDOW, Math.floor(maxBuffered / 2)));
  if (!Number.isInteger(window) || window < 1 || window > maxBuffered) {
    throw invalidArg(
      `outbox.window must be an integer from 1 to maxBufferedMessages (${maxBuffered}), got ${String(window)}`,
    );
  }
  const limits = checkLimitOptions(requested);
  const drainRate = requested?.drainRate;
  if (drainRate !== undefined && (typeof drainRate !== 'number' || !Number.isFinite(drainRate) || drainRate <= 0)) {
    throw invalidArg(
      `outbox.drainRate must be a positive number of messages per second (omit it for no limit), got ${String(drainRate)}`,
    );
  }
  let unsupported: string | undefined;
  if (store === undefined) {
    unsupported =
      'the client has no ClientPersistence store (persistence: a RedisPersistence, a MemoryPersistence, ...)';
  } else if (options.deleteOldestMessages === true) {
    // Paho would drop commands that already left the outbox: the store no longer holds them anywhere.
    unsupported = 'deleteOldestMessages is on: Paho would drop messages that already left the outbox';
  } else {
    const missing = missingOutboxMethods(store);
    if (missing.length > 0) unsupported = `the store lacks the outbox methods ${missing.join(', ')}`;
    else if (anyLimit(requested) && !hasLimits(store))
      unsupported = 'the store keeps no outbox account (outboxLimits), which caps and ttlMs need';
  }
  if (unsupported !== undefined) {
    if (requested !== undefined) throw outboxUnsupported(`create: options.outbox is set but ${unsupported}`);
    return { store: undefined, unsupported };
  }
  return {
    store: store as ClientPersistence & OutboxStore,
    window,
    drainRate,
    requested: requested !== undefined,
    limits,
  };
}

/** Whether the store keeps the account and the clock that caps and time to live need. */
export function hasLimits(store: ClientPersistence): boolean {
  return store.outboxLimits === true && typeof store.outboxReadClock === 'function';
}

export function outboxUnsupported(message: string): PahoMqttRedisError {
  return new PahoMqttRedisError('ERR_OUTBOX_UNSUPPORTED', message);
}
