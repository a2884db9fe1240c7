export {
  AsyncClient,
  type PublishOptions,
  type EnqueueOptions,
  type PublishResult,
  type SubscribeOptions,
  type ConnectResult,
  type DisconnectOptions,
} from './client/async-client';
export {
  CLIENT_CHANNEL,
  STORE_CHANNEL,
  type ClientEvents,
  type ClientDiagnostic,
  type StoreDiagnostic,
  type ConnectedInfo,
  type Message,
  type ReconnectingInfo,
  type ResubscribedInfo,
} from './client/events';
export type { MessagesOptions } from './client/message-iterator';
export type { OutboxOptions } from './client/outbox-options';
export type { DeliveredInfo } from './client/outbox';
export type { DroppedInfo, DropReason, OnFull, OutboxLimitOptions, OutboxStatsSnapshot } from './client/outbox-limits';
export type { PoisonMessageInfo, PoisonOptions } from './client/poison';
export type { ClientStats } from './client/stats';
export type {
  CreateOptions,
  ConnectOptions,
  SslOptions,
  WillOptions,
  QoS,
  PersistenceChoice,
  InboundQueueOptions,
  StoreUnavailablePolicy,
} from './client/options';
export type { MqttProperties } from './client/properties';
export type {
  BatchShape,
  ClientPersistence,
  Durability,
  MaybePromise,
  PersistenceOp,
  PersistenceWrite,
  QuarantinedRecord,
  OutboxEntry,
  OutboxStats,
  OutboxStore,
  OutboxLimits,
  OutboxAppendResult,
  OutboxClockCheckpoint,
} from './persistence/client-persistence';
export type { StoreBridgeStats } from './persistence/bridge/store-bridge';
export { MemoryPersistence } from './persistence/memory';
export {
  RedisPersistence,
  type RedisPersistenceOptions,
  type EncryptionOptions,
  type AckReplicasOptions,
  type ReencryptResult,
  type RedisClient,
} from './persistence/redis/redis-persistence';
export {
  PahoMqttRedisError,
  PahoError,
  PersistenceError,
  type ErrorCode,
  type PahoErrorCode,
  type PersistenceErrorCode,
} from './errors';
export { ValueEncryptor } from './persistence/redis/encryption';
export { decodeRecord, parseKey } from './persistence/records/paho-records';

import { native } from './native';
/** Version and build information of the linked Paho C library. */
export function pahoVersion(): Record<string, string> {
  return native.pahoVersion();
}
export { setTraceLogger, type TraceLevel, type TraceLogger } from './client/trace';
