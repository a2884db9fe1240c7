/** The outbox's types and host interface (see outbox.ts), and how its store failures are reported. */
import { PersistenceError } from '../errors';
import type { OutboxEntry, OutboxStore, ClientPersistence } from '../persistence/client-persistence';
import type { OutboxMessage, OutboxTimes } from './outbox-entry';
import type { DroppedInfo, OutboxLimitsChoice } from './outbox-limits';

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
  limits: OutboxLimitsChoice;
  timeoutMs: number;
  /** May the pump hand messages to Paho now (connected, or Paho buffers while disconnected)? */
  canSend(): boolean;
  /** Hands a message to Paho; resolves at its delivery (QoS 0: written to the socket). */
  send(message: OutboxMessage, outboxId: string | undefined): Promise<unknown>;
  /** Resolves once every write logged so far is stored (the moves included). */
  flush(): Promise<void>;
  delivered(info: DeliveredInfo): void;
  /** A message left the outbox undelivered: expired, dropped at a cap, or refused for good by Paho. */
  dropped(info: DroppedInfo): void;
  failed(error: PersistenceError): void;
}

/** Paho refusals (of the publish call itself) that pass: the entry stays and is handed over again later. */
export const PASSING_REFUSALS = new Set([
  'ERR_PAHO_DISCONNECTED',
  'ERR_PAHO_MAX_BUFFERED_MESSAGES',
  'ERR_PAHO_MAX_BUFFERED',
  'ERR_PAHO_MAX_MESSAGES_INFLIGHT',
  'ERR_PAHO_OPERATION_INCOMPLETE',
  'ERR_PAHO_FAILURE',
  'ERR_CLIENT_CLOSED',
]);

export interface BufferedMessage {
  id: string;
  message: OutboxMessage;
  times: OutboxTimes | undefined;
}

export interface PendingAppend {
  entry: OutboxEntry;
  resolve(value: { id: string }): void;
  reject(error: unknown): void;
}

export function asPersistenceError(error: unknown, op: string): PersistenceError {
  if (error instanceof PersistenceError) return error;
  return new PersistenceError(
    'ERR_PERSISTENCE_STORE',
    op,
    undefined,
    `store ${op} failed: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
