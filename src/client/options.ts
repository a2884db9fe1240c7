/**
 * The AsyncClient's options: their public types, their validation (messages a user can act
 * on), and their translation into the native specs.
 */
import type { OutboxOptions } from './outbox-options';
import { invalidArg } from '../errors';
import type { NativeConnectSpec, NativeCreateSpec, NativeProperty } from '../native';
import type { ClientPersistence } from '../persistence/client-persistence';
import { integerIn, optionalBoolean } from './option-checks';
import { type MqttProperties, toNativeProperties } from './properties';
import type { PoisonOptions } from './poison';
import { reconnectPolicy } from './reconnect';

export type QoS = 0 | 1 | 2;

export type PersistenceChoice = 'none' | { dir: string } | ClientPersistence;

export type StoreUnavailablePolicy = 'continue' | 'disconnect';

export interface CreateOptions {
  /** tcp://, mqtt://, ssl://, mqtts://, ws://, wss:// (Paho's schemes). */
  serverURI: string;
  clientId: string;
  /** 'none', Paho's file store `{ dir }`, or any ClientPersistence (e.g. RedisPersistence). Default 'none'. */
  persistence?: PersistenceChoice;
  /** 3 (MQTT 3.1), 4 (3.1.1, default) or 5. */
  mqttVersion?: 3 | 4 | 5;
  sendWhileDisconnected?: boolean;
  maxBufferedMessages?: number;
  deleteOldestMessages?: boolean;
  restoreMessages?: boolean;
  /** Persist QoS 0 messages too (Paho's default is true; here false). */
  persistQoS0?: boolean;
  /**
   * How long a Paho thread waits for the store per call (default: the store's own, else 5000).
   * While connected the wait is capped at a quarter of `keepAliveInterval`, so that a store that
   * stops answering cannot cost the MQTT connection; after one such timeout no Paho thread
   * waits for the store until it answers again (ERR_PERSISTENCE_UNAVAILABLE).
   */
  operationTimeoutMs?: number;
  /**
   * What an acknowledgement (PUBREL, PUBREC, the PUBACK/PUBCOMP of a received message) does when
   * its record is not stored in time, or the store is unavailable (with a ClientPersistence).
   * 'continue' (default): it leaves anyway and the MQTT connection stays up; a crash before the
   * record is stored can then deliver a sent QoS 2 message twice or lose a received one (said
   * in the 'persistenceError' that reports it). 'disconnect': it does not leave before its
   * record is stored (a received QoS 1/2 message: before its 'message' listeners ran). Paho's
   * thread waits; every client of the process is silent meanwhile, so the broker drops the
   * connection after its keepalive timeout, keeps the exchange, and resumes it after a
   * reconnect. close() ends the wait first (a held acknowledgement then leaves if the
   * connection is still up).
   */
  onStoreUnavailable?: StoreUnavailablePolicy;
  /** Bounds inbound messages not yet handed to 'message' listeners (see InboundQueueOptions). */
  inboundQueue?: InboundQueueOptions;
  /** The outbox behind client.enqueue() (a store with the outbox methods): see OutboxOptions. */
  outbox?: OutboxOptions;
  /** When a stored message the broker refuses is set aside ('poisonMessage'); false: never. */
  poison?: PoisonOptions | false;
}

/**
 * Inbound backpressure. When this many messages (or bytes) wait for the JS thread, Paho's
 * receive thread waits for room before taking the next one, so the broker holds the stream
 * (TCP pushes back) instead of this process growing. Each wait is bounded by `maxWaitMs`; past
 * it the message is taken anyway (nothing is dropped), so a JS thread blocked for long adds at
 * most one message per `maxWaitMs`. Paho has one receive thread for all clients of the process.
 */
export interface InboundQueueOptions {
  /** Default 1000. */
  maxMessages?: number;
  /** Payload + topic bytes; default 64 MiB. One message always fits. */
  maxBytes?: number;
  /** Default 1000 ms. */
  maxWaitMs?: number;
}

export interface WillOptions {
  topic: string;
  payload: Buffer;
  qos?: QoS;
  retained?: boolean;
  properties?: MqttProperties;
}

export interface SslOptions {
  /** PEM file of trusted CA certificates. */
  trustStore?: string;
  /** PEM file with the client certificate (and key, unless privateKey is given). */
  keyStore?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  caPath?: string;
  enabledCipherSuites?: string;
  /** Verify the server certificate (default true). */
  enableServerCertAuth?: boolean;
  /** Also check the host name against the certificate (default true when enableServerCertAuth). */
  verify?: boolean;
}

export interface ConnectOptions {
  cleanSession?: boolean;
  /** MQTT 5 only. */
  cleanStart?: boolean;
  keepAliveInterval?: number;
  connectTimeout?: number;
  username?: string;
  password?: string | Buffer;
  will?: WillOptions;
  ssl?: SslOptions;
  /**
   * Reconnect after a lost connection, waiting minRetryInterval seconds, doubling up to
   * maxRetryInterval. The client does this itself (not Paho), so every reconnect reports
   * `sessionPresent` and can restore subscriptions.
   */
  automaticReconnect?: boolean | { minRetryInterval?: number; maxRetryInterval?: number };
  /**
   * With automaticReconnect: a first connect that fails is retried too, and connect() resolves
   * once a retry succeeds (it stays pending meanwhile; close() or disconnect() rejects it). Default false.
   */
  retryFirstConnect?: boolean;
  /**
   * After an automatic reconnect without a session present, subscribe again to every filter
   * subscribed through this client (and not unsubscribed). Default true.
   */
  resubscribe?: boolean;
  /** QoS 1/2 messages in flight at once (default 20 for MQTT 3, 65535 for MQTT 5). */
  maxInflight?: number;
  /** Alternatives to the create-time serverURI, tried in order. */
  serverURIs?: string[];
  /** MQTT 5 CONNECT properties. */
  properties?: MqttProperties;
}

const URI = /^(tcp|mqtt|ssl|mqtts|ws|wss):\/\/([^\s/]+?)(?::(\d+))?(\/.*)?$/i;
const TLS_URI = /^(ssl|mqtts|wss):/i;

export function validateServerURI(uri: unknown, what = 'serverURI'): string {
  const match = typeof uri === 'string' ? URI.exec(uri) : null;
  if (match === null) {
    throw invalidArg(
      `${what} must look like tcp://host:port (also mqtt://, ssl://, mqtts://, ws://, wss://), got ${JSON.stringify(uri)}`,
    );
  }
  const port = match[3];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw invalidArg(`${what}: port ${port} is out of range (1 to 65535) in ${JSON.stringify(uri)}`);
  return uri as string;
}

/** The host of a server URI that validateServerURI accepted (an IPv6 literal without brackets). */
export function serverHost(uri: string): string | undefined {
  return URI.exec(uri)?.[2].replace(/^\[|\]$/g, '');
}

export function isTlsURI(uri: string): boolean {
  return TLS_URI.test(uri);
}

export function validateQoS(qos: unknown, what = 'qos'): QoS {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalidArg(`${what} must be 0, 1 or 2, got ${JSON.stringify(qos)}`);
  return qos;
}

export function validateTopicName(topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0) throw invalidArg('topic must be a non-empty string');
  if (/[+#]/.test(topic))
    throw invalidArg(`topic '${topic}' contains a wildcard (+ or #); wildcards are only for subscriptions`);
  if (topic.includes('\0')) throw invalidArg('topic must not contain a NUL character');
  if (Buffer.byteLength(topic) > 65535) throw invalidArg('topic is longer than 65535 bytes');
  return topic;
}

export function validateTopicFilter(filter: unknown): string {
  if (typeof filter !== 'string' || filter.length === 0) throw invalidArg('topic filter must be a non-empty string');
  if (filter.includes('\0')) throw invalidArg('topic filter must not contain a NUL character');
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      throw invalidArg(`topic filter '${filter}': '#' must be a whole last level`);
    }
    if (level.includes('+') && level !== '+') throw invalidArg(`topic filter '${filter}': '+' must be a whole level`);
  });
  return filter;
}

export function toCreateSpec(
  options: CreateOptions,
  persistenceType: 0 | 1 | 2,
  dir: string | undefined,
): NativeCreateSpec {
  const mqttVersion = options.mqttVersion ?? 4;
  if (mqttVersion !== 3 && mqttVersion !== 4 && mqttVersion !== 5)
    throw invalidArg(`mqttVersion must be 3, 4 or 5, got ${JSON.stringify(mqttVersion)}`);
  return {
    serverURI: validateServerURI(options.serverURI),
    clientId: options.clientId,
    persistenceType,
    persistenceDir: dir,
    mqttVersion,
    sendWhileDisconnected: optionalBoolean(options.sendWhileDisconnected, 'sendWhileDisconnected') ?? false,
    maxBufferedMessages: integerIn(options.maxBufferedMessages, 100, 1, 1_000_000, 'maxBufferedMessages'),
    deleteOldestMessages: optionalBoolean(options.deleteOldestMessages, 'deleteOldestMessages') ?? false,
    restoreMessages: optionalBoolean(options.restoreMessages, 'restoreMessages') ?? true,
    persistQoS0: optionalBoolean(options.persistQoS0, 'persistQoS0') ?? false,
    ...inboundQueueSpec(options.inboundQueue),
  };
}

function inboundQueueSpec(
  queue: InboundQueueOptions | undefined,
): Pick<NativeCreateSpec, 'inboundMaxMessages' | 'inboundMaxBytes' | 'inboundMaxWaitMs'> {
  if (queue !== undefined && (queue === null || typeof queue !== 'object'))
    throw invalidArg('inboundQueue must be an object { maxMessages, maxBytes, maxWaitMs }');
  return {
    inboundMaxMessages: integerIn(queue?.maxMessages, 1000, 1, 10_000_000, 'inboundQueue.maxMessages'),
    inboundMaxBytes: integerIn(queue?.maxBytes, 64 << 20, 1, 2 ** 31 - 1, 'inboundQueue.maxBytes'),
    inboundMaxWaitMs: integerIn(queue?.maxWaitMs, 1000, 1, 60_000, 'inboundQueue.maxWaitMs'),
  };
}

export function validateClientId(clientId: unknown): string {
  if (typeof clientId !== 'string' || clientId.length === 0) throw invalidArg('clientId must be a non-empty string');
  if (clientId.includes('\0')) throw invalidArg('clientId must not contain a NUL character');
  if (Buffer.byteLength(clientId) > 65535) throw invalidArg('clientId is longer than 65535 bytes');
  return clientId;
}

export function toConnectSpec(options: ConnectOptions, mqttVersion: number, serverURI: string): NativeConnectSpec {
  if (options === null || typeof options !== 'object') throw invalidArg('connect options must be an object');
  const v5 = mqttVersion === 5;
  if (!v5 && options.cleanStart !== undefined)
    throw invalidArg('cleanStart is an MQTT 5 option; use cleanSession with mqttVersion 3 or 4');
  if (!v5 && options.properties !== undefined) throw invalidArg('connect properties need mqttVersion 5');
  const reconnect = reconnectPolicy(options);
  if (options.username !== undefined && typeof options.username !== 'string')
    throw invalidArg('username must be a string');
  if (options.password !== undefined && typeof options.password !== 'string' && !Buffer.isBuffer(options.password)) {
    throw invalidArg('password must be a string or a Buffer');
  }
  const spec: NativeConnectSpec = {
    keepAliveInterval: integerIn(options.keepAliveInterval, 60, 0, 65535, 'keepAliveInterval'),
    cleanSession: optionalBoolean(options.cleanSession, 'cleanSession') ?? true,
    cleanStart: optionalBoolean(options.cleanStart, 'cleanStart') ?? true,
    connectTimeout: integerIn(options.connectTimeout, 30, 1, 3600, 'connectTimeout'),
    // MQTT 3 brokers cannot say how many QoS 1/2 messages they take at once, and mosquitto
    // (max_inflight_messages 20) completes the QoS 2 handshake for messages past that and
    // then drops them. 20 is safe; Paho queues (and persists) the rest. MQTT 5 brokers
    // announce a receive maximum, which Paho honours.
    maxInflight: integerIn(options.maxInflight, v5 ? 65535 : 20, 1, 65535, 'maxInflight'),
    retryInterval: 0,
    username: options.username,
    password: options.password,
    // The client reconnects itself (see reconnectPolicy): Paho's own reconnect reports no sessionPresent.
    automaticReconnect: false,
    minRetryInterval: reconnect.minRetryInterval,
    maxRetryInterval: reconnect.maxRetryInterval,
    properties: toNativeProperties(options.properties, 'connect properties'),
  };
  if (options.serverURIs !== undefined) {
    if (!Array.isArray(options.serverURIs)) throw invalidArg('serverURIs must be an array of URIs');
    spec.serverURIs = options.serverURIs.map((uri, i) => validateServerURI(uri, `serverURIs[${i}]`));
  }
  if (options.will !== undefined) {
    const will = options.will;
    if (!Buffer.isBuffer(will?.payload)) throw invalidArg('will.payload must be a Buffer');
    spec.will = {
      topic: validateTopicName(will.topic),
      payload: will.payload,
      qos: validateQoS(will.qos ?? 0, 'will.qos'),
      retained: optionalBoolean(will.retained, 'will.retained') ?? false,
      properties: v5 ? toNativeProperties(will.properties, 'will.properties') : undefined,
    };
  }
  const tls = [serverURI, ...(spec.serverURIs ?? [])].some(isTlsURI);
  if (options.ssl !== undefined || tls) {
    const ssl = options.ssl ?? {};
    for (const name of [
      'trustStore',
      'keyStore',
      'privateKey',
      'privateKeyPassword',
      'caPath',
      'enabledCipherSuites',
    ] as const) {
      if (ssl[name] !== undefined && typeof ssl[name] !== 'string') throw invalidArg(`ssl.${name} must be a string`);
    }
    const enableServerCertAuth = optionalBoolean(ssl.enableServerCertAuth, 'ssl.enableServerCertAuth') ?? true;
    spec.ssl = {
      ...ssl,
      enableServerCertAuth,
      verify: optionalBoolean(ssl.verify, 'ssl.verify') ?? enableServerCertAuth,
    };
  }
  return spec;
}

export interface SubscribeOptions {
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  properties?: MqttProperties;
}

/** Checks a subscribeMany argument; answers the per-topic arrays of the native spec. */
export function toSubscribeLists(subscriptions: ({ topic: string } & SubscribeOptions)[], mqttVersion: number) {
  if (!Array.isArray(subscriptions) || subscriptions.length === 0)
    throw invalidArg('subscribeMany needs a non-empty array of { topic, qos }');
  subscriptions.forEach((s, i) => {
    const what = `subscriptions[${i}]`;
    const v5Only = s.noLocal !== undefined || s.retainAsPublished !== undefined || s.retainHandling !== undefined;
    if (v5Only && mqttVersion !== 5)
      throw invalidArg(`${what}: noLocal, retainAsPublished and retainHandling need mqttVersion 5`);
    optionalBoolean(s.noLocal, `${what}.noLocal`);
    optionalBoolean(s.retainAsPublished, `${what}.retainAsPublished`);
    if (s.retainHandling !== undefined && s.retainHandling !== 0 && s.retainHandling !== 1 && s.retainHandling !== 2)
      throw invalidArg(`${what}.retainHandling must be 0, 1 or 2`);
    // One SUBSCRIBE packet carries one property set.
    if (i > 0 && s.properties !== undefined)
      throw invalidArg(
        `${what}.properties: subscribe properties apply to the whole request; give them on the first subscription`,
      );
  });
  return {
    topics: subscriptions.map((s) => validateTopicFilter(s.topic)),
    qos: subscriptions.map((s, i) => validateQoS(s.qos ?? 0, `subscriptions[${i}].qos`)),
    noLocal: subscriptions.map((s) => s.noLocal ?? false),
    retainAsPublished: subscriptions.map((s) => s.retainAsPublished ?? false),
    retainHandling: subscriptions.map((s) => s.retainHandling ?? 0),
  };
}

export interface PublishOptions {
  qos?: QoS;
  retained?: boolean;
  properties?: MqttProperties;
}

export interface EnqueueOptions extends PublishOptions {
  /**
   * Time to live, ms on the outbox clock from enqueue (default: CreateOptions.outbox.ttlMs):
   * a message not handed to Paho by then leaves the outbox with 'dropped' reason 'expired'.
   */
  ttlMs?: number;
}

export interface DisconnectOptions {
  /** How long Paho waits for messages in flight, in ms (default 0). */
  timeout?: number;
  reasonCode?: number;
  properties?: MqttProperties;
}

/** Checks publish arguments; answers the native spec without properties. */
/** Checks a publish's arguments; `properties` is for the caller to fill in (after these checks). */
export function toPublishSpec(topic: string, payload: unknown, options: PublishOptions) {
  validateTopicName(topic);
  if (!(payload instanceof Uint8Array)) {
    throw invalidArg(
      `payload must be a Buffer or Uint8Array, got ${payload === null ? 'null' : typeof payload} (use Buffer.from(text) for strings)`,
    );
  }
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    qos: validateQoS(options.qos ?? 0, 'options.qos'),
    retained: optionalBoolean(options.retained, 'options.retained') ?? false,
    properties: undefined as NativeProperty[] | undefined,
  };
}
