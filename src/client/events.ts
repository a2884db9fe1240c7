/**
 * What an AsyncClient emits: the typed event map (for `on`/`once`/`off`) and the
 * `node:diagnostics_channel` channels that mirror the client's and its store's events.
 */
import * as diagnostics from 'node:diagnostics_channel';
import type { PersistenceError } from '../errors';
import type { NativeClientEvent } from '../native';
import type { QoS } from './options';
import type { PoisonMessageInfo } from './poison';
import type { DroppedInfo } from './outbox-limits';
import { fromNativeProperties, type MqttProperties } from './properties';

export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retained: boolean;
  dup: boolean;
  properties?: MqttProperties;
}

export function toMessage(event: Extract<NativeClientEvent, { type: 'message' }>): Message {
  return {
    topic: event.topic,
    payload: event.payload,
    qos: event.qos as QoS,
    retained: event.retained,
    dup: event.dup,
    properties: fromNativeProperties(event.properties),
  };
}

export interface ConnectResult {
  serverURI: string;
  mqttVersion: number;
  sessionPresent: boolean;
  properties?: MqttProperties;
}

export interface PublishResult {
  token: number;
}

export interface ConnectedInfo {
  /** 'connect' for connect(), 'reconnect' for an automatic reconnect. */
  cause: 'connect' | 'reconnect';
  /** The broker kept the session (CONNACK session present). */
  sessionPresent: boolean;
  serverURI: string;
}

export interface ReconnectingInfo {
  /** 1 for the first retry after a loss (or a failed first connect), then 2, 3, ... */
  attempt: number;
  /** When the next attempt starts. */
  delayMs: number;
  /** Why the previous attempt failed (absent right after a connection loss). */
  error?: Error;
}

export interface ResubscribedInfo {
  /** The filters subscribed again after a reconnect without a session. */
  topics: string[];
  /** Granted QoS (v3) or reason codes (v5), in the order of `topics`; absent when `error` is set. */
  granted?: number[];
  error?: Error;
}

/** Event name -> listener arguments. */
export type ClientEvents = {
  message: [message: Message];
  connected: [info: ConnectedInfo];
  connectionLost: [cause: string];
  /** An automatic reconnect attempt is scheduled. */
  reconnecting: [info: ReconnectingInfo];
  /** Subscriptions were restored after a reconnect without a session present. */
  resubscribed: [info: ResubscribedInfo];
  /** MQTT 5: the broker sent DISCONNECT. */
  disconnected: [info: { reasonCode: number; properties?: MqttProperties }];
  deliveryComplete: [token: number];
  /** An enqueue()d message was delivered (QoS 1: PUBACK, QoS 2: PUBCOMP, QoS 0: written to the socket). */
  delivered: [info: { id: string; topic: string; qos: number }];
  /**
   * An enqueue()d message left the outbox undelivered: reason 'expired' (its time to live ran
   * out), 'full' (dropped at a cap, onFull 'dropOldest') or 'refused' (Paho refused it for good,
   * e.g. beyond a broker limit; `error` says why, and is also the second argument).
   */
  dropped: [info: DroppedInfo, error: Error | undefined];
  persistenceError: [error: PersistenceError];
  /** A stored publish the broker kept refusing was set aside in the store's quarantine. */
  poisonMessage: [info: PoisonMessageInfo];
  /** close() finished: the Paho client is destroyed. */
  closed: [];
};

/** Channel names, stable across releases. Subscribe with `diagnostics_channel.subscribe(name, fn)`. */
export const CLIENT_CHANNEL = 'paho-mqtt-redis:client';
export const STORE_CHANNEL = 'paho-mqtt-redis:store';

/** What the client channel carries: one object per client event (messages excluded: see `stats()`). */
export interface ClientDiagnostic {
  clientId: string;
  event:
    Exclude<keyof ClientEvents, 'message' | 'persistenceError' | 'deliveryComplete' | 'delivered'> | 'connectFailed';
  detail?: unknown;
}

/** What the store channel carries: every store failure of a client. */
export interface StoreDiagnostic {
  clientId: string;
  event: 'failure';
  error: PersistenceError;
}

export const clientChannel = diagnostics.channel(CLIENT_CHANNEL);
export const storeChannel = diagnostics.channel(STORE_CHANNEL);

export function publishClient(message: ClientDiagnostic): void {
  if (clientChannel.hasSubscribers) clientChannel.publish(message);
}

export function publishStore(message: StoreDiagnostic): void {
  if (storeChannel.hasSubscribers) storeChannel.publish(message);
}
