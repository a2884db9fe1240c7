/**
 * An AsyncClient's connection: connect() (with retryFirstConnect), the automatic reconnects
 * after a loss and the resubscribe that follows them, disconnect(), and the state they share.
 */
import type { EventEmitter } from 'node:events';
import { PahoError, PahoMqttRedisError } from '../errors';
import type { NativeConnectSpec, NativeMqttClient } from '../native';
import { type ClientEvents, type ConnectResult, publishClient } from './events';
import { type ConnectOptions, type SubscribeOptions, toConnectSpec } from './options';
import { fromNativeProperties } from './properties';
import { brokerLimits, type BrokerLimits } from './broker-limits';
import { Reconnector, reconnectPolicy, type ReconnectPolicy } from './reconnect';
import { RefusalCounter, disconnectRefusal, lossRefusal, type PoisonPolicy, type Refusal } from './poison';
import { withUnresolvedHosts } from './unresolved-hosts';
import type { ResultEvent } from './requests';
import type { ClientCounters } from './stats';
import type { SubscriptionRegistry } from './subscriptions';

export type DisconnectSpec = Parameters<NativeMqttClient['disconnect']>[1];

/** What the connection needs of its client. */
export interface ConnectionHooks {
  readonly clientId: string;
  readonly serverURI: string;
  readonly mqttVersion: 3 | 4 | 5;
  readonly events: EventEmitter<ClientEvents>;
  readonly counters: ClientCounters;
  readonly subscriptions: SubscriptionRegistry;
  /** True once close() has begun. */
  closing(): boolean;
  /** Whether the reconnect timer may keep the process alive (client.unref()). */
  refAllowed(): boolean;
  /** The session went up or down: the client re-evaluates whether it keeps the process alive. */
  sessionChanged(): void;
  /** Connected, before the 'connected' event (not a listener: removeAllListeners() cannot drop it). */
  connected(): void;
  sendConnect(what: string, spec: NativeConnectSpec): Promise<ResultEvent>;
  sendDisconnect(spec: DisconnectSpec): Promise<unknown>;
  subscribeMany(subscriptions: ({ topic: string } & SubscribeOptions)[]): Promise<number[]>;
  /** See CreateOptions.poison; undefined: never set a message aside. */
  readonly poison: PoisonPolicy | undefined;
  /** The broker refused the first stored publish (see poison.ts): set it aside. */
  setAsidePoison(refusal: Refusal): Promise<void>;
}

const noop = (): void => undefined;

export function closedError(what: string): PahoMqttRedisError {
  return new PahoMqttRedisError('ERR_CLIENT_CLOSED', `${what}: the client is closed`);
}

/** Runs `fn`; what it throws is rethrown outside the caller, as an uncaught exception. */
export function surfaceThrows(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    surfaceLater(error);
  }
}

/** Rethrows `error` on a later tick, as an uncaught error. */
export function surfaceLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

export class ClientConnection {
  private result: ConnectResult | undefined;
  /** What the last CONNACK said about the PUBLISH packets the broker takes (kept while offline). */
  private limits: BrokerLimits = {};
  private active = false;
  /** A user connect() until it settles (with retryFirstConnect: until a retry succeeds). */
  private connecting: Promise<ConnectResult> | undefined;
  /** The native connect request in flight (connect() or a reconnect attempt). */
  private connectRequest: Promise<unknown> | undefined;
  private connectSpec: NativeConnectSpec | undefined;
  private policy: ReconnectPolicy | undefined;
  private readonly reconnector: Reconnector<ConnectResult>;
  private readonly refusals: RefusalCounter;

  constructor(private readonly hooks: ConnectionHooks) {
    this.refusals = new RefusalCounter(hooks.poison);
    this.reconnector = new Reconnector<ConnectResult>({
      attempt: () => this.connectOnce('reconnect'),
      scheduled: (attempt, delayMs, error) => {
        hooks.events.emit('reconnecting', { attempt, delayMs, error });
        publishClient({ clientId: hooks.clientId, event: 'reconnecting', detail: { attempt, delayMs, error } });
      },
      refed: () => hooks.refAllowed(),
    });
  }

  /** The connection in force, as last reported by Paho. */
  get established(): ConnectResult | undefined {
    return this.result;
  }

  /** The publish limits of the last CONNACK (MQTT 5; none before the first connect). */
  get brokerLimits(): BrokerLimits {
    return this.limits;
  }

  /** From a successful connect until a disconnect, a loss or close(). */
  get sessionActive(): boolean {
    return this.active;
  }

  /** See AsyncClient.connect. */
  async connect(options: ConnectOptions): Promise<ConnectResult> {
    const hooks = this.hooks;
    if (hooks.closing()) throw closedError('connect');
    const spec = toConnectSpec(options, hooks.mqttVersion, hooks.serverURI);
    const policy = reconnectPolicy(options);
    if (this.result) return this.result;
    if (this.connecting) return this.connecting;
    if (this.reconnector.active) return this.reconnector.waitForSuccess();
    this.connectSpec = spec;
    this.policy = policy;
    const connecting = this.connectOnce('connect').catch((error: Error) => {
      if (hooks.closing()) throw closedError('connect'); // Paho discarded it (rc -11) when close() destroyed the client
      if (!policy.retryFirstConnect || this.policy !== policy) throw error;
      publishClient({ clientId: hooks.clientId, event: 'connectFailed', detail: error });
      const waiting = this.reconnector.waitForSuccess();
      this.reconnector.schedule(policy, error);
      return waiting;
    });
    this.connecting = connecting;
    const clear = (): void => {
      if (this.connecting === connecting) this.connecting = undefined;
    };
    connecting.then(clear, clear);
    return connecting;
  }

  /** See AsyncClient.disconnect. */
  async disconnect(spec: DisconnectSpec): Promise<void> {
    this.stopReconnecting(new PahoMqttRedisError('ERR_CONNECT_ABORTED', 'connect: aborted by disconnect()'));
    // Paho ignores a disconnect while its connect is under way: let that settle first.
    await this.connectRequest?.catch(noop);
    await this.sendDisconnect(spec);
  }

  async sendDisconnect(spec: DisconnectSpec): Promise<void> {
    try {
      await this.hooks.sendDisconnect(spec);
    } catch (error) {
      // Not connected (Paho's MQTTASYNC_DISCONNECTED): nothing to do.
      if (!(error instanceof PahoError && error.code === 'ERR_PAHO_DISCONNECTED')) throw error;
    } finally {
      this.ended();
      this.hooks.sessionChanged();
    }
  }

  stopReconnecting(reason: Error): void {
    this.policy = undefined;
    this.reconnector.stop(reason);
  }

  /** Paho lost the connection: reconnects when the policy says so. */
  lost(cause: string): void {
    const hooks = this.hooks;
    this.ended();
    hooks.sessionChanged();
    hooks.counters.connectionLosses += 1;
    publishClient({ clientId: hooks.clientId, event: 'connectionLost', detail: cause });
    hooks.events.emit('connectionLost', cause);
    const refusals = this.refusals.lost();
    if (refusals > 0 && !hooks.closing()) void this.setAsidePoison(lossRefusal(refusals));
    else if (this.policy?.enabled && !hooks.closing()) this.reconnector.schedule(this.policy);
  }

  /**
   * MQTT 5: the broker sent DISCONNECT (Paho then reports no loss). One naming a CONNACK limit
   * refuses a stored publish: it is set aside at once (the broker said why), then the reconnect
   * goes ahead as after a loss. Other reason codes change nothing here.
   */
  disconnectedByBroker(reasonCode: number): void {
    const refusal = disconnectRefusal(reasonCode, this.limits);
    if (refusal === undefined || this.hooks.poison === undefined || this.hooks.closing()) return;
    this.ended();
    this.hooks.sessionChanged();
    void this.setAsidePoison(refusal);
  }

  /** A publish completed: the losses so far were no refusals of a poison message. */
  progressed(): void {
    this.refusals.progressed();
  }

  /** Sets the poison aside before the next reconnect, which then goes ahead as it would have. */
  private async setAsidePoison(refusal: Refusal): Promise<void> {
    this.refusals.reset();
    const policy = this.policy;
    try {
      // A loss can come before its connect attempt fails; Paho rewrites the in-flight records
      // (remove, put again) before it reports that failure: the records to read come after it.
      await this.connectRequest?.catch(noop);
      await this.hooks.setAsidePoison(refusal);
    } finally {
      // disconnect() or close() meanwhile stopped the reconnects: none is scheduled then.
      if (policy?.enabled && this.policy === policy && !this.hooks.closing()) this.reconnector.schedule(policy);
    }
  }

  /** The session is over (the client calls it when destroyed). */
  ended(): void {
    this.result = undefined;
    this.active = false;
  }

  applyRef(): void {
    this.reconnector.applyRef();
  }

  private async connectOnce(cause: 'connect' | 'reconnect'): Promise<ConnectResult> {
    const hooks = this.hooks;
    const spec = this.connectSpec!;
    const uris = [hooks.serverURI, ...(spec.serverURIs ?? [])];
    // From here: Paho can report the loss before this connect's success (it sends at CONNACK).
    this.refusals.connected();
    const request = hooks.sendConnect(`connect to ${uris.join(', ')}`, spec);
    this.connectRequest = request;
    let event: ResultEvent;
    try {
      event = await request;
    } catch (e) {
      throw await withUnresolvedHosts(e, uris);
    } finally {
      this.connectRequest = undefined;
    }
    const result: ConnectResult = {
      serverURI: event.serverURI ?? hooks.serverURI,
      mqttVersion: event.mqttVersion ?? hooks.mqttVersion,
      sessionPresent: event.sessionPresent ?? false,
      properties: fromNativeProperties(event.properties),
    };
    this.result = result;
    this.limits = brokerLimits(result.properties);
    this.active = true;
    hooks.sessionChanged();
    hooks.counters.connected(cause);
    // The broker holds no subscriptions of a new session: forget those of the old one.
    if (cause === 'connect' && !result.sessionPresent) hooks.subscriptions.clear();
    const info = { cause, sessionPresent: result.sessionPresent, serverURI: result.serverURI };
    publishClient({ clientId: hooks.clientId, event: 'connected', detail: info });
    // A throwing listener must not undo a connection that happened (nor the waiters' results).
    surfaceThrows(() => hooks.connected());
    surfaceThrows(() => hooks.events.emit('connected', info));
    this.reconnector.succeeded(result);
    if (cause === 'reconnect' && !result.sessionPresent && this.policy?.resubscribe) void this.resubscribe();
    return result;
  }

  private async resubscribe(): Promise<void> {
    const hooks = this.hooks;
    await hooks.subscriptions.restore(
      (group) => hooks.subscribeMany(group),
      (info) => {
        if (info.granted) hooks.counters.resubscribed += info.topics.length;
        publishClient({ clientId: hooks.clientId, event: 'resubscribed', detail: info });
        hooks.events.emit('resubscribed', info);
      },
    );
  }
}
