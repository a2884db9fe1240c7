/**
 * Setting a poison message aside (see poison.ts): its record moves to the store's quarantine,
 * is reported, and the Paho client (which holds its own copy) is created again over the store.
 */
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

/** What a set-aside needs of its client besides the quarantine step. */
export interface SetAsideHost extends Omit<QuarantineHost, 'bridge'> {
  bridge(): StoreBridge | undefined;
  /** Destroys the Paho client and creates one over the same store. */
  createPahoAgain(): Promise<void>;
  close(): void;
}

/**
 * The broker refused the connection `refusals` times in a row with nothing acknowledged: the
 * oldest stored publish is the one it refuses. Paho holds its own copy of that message and has
 * no call to drop one, so: move its record to the store's quarantine, destroy the Paho client,
 * and create a new one over the same store (it restores everything else). Without a store that
 * has quarantine(), or when the store fails, nothing is set aside and the reconnects go on.
 */
export class PoisonSetAside {
  /** While a poison message is set aside: requests wait for the new Paho client. */
  pending: Promise<void> | undefined;

  constructor(private readonly host: SetAsideHost) {}

  async run(refusal: Refusal): Promise<void> {
    if (this.host.isClosed() || this.pending) return;
    this.pending = this.setAside(refusal).finally(() => {
      this.pending = undefined;
    });
    await this.pending;
  }

  private async setAside(refusal: Refusal): Promise<void> {
    const host = this.host;
    if (!(await quarantinePoison({ ...host, bridge: host.bridge() }, refusal))) return;
    try {
      await host.createPahoAgain();
    } catch (error) {
      // Without a Paho client the client is unusable: say why, and close it.
      host.storeFailed(asPersistenceError(error, 'creating the Paho client again failed'));
      host.close();
    }
  }
}
