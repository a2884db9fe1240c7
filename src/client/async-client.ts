/**
 * AsyncClient: the Paho C MQTTAsync client for Node. Every Paho call runs on a native
 * command thread; Paho's callbacks arrive as events; persistence goes to any store.
 */
import { EventEmitter } from 'node:events';
import { PahoMqttRedisError, PersistenceError, invalidArg } from '../errors';
import type { ClientPersistence } from '../persistence/client-persistence';
import { choosePersistence, claimStore, releaseStore, validateStoreUnavailablePolicy } from './persistence-choice';
import { NativeRequests, type ResultEvent } from './requests';
import { type MqttProperties, propertyKind, toNativeProperties } from './properties';
import { checkBrokerLimits } from './broker-limits';
import { StoreBridge } from '../persistence/bridge/store-bridge';
import {
  type ConnectOptions,
  type CreateOptions,
  type DisconnectOptions,
  type EnqueueOptions,
  type PublishOptions,
  type SubscribeOptions,
  toCreateSpec,
  toPublishSpec,
  toSubscribeLists,
  validateClientId,
  validateTopicFilter,
} from './options';
import {
  type ClientEvents,
  type ConnectResult,
  type Message,
  type PublishResult,
  publishClient,
  publishStore,
} from './events';
import { type MessagesOptions, messageIterator } from './message-iterator';
import { ClientConnection, closedError } from './connection';
import { DeliveryListenerWatch } from './native-events';
import { PahoHandle } from './paho-handle';
import { restoreError } from './restore-error';
import { SubscriptionRegistry } from './subscriptions';
import { ClientCounters, type ClientStats } from './stats';
import type { Outbox } from './outbox';
import {
  type PumpStats,
  adoptQueuedPublishesOf,
  enqueueRefusal,
  newOutbox,
  outboxStatsOf,
  pumpStatsOf,
} from './outbox-wiring';
import { type OutboxChoice, chooseOutbox } from './outbox-options';
import { poisonPolicy } from './poison';
import { PoisonSetAside } from './poison-quarantine';

export type { SubscribeOptions, PublishOptions, EnqueueOptions, DisconnectOptions } from './options';
export type { ConnectResult, PublishResult } from './events';

/** Events are typed: `on`, `once` and `off` know each event's arguments (see ClientEvents). */
export class AsyncClient extends EventEmitter<ClientEvents> {
  readonly serverURI: string;
  readonly clientId: string;
  readonly mqttVersion: 3 | 4 | 5;
  // Replaced (with the create spec kept for it) only when a poison message is set aside.
  private readonly paho: PahoHandle;
  private readonly requests: NativeRequests;
  private readonly connection: ClientConnection;
  private closing: Promise<void> | undefined;
  private readonly subscriptions = new SubscriptionRegistry();
  private readonly counters = new ClientCounters();
  private readonly outboxChoice: OutboxChoice;
  private readonly outbox: Outbox | undefined;
  private readonly poisonSetAside: PoisonSetAside;

  private constructor(options: CreateOptions, store: ClientPersistence | undefined) {
    super();
    this.outboxChoice = chooseOutbox(options, store);
    this.serverURI = options.serverURI;
    this.clientId = options.clientId;
    this.mqttVersion = options.mqttVersion ?? 4;
    this.poisonSetAside = new PoisonSetAside({
      clientId: this.clientId,
      events: this,
      counters: this.counters,
      bridge: () => this.paho.bridge,
      isClosed: () => this.isClosed,
      storeFailed: (error) => this.storeFailed(error),
      createPahoAgain: () => this.paho.createAgain(),
      close: () => void this.close(),
    });
    this.connection = new ClientConnection({
      clientId: this.clientId,
      serverURI: this.serverURI,
      mqttVersion: this.mqttVersion,
      events: this,
      counters: this.counters,
      subscriptions: this.subscriptions,
      closing: () => this.closing !== undefined,
      refAllowed: () => this.paho.refAllowed,
      sessionChanged: () => this.paho.updateRef(),
      connected: () => this.outbox?.pump(),
      sendConnect: (what, spec) => this.request(what, (id) => this.paho.native.connect(id, spec)),
      sendDisconnect: (spec) => this.request('disconnect', (id) => this.paho.native.disconnect(id, spec), true),
      subscribeMany: (group) => this.subscribeMany(group),
      poison: poisonPolicy(options.poison),
      setAsidePoison: (refusal) => this.poisonSetAside.run(refusal),
    });
    const bridgeFor = (s: ClientPersistence): StoreBridge =>
      new StoreBridge(s, {
        operationTimeoutMs: options.operationTimeoutMs,
        onStoreUnavailable: options.onStoreUnavailable,
        claimOpenFailure: true,
        checkRestore: { mqttVersion: this.mqttVersion },
        onFailure: (error) => this.storeFailed(error),
        onOutboxMovesFailed: (ids) => this.outbox?.movesFailed(ids),
        afterOpen: () => adoptQueuedPublishesOf(this.outboxChoice),
      });
    this.requests = new NativeRequests(
      () => this.paho.bridge,
      () => this.paho.updateRef(),
    );
    this.paho = new PahoHandle({
      clientId: this.clientId,
      events: this,
      requests: this.requests,
      connection: this.connection,
      counters: this.counters,
      newBridge: () => store && bridgeFor(store),
      storeFailed: (error) => this.storeFailed(error),
      busy: () => this.requests.size > 0 || (this.connection.sessionActive && !this.closing),
    });
    this.outbox = this.newOutbox(options.sendWhileDisconnected === true);
    this.deliveryListeners.watch();
  }

  private readonly deliveryListeners = new DeliveryListenerWatch(this, () => this.paho.native);

  /** The open messages() iterators' listeners, to put back (see messageIterator). */
  private readonly openIterators = new Set<() => void>();

  /**
   * As EventEmitter's; the client's own hooks that follow the 'deliveryComplete' listeners stay,
   * and so do open messages() iterators.
   */
  override removeAllListeners(event?: keyof ClientEvents | 'newListener' | 'removeListener'): this {
    if (event === undefined) super.removeAllListeners();
    else super.removeAllListeners(event);
    this.deliveryListeners.watch();
    for (const listen of this.openIterators) listen();
    return this;
  }

  /** Creates the Paho client; with a store, Paho opens it and restores pending messages. */
  static async create(options: CreateOptions): Promise<AsyncClient> {
    if (options === null || typeof options !== 'object')
      throw invalidArg('AsyncClient.create(options): options must be an object');
    validateClientId(options.clientId);
    const { type, dir, store } = choosePersistence(options.persistence);
    validateStoreUnavailablePolicy(options, store !== undefined);
    const spec = toCreateSpec(options, type, dir);
    const client = new AsyncClient(options, store);
    client.paho.createSpec = spec;
    if (store) claimStore(store);
    try {
      await client.request('create', (id) => client.paho.native.create(id, spec));
    } catch (error) {
      const restore = client.paho.bridge?.endRestore();
      await client.close().catch(() => undefined);
      // Paho does not close a store it failed to create over; its connections would stay open.
      await Promise.resolve(store?.close()).catch(() => undefined);
      throw restoreError(restore?.failures) ?? error;
    }
    const restore = client.paho.bridge?.endRestore();
    const failed = restoreError(restore?.failures);
    if (failed) {
      // Paho went on without what it could not read: destroy it before it writes over those records.
      await client.close().catch(() => undefined);
      throw failed;
    }
    try {
      await client.outbox?.start(); // after Paho's restore: the moved messages go first
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    // After the caller's `await` has resumed, so listeners attached right after create() hear them
    // (the outbox's drops found at start too: it holds its events until then).
    setImmediate(() => {
      restore?.quarantined.forEach((e) => client.reportRestored(e));
      client.outbox?.release();
    });
    return client;
  }

  private reportRestored(error: PersistenceError): void {
    if (!this.isClosed) this.storeFailed(error);
  }

  private storeFailed(error: PersistenceError): void {
    this.counters.persistenceErrors += 1;
    publishStore({ clientId: this.clientId, event: 'failure', error });
    this.emit('persistenceError', error);
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Whether the client is connected, as last reported by Paho (isConnected() asks Paho). */
  get connected(): boolean {
    return this.connection.established !== undefined;
  }

  /**
   * Connects. On a connected client it resolves at once with the connection in force, and while
   * a connect or an automatic reconnect is under way it waits for that (the options are not
   * applied then: disconnect first to change them).
   */
  connect(options: ConnectOptions = {}): Promise<ConnectResult> {
    return this.connection.connect(options);
  }

  /** Resolves when the QoS flow completes (QoS 0: written to the socket). */
  publish(topic: string, payload: Buffer | Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    let spec: ReturnType<typeof toPublishSpec>;
    try {
      spec = toPublishSpec(topic, payload, options);
      spec.properties = this.v5Properties(options.properties, 'publish properties');
      checkBrokerLimits(this.connection.brokerLimits, spec, propertyKind);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error))); // bad arguments reject, as everything else does
    }
    const { properties } = spec;
    const start = (id: number): void =>
      this.paho.native.publish(id, spec.topic, spec.payload, spec.qos, spec.retained, properties);
    if (this.closing === undefined && this.poisonSetAside.pending === undefined)
      return this.requests.sendPublish(start, this.countPublish);
    return this.request('publish', start).then(
      (event) => (this.countPublish(true), { token: event.token }),
      (error: unknown) => {
        this.countPublish(false);
        throw error;
      },
    );
  }

  private readonly countPublish = (delivered: boolean): void => {
    if (delivered) this.counters.published += 1;
    else this.counters.publishFailures += 1;
  };

  /**
   * Puts a message in the outbox (the FIFO backlog in the store, see docs/persistence.md):
   * resolves with its id once it is stored; 'delivered' carries that id when the broker has it.
   * publish() is the priority lane: it overtakes what waits here.
   */
  enqueue(topic: string, payload: Buffer | Uint8Array, options: EnqueueOptions = {}): Promise<{ id: string }> {
    const spec = toPublishSpec(topic, payload, options);
    spec.properties = this.v5Properties(options.properties, 'publish properties');
    if (this.closing) return Promise.reject(closedError('enqueue'));
    const refusal = enqueueRefusal(this.outboxChoice, this.outbox, spec.qos, options.ttlMs);
    if (refusal !== undefined) return Promise.reject(refusal);
    return this.outbox!.enqueue(spec, options.ttlMs);
  }

  /** Returns the granted QoS (v3) or the reason code (v5). */
  async subscribe(topicFilter: string, options: SubscribeOptions = {}): Promise<number> {
    const [granted] = await this.subscribeMany([{ topic: topicFilter, ...options }]);
    return granted;
  }

  async subscribeMany(subscriptions: ({ topic: string } & SubscribeOptions)[]): Promise<number[]> {
    const spec = {
      ...toSubscribeLists(subscriptions, this.mqttVersion),
      properties: this.v5Properties(subscriptions[0].properties, 'subscribe properties'),
    };
    const event = await this.request('subscribe', (id) => this.paho.native.subscribe(id, spec));
    this.subscriptions.add(subscriptions.map((s) => ({ ...s })));
    return event.list;
  }

  async unsubscribe(topicFilters: string | string[], properties?: MqttProperties): Promise<void> {
    const topics = (Array.isArray(topicFilters) ? topicFilters : [topicFilters]).map(validateTopicFilter);
    if (topics.length === 0) throw invalidArg('unsubscribe needs at least one topic filter');
    const spec = { topics, properties: this.v5Properties(properties, 'unsubscribe properties') };
    await this.request('unsubscribe', (id) => this.paho.native.unsubscribe(id, spec));
    this.subscriptions.remove(topics);
  }

  /** Tokens of messages not yet fully delivered (MQTTAsync_getPendingTokens). */
  async getPendingTokens(): Promise<number[]> {
    return (await this.request('getPendingTokens', (id) => this.paho.native.getPendingTokens(id))).list;
  }

  /**
   * Resolves when every write the persistence was given before this call is stored: in
   * particular, every message published before it survives a crash from then on (with
   * durability 'batched', records are written behind; see docs/persistence.md). Rejects with
   * the PersistenceError of a write that failed meanwhile. Without a user store it resolves
   * once earlier calls have reached Paho (Paho's file store writes synchronously).
   */
  async flush(): Promise<void> {
    const event = await this.request('flush', (id) => this.paho.native.flush(id));
    if (this.paho.bridge) await this.paho.bridge.waitSettled(event.logSeq ?? 0);
  }

  async isConnected(): Promise<boolean> {
    return (await this.request('isConnected', (id) => this.paho.native.isConnected(id))).list[0] === 1;
  }

  /**
   * Disconnects, waiting up to `timeout` ms for messages in flight. Stops automatic reconnects
   * (a connect() waiting for one rejects with ERR_CONNECT_ABORTED). Not connected: a no-op.
   */
  async disconnect(options: DisconnectOptions = {}): Promise<void> {
    const timeout = options.timeout ?? 0;
    if (!Number.isInteger(timeout) || timeout < 0)
      throw invalidArg('disconnect timeout must be a non-negative integer (ms)');
    if (this.closing) throw closedError('disconnect');
    const spec = {
      timeout,
      reasonCode: options.reasonCode,
      properties: this.v5Properties(options.properties, 'disconnect properties'),
    };
    await this.connection.disconnect(spec);
  }

  /** Disconnects (when connected) and destroys the Paho client, which closes the store. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Messages as an async iterator, e.g. `for await (const m of client.messages())`; ends at close().
   * Messages that arrive while the loop body runs wait in memory, in order.
   */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<Message> {
    if (options === null || typeof options !== 'object')
      throw invalidArg('messages(options): options must be an object');
    if (options.topicFilter !== undefined) validateTopicFilter(options.topicFilter);
    return messageIterator(this, () => this.closing !== undefined, options, this.openIterators);
  }

  /** Counters of this client, and the store bridge's own (`store`) when a store is in use. */
  stats(): ClientStats {
    const stats = this.counters.snapshot(this.requests.size, this.subscriptions.size, this.paho.bridge?.native.stats());
    const outbox = outboxStatsOf(this.outbox, this.outboxChoice);
    if (outbox !== undefined) stats.outbox = outbox;
    return stats;
  }

  /** The outbox's pump (undefined without an outbox): messages with Paho now, the most at once, the window. */
  outboxStats(): PumpStats | undefined {
    return pumpStatsOf(this.outbox, this.outboxChoice);
  }

  /** Let the process exit even while connected (like socket.unref()). */
  unref(): this {
    return this.allowRefs(false);
  }

  ref(): this {
    return this.allowRefs(true);
  }

  /** Whether the native handle, the reconnect timer and the store's connection may keep the process alive. */
  private allowRefs(allow: boolean): this {
    this.paho.allowRef(allow);
    this.connection.applyRef();
    return this;
  }

  private async shutdown(): Promise<void> {
    this.connection.stopReconnecting(closedError('connect'));
    await this.poisonSetAside.pending;
    await this.outbox?.close(); // the outbox clock's checkpoint, while the store is open
    // A Paho thread holding back an acknowledgement (onStoreUnavailable 'disconnect') holds
    // Paho's lock, which the disconnect and destroy below need.
    this.paho.bridge?.native.releaseHolds();
    // A clean DISCONNECT: the broker drops the will message and ends the session now.
    if (this.connection.established) await this.connection.sendDisconnect({ timeout: 0 }).catch(() => undefined);
    await this.destroy();
    publishClient({ clientId: this.clientId, event: 'closed' });
    this.emit('closed');
  }

  private async destroy(): Promise<void> {
    try {
      await this.request('close', (id) => this.paho.native.destroy(id), true);
    } finally {
      this.paho.native.dispose();
      this.paho.bridge?.close();
      if (this.paho.bridge) releaseStore(this.paho.bridge.store);
      this.connection.ended();
      this.requests.rejectAll(new PahoMqttRedisError('ERR_CLIENT_CLOSED', 'the client was closed'));
    }
  }

  private newOutbox(sendWhileDisconnected: boolean): Outbox | undefined {
    if (this.paho.bridge === undefined) return undefined;
    const outbox = newOutbox({
      clientId: this.clientId,
      choice: this.outboxChoice,
      timeoutMs: this.paho.bridge.operationTimeoutMs,
      canSend: () => !this.closing && (sendWhileDisconnected || this.connected),
      brokerLimits: () => this.connection.brokerLimits,
      publish: (start) => this.request('publish', (id) => start(this.paho.native, id)),
      // this.bridge, not a copy: a poison set-aside replaces the bridge with the Paho client.
      flush: () => this.paho.bridge?.flush() ?? Promise.resolve(),
      delivered: (info) => this.emit('delivered', info),
      dropped: (info) => this.emit('dropped', info, info.error),
      failed: (error) => this.storeFailed(error),
    });
    return outbox;
  }

  private v5Properties(properties: MqttProperties | undefined, what: string) {
    if (properties !== undefined && this.mqttVersion !== 5) throw invalidArg(`${what} need mqttVersion 5`);
    return toNativeProperties(properties, what);
  }

  private request(what: string, start: (id: number) => void, evenIfClosing = false): Promise<ResultEvent> {
    if (this.closing && !evenIfClosing) return Promise.reject(closedError(what));
    const settingAside = this.poisonSetAside.pending;
    if (settingAside && !evenIfClosing) return settingAside.then(() => this.request(what, start, evenIfClosing));
    return this.requests.send(what, start);
  }
}
