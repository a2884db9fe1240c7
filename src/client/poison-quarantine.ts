/** A poison message's record moved to the store's quarantine, and reported (see poison.ts). */
import type { EventEmitter } from 'node:events';
import type { PersistenceError } from '../errors';
import type { StoreBridge } from '../persistence/bridge/store-bridge';
import { surfaceThrows } from './connection';
import { type ClientEvents, publishClient } from './events';
import { asPersistenceError, quarantineOldestPublish, type Refusal } from './poison';
import type { ClientCounters } from './stats';

export interface QuarantineHost {
  readonly clientId: string;
  readonly events: EventEmitter<ClientEvents>;
  readonly counters: ClientCounters;
  readonly bridge: StoreBridge | undefined;
  isClosed(): boolean;
  storeFailed(error: PersistenceError): void;
}

/** Moves the oldest stored publish to the quarantine and reports it; false if nothing was moved. */
export async function quarantinePoison(host: QuarantineHost, refusal: Refusal): Promise<boolean> {
  const bridge = host.bridge;
  if (bridge === undefined) return false;
  await bridge.flush().catch(() => undefined); // what Paho wrote before the loss is in the store
  try {
    const info = await quarantineOldestPublish(bridge.store, refusal, () => host.isClosed());
    if (info === undefined) return false;
    host.counters.poisonMessages += 1;
    publishClient({ clientId: host.clientId, event: 'poisonMessage', detail: info });
    surfaceThrows(() => host.events.emit('poisonMessage', info));
    return true;
  } catch (error) {
    host.storeFailed(asPersistenceError(error, 'setting aside a poison message failed'));
    return false;
  }
}
