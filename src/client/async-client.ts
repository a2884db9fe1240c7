/**
 * AsyncClient: the Paho C MQTTAsync client for Node. Every Paho call runs on a native
 * command thread; Paho's callbacks arrive as events; persistence goes to any store.
 */
import { EventEmitter } from 'node:events';
import {
  PahoError,
  PahoMqttRedisError,
  PersistenceError,
  invalidArg,
  pahoErrorCode,
  type PersistenceErrorCode,
} from '../errors';
import { native, type NativeClientEvent, type NativeMqttClient } from '../native';
import { assertClientPersistence, type ClientPersistence } from '../persistence/client-persistence';
import { fromNativeProperties, type MqttProperties, toNativeProperties } from './properties';
import { StoreBridge, type StoreBridgeStats } from '../persistence/store-bridge';
import {
  type ConnectOptions,
  type CreateOptions,
  type QoS,
  toConnectSpec,
  toCreateSpec,
  validateClientId,
  validateQoS,
  validateTopicFilter,
  validateTopicName,
} from './options';

export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retained: boolean;
  dup: boolean;
  properties?: MqttProperties;
}
export interface PublishOptions {
  qos?: QoS;
  retained?: boolean;
  properties?: MqttProperties;
}
export interface PublishResult {
  token: number;
}
export interface SubscribeOptions {
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  properties?: MqttProperties;
}
export interface ConnectResult {
  serverURI: string;
  mqttVersion: number;
  sessionPresent: boolean;
  properties?: MqttProperties;
}
export interface DisconnectOptions {
  timeout?: number;
  reasonCode?: number;
  properties?: MqttProperties;
}

type ResultEvent = Extract<NativeClientEvent, { type: 'result' }>;
interface Pending {
  resolve(event: ResultEvent): void;
  reject(error: Error): void;
}

/** Stores in use by a live client: a store instance holds one client's keyspace. */
const storesInUse = new WeakSet<object>();

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed overloads of EventEmitter.on
export interface AsyncClient {
  on(event: 'message', listener: (message: Message) => void): this;
  on(event: 'connected', listener: (info: { cause: string }) => void): this;
  on(event: 'connectionLost', listener: (cause: string) => void): this;
  on(event: 'disconnected', listener: (info: { reasonCode: number; properties?: MqttProperties }) => void): this;
  on(event: 'deliveryComplete', listener: (token: number) => void): this;
  on(event: 'persistenceError', listener: (error: PersistenceError) => void): this;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class AsyncClient extends EventEmitter {
  readonly serverURI: string;
  readonly clientId: string;
  readonly mqttVersion: 3 | 4 | 5;
  private readonly native: NativeMqttClient;
  private readonly bridge: StoreBridge | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private sessionActive = false;
  private refed = false;
  private allowRef = true;
  private closing: Promise<void> | undefined;

  private constructor(options: CreateOptions, store: ClientPersistence | undefined) {
    super();
    this.serverURI = options.serverURI;
    this.clientId = options.clientId;
    this.mqttVersion = options.mqttVersion ?? 4;
    this.bridge =
      store &&
      new StoreBridge(store, {
        operationTimeoutMs: options.operationTimeoutMs,
        onFailure: (error) => this.emit('persistenceError', error),
      });
    this.native = new native.MqttClient((event) => {
      try {
        this.onNativeEvent(event);
      } catch (error) {
        // A throwing listener must surface like any other uncaught error, not inside native code.
        process.nextTick(() => {
          throw error;
        });
      }
    }, this.bridge?.native ?? null);
  }

  /** Creates the Paho client; with a store, Paho opens it and restores pending messages. */
  static async create(options: CreateOptions): Promise<AsyncClient> {
    if (options === null || typeof options !== 'object')
      throw invalidArg('AsyncClient.create(options): options must be an object');
    validateClientId(options.clientId);
    const persistence = options.persistence ?? 'none';
    let type: 0 | 1 | 2;
    let dir: string | undefined;
    let store: ClientPersistence | undefined;
    if (persistence === 'none') {
      type = 1;
    } else if (
      typeof persistence === 'object' &&
      persistence !== null &&
      'dir' in persistence &&
      typeof persistence.dir === 'string' &&
      !('put' in persistence)
    ) {
      if (persistence.dir.length === 0) throw invalidArg('persistence.dir must be a non-empty path');
      type = 0;
      dir = persistence.dir;
    } else {
      assertClientPersistence(persistence, 'persistence');
      if (storesInUse.has(persistence))
        throw invalidArg(
          'this persistence store is already used by another live client; give each client its own store instance',
        );
      type = 2;
      store = persistence;
    }
    const spec = toCreateSpec(options, type, dir);
    const client = new AsyncClient(options, store);
    if (store) storesInUse.add(store);
    try {
      await client.request('create', (id) => client.native.open(id, spec));
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    return client;
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  async connect(options: ConnectOptions = {}): Promise<ConnectResult> {
    const spec = toConnectSpec(options, this.mqttVersion, this.serverURI);
    const event = await this.request('connect', (id) => this.native.connect(id, spec));
    this.sessionActive = true;
    this.updateRef();
    return {
      serverURI: event.serverURI ?? this.serverURI,
      mqttVersion: event.mqttVersion ?? this.mqttVersion,
      sessionPresent: event.sessionPresent ?? false,
      properties: fromNativeProperties(event.properties),
    };
  }

  /** Resolves when the QoS flow completes (QoS 0: written to the socket). */
  async publish(topic: string, payload: Buffer | Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    validateTopicName(topic);
    if (!(payload instanceof Uint8Array)) {
      throw invalidArg(
        `payload must be a Buffer or Uint8Array, got ${payload === null ? 'null' : typeof payload} (use Buffer.from(text) for strings)`,
      );
    }
    const qos = validateQoS(options.qos ?? 0, 'options.qos');
    if (options.retained !== undefined && typeof options.retained !== 'boolean')
      throw invalidArg('options.retained must be a boolean');
    const spec = {
      topic,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      qos,
      retained: options.retained ?? false,
      properties: this.v5Properties(options.properties, 'publish properties'),
    };
    const event = await this.request('publish', (id) => this.native.publish(id, spec));
    return { token: event.token };
  }

  /** Returns the granted QoS (v3) or the reason code (v5). */
  async subscribe(topicFilter: string, options: SubscribeOptions = {}): Promise<number> {
    const [granted] = await this.subscribeMany([{ topic: topicFilter, ...options }]);
    return granted;
  }

  async subscribeMany(subscriptions: ({ topic: string } & SubscribeOptions)[]): Promise<number[]> {
    if (!Array.isArray(subscriptions) || subscriptions.length === 0)
      throw invalidArg('subscribeMany needs a non-empty array of { topic, qos }');
    subscriptions.forEach((s, i) => {
      const what = `subscriptions[${i}]`;
      const v5Only = s.noLocal !== undefined || s.retainAsPublished !== undefined || s.retainHandling !== undefined;
      if (v5Only && this.mqttVersion !== 5)
        throw invalidArg(`${what}: noLocal, retainAsPublished and retainHandling need mqttVersion 5`);
      if (s.noLocal !== undefined && typeof s.noLocal !== 'boolean')
        throw invalidArg(`${what}.noLocal must be a boolean`);
      if (s.retainAsPublished !== undefined && typeof s.retainAsPublished !== 'boolean')
        throw invalidArg(`${what}.retainAsPublished must be a boolean`);
      if (
        s.retainHandling !== undefined &&
        s.retainHandling !== 0 &&
        s.retainHandling !== 1 &&
        s.retainHandling !== 2
      ) {
        throw invalidArg(`${what}.retainHandling must be 0, 1 or 2`);
      }
      // One SUBSCRIBE packet carries one property set.
      if (i > 0 && s.properties !== undefined)
        throw invalidArg(
          `${what}.properties: subscribe properties apply to the whole request; give them on the first subscription`,
        );
    });
    const spec = {
      topics: subscriptions.map((s) => validateTopicFilter(s.topic)),
      qos: subscriptions.map((s, i) => validateQoS(s.qos ?? 0, `subscriptions[${i}].qos`)),
      noLocal: subscriptions.map((s) => s.noLocal ?? false),
      retainAsPublished: subscriptions.map((s) => s.retainAsPublished ?? false),
      retainHandling: subscriptions.map((s) => s.retainHandling ?? 0),
      properties: this.v5Properties(subscriptions[0].properties, 'subscribe properties'),
    };
    const event = await this.request('subscribe', (id) => this.native.subscribe(id, spec));
    return event.list;
  }

  async unsubscribe(topicFilters: string | string[], properties?: MqttProperties): Promise<void> {
    const topics = (Array.isArray(topicFilters) ? topicFilters : [topicFilters]).map(validateTopicFilter);
    if (topics.length === 0) throw invalidArg('unsubscribe needs at least one topic filter');
    const spec = { topics, properties: this.v5Properties(properties, 'unsubscribe properties') };
    await this.request('unsubscribe', (id) => this.native.unsubscribe(id, spec));
  }

  /** Tokens of messages not yet fully delivered (MQTTAsync_getPendingTokens). */
  async getPendingTokens(): Promise<number[]> {
    return (await this.request('getPendingTokens', (id) => this.native.getPendingTokens(id))).list;
  }

  /**
   * Resolves when every write the persistence was given before this call is stored: in
   * particular, every message published before it survives a crash from then on (with
   * durability 'batched', records are written behind; see docs/persistence.md). Rejects with
   * the PersistenceError of a write that failed meanwhile. Without a user store it resolves
   * once earlier calls have reached Paho (Paho's file store writes synchronously).
   */
  async flush(): Promise<void> {
    const event = await this.request('flush', (id) => this.native.flush(id));
    if (this.bridge) await this.bridge.waitSettled(event.logSeq ?? 0);
  }

  /** Counters of the persistence bridge (writes logged, absorbed, batches, waits, queue depth), with a user store. */
  persistenceStats(): StoreBridgeStats | undefined {
    return this.bridge?.stats();
  }

  async isConnected(): Promise<boolean> {
    return (await this.request('isConnected', (id) => this.native.isConnected(id))).list[0] === 1;
  }

  async disconnect(options: DisconnectOptions = {}): Promise<void> {
    const timeout = options.timeout ?? 0;
    if (!Number.isInteger(timeout) || timeout < 0)
      throw invalidArg('disconnect timeout must be a non-negative integer (ms)');
    const spec = {
      timeout,
      reasonCode: options.reasonCode,
      properties: this.v5Properties(options.properties, 'disconnect properties'),
    };
    try {
      await this.request('disconnect', (id) => this.native.disconnect(id, spec));
    } finally {
      this.sessionActive = false;
      this.updateRef();
    }
  }

  /** Destroys the Paho client (Paho then closes the store). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.destroy();
    return this.closing;
  }

  /** Let the process exit even while connected (like socket.unref()). */
  unref(): this {
    this.allowRef = false;
    this.updateRef();
    this.bridge?.store.unref?.();
    return this;
  }

  ref(): this {
    this.allowRef = true;
    this.updateRef();
    this.bridge?.store.ref?.();
    return this;
  }

  private async destroy(): Promise<void> {
    try {
      await this.request('close', (id) => this.native.destroy(id), true);
    } finally {
      this.native.dispose();
      this.bridge?.close();
      if (this.bridge) storesInUse.delete(this.bridge.store);
      this.sessionActive = false;
      for (const [, pending] of this.pending)
        pending.reject(new PahoMqttRedisError('ERR_CLIENT_CLOSED', 'the client was closed'));
      this.pending.clear();
      this.updateRef();
    }
  }

  private v5Properties(properties: MqttProperties | undefined, what: string) {
    if (properties !== undefined && this.mqttVersion !== 5) throw invalidArg(`${what} need mqttVersion 5`);
    return toNativeProperties(properties, what);
  }

  private request(what: string, start: (id: number) => void, evenIfClosing = false): Promise<ResultEvent> {
    if (this.closing && !evenIfClosing) {
      return Promise.reject(new PahoMqttRedisError('ERR_CLIENT_CLOSED', `${what}: the client is closed`));
    }
    const id = this.nextRequest++;
    const promise = new Promise<ResultEvent>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (event) => (event.rc === 0 ? resolve(event) : reject(this.failureOf(what, event))),
        reject,
      });
    });
    this.updateRef();
    start(id);
    return promise;
  }

  private failureOf(what: string, event: ResultEvent): Error {
    const failure = event.persistenceFailures[0];
    if (failure) {
      const claimed = this.bridge?.takeClaimed(failure.message);
      const target = failure.key ? `${failure.op}('${failure.key}')` : failure.op;
      const message = `${what}: the store failed during ${target}: ${claimed?.message ?? failure.message}`;
      return new PersistenceError(
        (claimed?.code ?? failure.code) as PersistenceErrorCode,
        failure.op,
        failure.key,
        message,
        { cause: claimed?.cause ?? claimed },
      );
    }
    const detail = event.message ? `: ${event.message}` : '';
    const reason = event.reasonCode !== undefined && event.reasonCode > 0 ? ` (reason code ${event.reasonCode})` : '';
    return new PahoError(pahoErrorCode(event.rc), event.rc, `${what} failed${detail}${reason} [rc ${event.rc}]`);
  }

  private updateRef(): void {
    const want = this.allowRef && (this.pending.size > 0 || (this.sessionActive && !this.closing));
    if (want === this.refed) return;
    this.refed = want;
    if (want) this.native.ref();
    else this.native.unref();
  }

  private onNativeEvent(event: NativeClientEvent): void {
    switch (event.type) {
      case 'result': {
        const pending = this.pending.get(event.request);
        if (!pending) return;
        this.pending.delete(event.request);
        this.updateRef();
        pending.resolve(event);
        return;
      }
      case 'message':
        this.emit('message', {
          topic: event.topic,
          payload: event.payload,
          qos: event.qos as QoS,
          retained: event.retained,
          dup: event.dup,
          properties: fromNativeProperties(event.properties),
        } satisfies Message);
        return;
      case 'connected':
        this.emit('connected', { cause: event.cause });
        return;
      case 'connectionLost':
        this.emit('connectionLost', event.cause);
        return;
      case 'disconnected':
        this.emit('disconnected', { reasonCode: event.reasonCode, properties: fromNativeProperties(event.properties) });
        return;
      case 'deliveryComplete':
        this.emit('deliveryComplete', event.token);
        return;
    }
  }
}
