/**
 * The one module that loads the native addon, and the typed surface of what it exports.
 * Everything else in src/ imports from here; nothing else touches the addon.
 */
import { loadAddon } from './load-addon';

/**
 * An index into PERSISTENCE_OPS (src/persistence/client-persistence.ts), in the order of the C++
 * PersistenceOp enum; the addon exports its order as persistenceOps (test/native/persistence-ops.test.ts).
 */
export type NativeOpIndex = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Calls the bridge makes into JS: one per Paho persistence callback. Must end in settle/fail. */
export type NativeDispatch = (
  id: number,
  op: NativeOpIndex,
  key: string,
  data: Buffer | undefined,
  clientId?: string,
  serverURI?: string,
) => void;
/** Failures the native side detected itself (timeout, closing, JS thread, bad result). */
/** `batchId`: the id of the failed batch the report is about (0 when it is not about a batch). */
export type NativeFailureListener = (op: string, key: string, code: string, message: string, batchId: number) => void;

/**
 * A batch of the operation log, as bytes: one ArrayBuffer, or several when its values need more
 * than one chunk. The layout is native/persistence/native_batch.h's; decodeBatch
 * (src/persistence/bridge/apply-batch.ts) reads it.
 */
export type NativeBatch = ArrayBuffer | ArrayBuffer[];

export interface NativeBridgeOptions {
  operationTimeoutMs: number;
  durability: 'batched' | 'sync';
  maxQueuedOps: number;
  maxQueuedBytes: number;
  /** Batches the store may have in flight at once (ClientPersistence.batchesInFlight). */
  batchesInFlight: number;
  onStoreUnavailable: 'continue' | 'disconnect';
}

/** The bridge's counters (StoreBridge.stats(), client.stats().store). */
export interface NativeBridgeStats {
  /** Calls forwarded one by one (open, close, reads the ledger could not answer). */
  forwarded: number;
  skippedRemoves: number;
  cachedGets: number;
  deferredRemoves: number;
  answeredFromMemory: number;
  /** Writes Paho made (puts and removes). */
  opsLogged: number;
  /** Writes that cancelled out before they were sent (a put and its remove). */
  opsAbsorbed: number;
  batches: number;
  /** Writes handed to the store. */
  opsWritten: number;
  /** Writes whose Paho thread waited for the store (barriers; every write in 'sync'). */
  barrierWaits: number;
  /** Writes that waited for room in a full log. */
  roomWaits: number;
  failedOps: number;
  /** Writes logged and not yet settled, and their bytes. */
  queueDepth: number;
  queueBytes: number;
  /** Times the store became unavailable (a wait for it timed out, or it could not be reached). */
  outages: number;
  /** Waits for the store that ended at once because it was unavailable. */
  waitsSkipped: number;
  /** Writes not logged: the log was full while the store was unavailable. */
  writesRefused: number;
  /** The most batches that were in flight at once (at most the store's batchesInFlight). */
  batchesInFlightPeak: number;
}

export interface NativeStoreBridge {
  settle(id: number, value: unknown): boolean;
  fail(id: number, message: string): boolean;
  /**
   * The store applied batch `id`, or failed it (with a PersistenceError code, from write
   * `failedAt` on: the writes before it are stored); returns the next batch to apply.
   */
  settleBatch(id: number, code?: string, message?: string, failedAt?: number): NativeBatch | undefined;
  /** The store does not answer: Paho threads stop waiting for it until a batch settles. */
  markUnavailable(reason: string): void;
  /** Ends the holds of onStoreUnavailable 'disconnect', now and later (the client is closing). */
  releaseHolds(): void;
  /** Every write up to this log position is settled. */
  readonly settledSeq: number;
  /** The newest write logged. */
  readonly loggedSeq: number;
  /**
   * The key of the oldest write refused (not logged: the log was full while the store was
   * unavailable) at or before log position `seq` and not logged again since, if any.
   */
  refusedUpTo(seq: number): string | undefined;
  close(): void;
  readonly operationTimeoutMs: number;
  /** Calls sent to the store, and what the operation log and the key ledger spared. */
  stats(): NativeBridgeStats;
}

export interface NativeProperty {
  id: number;
  value: number | string | Buffer | [string, string];
}

export interface NativePersistenceFailure {
  op: string;
  key: string;
  code: string;
  message: string;
}

export type NativeClientEvent =
  | {
      type: 'result';
      request: number;
      rc: number;
      token: number;
      message?: string;
      /** Set when the addon itself refused the request (the client is closed): ERR_CLIENT_CLOSED. */
      code?: 'ERR_CLIENT_CLOSED';
      list: number[];
      reasonCode?: number;
      persistenceFailures: NativePersistenceFailure[];
      serverURI?: string;
      mqttVersion?: number;
      sessionPresent?: boolean;
      properties?: NativeProperty[];
      logSeq?: number;
      /** A publish that failed after Paho accepted it (onFailure), not refused by the call itself. */
      acceptedByPaho?: true;
    }
  | {
      type: 'message';
      topic: string;
      payload: Buffer;
      qos: number;
      retained: boolean;
      dup: boolean;
      msgid: number;
      properties?: NativeProperty[];
    }
  | { type: 'connectionLost'; cause: string }
  | { type: 'connected'; cause: string }
  | { type: 'disconnected'; reasonCode: number; properties?: NativeProperty[] };

/**
 * What the addon hands JS per burst of client events (src/client/event-burst.ts reads it): per
 * event three numbers in `codes` (its kind, an index into EVENT_KINDS; a request; a token), and
 * for the 'event' kind, its object, in order, in `events` (undefined when the burst has none).
 */
export type NativeEventsListener = (codes: Float64Array, events: NativeClientEvent[] | undefined) => void;

export interface NativeCreateSpec {
  serverURI: string;
  clientId: string;
  persistenceType: 0 | 1 | 2;
  persistenceDir?: string;
  mqttVersion: number;
  sendWhileDisconnected: boolean;
  maxBufferedMessages: number;
  deleteOldestMessages: boolean;
  restoreMessages: boolean;
  persistQoS0: boolean;
  inboundMaxMessages: number;
  inboundMaxBytes: number;
  inboundMaxWaitMs: number;
}

export interface NativeConnectSpec {
  keepAliveInterval: number;
  cleanSession: boolean;
  cleanStart: boolean;
  connectTimeout: number;
  maxInflight: number;
  /** Paho's retryInterval; 0: resend only on reconnect. */
  retryInterval: number;
  username?: string;
  password?: string | Buffer;
  will?: { topic: string; payload: Buffer; qos: number; retained: boolean; properties?: NativeProperty[] };
  ssl?: {
    trustStore?: string;
    keyStore?: string;
    privateKey?: string;
    privateKeyPassword?: string;
    caPath?: string;
    enabledCipherSuites?: string;
    enableServerCertAuth: boolean;
    verify: boolean;
    sslVersion?: number;
  };
  automaticReconnect: boolean;
  minRetryInterval: number;
  maxRetryInterval: number;
  serverURIs?: string[];
  properties?: NativeProperty[];
}

export interface NativeMqttClient {
  create(request: number, spec: NativeCreateSpec): void;
  connect(request: number, spec: NativeConnectSpec): void;
  /** Positional (reading an options object costs more natively than the rest of the call). */
  publish(
    request: number,
    topic: string,
    payload: Buffer,
    qos: number,
    retained: boolean,
    properties?: NativeProperty[],
    /** The outbox entry the publish moves into Paho (removed with its c-N put). */
    outboxId?: string,
  ): void;
  /** One entry per topic in qos, noLocal, retainAsPublished and retainHandling. */
  subscribe(
    request: number,
    spec: {
      topics: string[];
      qos: number[];
      noLocal?: boolean[];
      retainAsPublished?: boolean[];
      retainHandling?: number[];
      properties?: NativeProperty[];
    },
  ): void;
  unsubscribe(request: number, spec: { topics: string[]; properties?: NativeProperty[] }): void;
  disconnect(request: number, spec: { timeout: number; reasonCode?: number; properties?: NativeProperty[] }): void;
  getPendingTokens(request: number): void;
  isConnected(request: number): void;
  /** Answers (logSeq) with the newest write in the store's log, once every earlier call reached Paho. */
  flush(request: number): void;
  destroy(request: number): void;
  /** After destroy's result: ends the command thread and the event channel. */
  dispose(): void;
  ref(): void;
  unref(): void;
  /** Whether Paho's delivery completions are sent as 'deliveryComplete' entries (off: counted as progress only). */
  wantDeliveryComplete(want: boolean): void;
}

export interface NativeAddon {
  StoreBridge: new (
    dispatch: NativeDispatch,
    applyBatch: (batch: NativeBatch | undefined) => void,
    onFailure: NativeFailureListener,
    options: NativeBridgeOptions,
  ) => NativeStoreBridge;
  MqttClient: new (onEvents: NativeEventsListener, bridge: NativeStoreBridge | null) => NativeMqttClient;
  /** The event kinds in the order of EVENT_KINDS (the C++ EventBurst::Kind enum). */
  readonly clientEventKinds: readonly string[];
  /** The op names in the order of NativeOpIndex (the C++ PersistenceOp enum). */
  readonly persistenceOps: readonly string[];
  /** The key prefixes of a NativeBatch's key words, by family code (the C++ KeyFamily enum). */
  readonly keyFamilies: readonly string[];
  pahoVersion(): Record<string, string>;
  /** Process-wide Paho trace, delivered to this environment's logger; level 0 turns it off. */
  setTrace(level: number, logger?: (level: number, message: string) => void): void;
}

export const native: NativeAddon = loadAddon<NativeAddon>();
