/**
 * An AsyncClient's Paho client (the addon's MqttClient) and its store bridge: created together,
 * replaced together when a poison message is set aside, and whether they keep the process alive.
 */
import type { EventEmitter } from 'node:events';
import type { PersistenceError } from '../errors';
import { native, type NativeCreateSpec, type NativeMqttClient } from '../native';
import type { StoreBridge } from '../persistence/bridge/store-bridge';
import type { ClientConnection } from './connection';
import { forEachInBurst } from './event-burst';
import type { ClientEvents } from './events';
import { burstHandlersOf } from './native-events';
import type { NativeRequests } from './requests';
import { restoreError } from './restore-error';
import type { ClientCounters } from './stats';

export interface PahoHandleHost {
  readonly clientId: string;
  readonly events: EventEmitter<ClientEvents>;
  readonly requests: NativeRequests;
  readonly connection: ClientConnection;
  readonly counters: ClientCounters;
  /** A new bridge over the client's store (undefined without one). */
  newBridge(): StoreBridge | undefined;
  storeFailed(error: PersistenceError): void;
  /** Whether the client has work that keeps the process alive: requests pending, a session. */
  busy(): boolean;
}

export class PahoHandle {
  native: NativeMqttClient;
  bridge: StoreBridge | undefined;
  /** Kept for creating the Paho client again. */
  createSpec: NativeCreateSpec | undefined;
  private refed = false;
  private allowed = true;

  constructor(private readonly host: PahoHandleHost) {
    this.bridge = host.newBridge();
    this.native = this.newNative();
  }

  /** Whether the client may keep the process alive (client.ref() / unref()). */
  get refAllowed(): boolean {
    return this.allowed;
  }

  allowRef(allow: boolean): void {
    this.allowed = allow;
    this.updateRef();
    if (allow) this.bridge?.store.ref?.();
    else this.bridge?.store.unref?.();
  }

  updateRef(): void {
    const want = this.allowed && this.host.busy();
    if (want === this.refed) return;
    this.refed = want;
    if (want) this.native.ref();
    else this.native.unref();
  }

  /** Destroys the Paho client (and its copy of a poison message) and creates one over the same store. */
  async createAgain(): Promise<void> {
    await this.host.requests.send('close', (id) => this.native.destroy(id));
    this.native.dispose();
    this.bridge?.close();
    this.bridge = this.host.newBridge();
    this.native = this.newNative();
    this.refed = false;
    this.updateRef();
    await this.open('create again without the poison message');
  }

  /** Paho's create over the current bridge; rejects with what restoring from the store failed with. */
  private async open(what: string): Promise<void> {
    await this.host.requests.send(what, (id) => this.native.create(id, this.createSpec!));
    const restore = this.bridge?.endRestore();
    const failed = restoreError(restore?.failures);
    if (failed) throw failed;
    restore?.quarantined.forEach((error) => this.host.storeFailed(error));
  }

  private newNative(): NativeMqttClient {
    const handlers = burstHandlersOf(this.host);
    // A throwing listener must surface like any other uncaught error, not inside native code.
    const client = new native.MqttClient(
      (codes, events) => forEachInBurst(codes, events, handlers),
      this.bridge?.native ?? null,
    );
    client.wantDeliveryComplete(this.host.events.listenerCount('deliveryComplete') > 0);
    return client;
  }
}
