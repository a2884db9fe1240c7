export { AsyncClient, type Message, type PublishOptions, type PublishResult, type SubscribeOptions, type ConnectResult, type DisconnectOptions } from './client';
export type { CreateOptions, ConnectOptions, SslOptions, WillOptions, QoS, PersistenceChoice } from './client-options';
export type { MqttProperties } from './properties';
export type { ClientPersistence, MaybePromise, PersistenceOp } from './persistence';
export { MemoryPersistence } from './memory-persistence';
export { RedisPersistence, type RedisPersistenceOptions, type EncryptionOptions, type AckReplicasOptions, type ResealResult } from './redis-persistence';
export { PahoMqttRedisError, PahoError, PersistenceError, type ErrorCode, type PahoErrorCode, type PersistenceErrorCode } from './errors';
export { ValueSealer } from './sealing';
export { decodeRecord, parseKey } from './paho-records';

import { native } from './native';
/** Version and build information of the linked Paho C library. */
export function pahoVersion(): Record<string, string> {
  return native.pahoVersion();
}
export { setTraceLogger, type TraceLevel, type TraceLogger } from './trace';
