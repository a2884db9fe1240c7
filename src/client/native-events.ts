/**
 * What an AsyncClient does with its native client's events (delivered in bursts, see
 * event-burst.ts), and the hooks that tell the native client whether to send a
 * 'deliveryComplete' entry per completion: only while someone listens; otherwise the addon
 * counts completions as progress (poison detection reads that).
 */
import type { EventEmitter } from 'node:events';
import type { NativeClientEvent, NativeMqttClient } from '../native';
import type { BurstHandlers } from './event-burst';
import type { ClientConnection } from './connection';
import { type ClientEvents, publishClient, toMessage } from './events';
import { fromNativeProperties } from './properties';
import type { NativeRequests } from './requests';
import type { ClientCounters } from './stats';

/** What the handlers need of their client. */
export interface NativeEventsHost {
  readonly clientId: string;
  readonly events: EventEmitter<ClientEvents>;
  readonly requests: NativeRequests;
  readonly connection: ClientConnection;
  readonly counters: ClientCounters;
}

export function burstHandlersOf(host: NativeEventsHost): BurstHandlers {
  return {
    event: (event) => onNativeEvent(host, event),
    published: (request, token) => host.requests.settlePublished(request, token),
    deliveryComplete: (token) => {
      host.connection.progressed();
      host.events.emit('deliveryComplete', token);
    },
    progressed: () => host.connection.progressed(),
  };
}

function onNativeEvent(host: NativeEventsHost, event: NativeClientEvent): void {
  switch (event.type) {
    case 'result':
      host.requests.settle(event);
      return;
    case 'message':
      host.counters.received += 1;
      host.events.emit('message', toMessage(event));
      return;
    case 'connected':
      return; // emitted by connectOnce(), which knows sessionPresent (Paho's callback does not)
    case 'connectionLost':
      host.connection.lost(event.cause);
      return;
    case 'disconnected': {
      const info = { reasonCode: event.reasonCode, properties: fromNativeProperties(event.properties) };
      publishClient({ clientId: host.clientId, event: 'disconnected', detail: info });
      host.events.emit('disconnected', info);
      host.connection.disconnectedByBroker(event.reasonCode);
      return;
    }
  }
}

/**
 * The client's own 'newListener'/'removeListener' hooks, which follow the 'deliveryComplete'
 * listeners. `watch()` puts back whichever is missing (removeAllListeners() removes them too).
 */
export class DeliveryListenerWatch {
  private readonly onNew = (event: string | symbol): void => {
    if (event === 'deliveryComplete') this.native().wantDeliveryComplete(true);
  };

  private readonly onRemove = (event: string | symbol): void => {
    if (event === 'deliveryComplete') this.sync();
  };

  constructor(
    private readonly emitter: EventEmitter<ClientEvents>,
    /** The client's native client now (a poison set-aside replaces it). */
    private readonly native: () => NativeMqttClient,
  ) {}

  /** Installs the hooks that are not in place, and tells the native client what is listened to. */
  watch(): void {
    const emitter = this.emitter as unknown as EventEmitter; // ClientEvents does not list Node's own events
    if (!emitter.listeners('newListener').includes(this.onNew)) emitter.on('newListener', this.onNew);
    if (!emitter.listeners('removeListener').includes(this.onRemove)) emitter.on('removeListener', this.onRemove);
    this.sync();
  }

  private sync(): void {
    this.native().wantDeliveryComplete(this.emitter.listenerCount('deliveryComplete') > 0);
  }
}
