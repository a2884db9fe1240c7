/** The counters behind `client.stats()`. */
import type { OutboxStatsSnapshot } from './outbox-limits';

export interface ClientStats {
  /** Successful connects: by connect() and by automatic reconnects. */
  connects: number;
  reconnects: number;
  connectionLosses: number;
  /** Publishes that completed their QoS flow, and those that were rejected. */
  published: number;
  publishFailures: number;
  /** Messages delivered to this client. */
  received: number;
  /** Filters subscribed again after reconnects without a session. */
  resubscribed: number;
  /** Store failures reported as 'persistenceError'. */
  persistenceErrors: number;
  /** Stored publishes set aside as poison messages ('poisonMessage'). */
  poisonMessages: number;
  /** Operations waiting for Paho now. */
  pendingRequests: number;
  /** Filters subscribed through this client (restored after a reconnect without a session). */
  subscriptions: number;
  /** The native store bridge's own counters (store calls, round trips spared, ...); absent without a store. */
  store?: Record<string, number>;
  /** The outbox (absent without one): see docs/outbox.md, "Limits". */
  outbox?: OutboxStatsSnapshot;
}

export class ClientCounters {
  connects = 0;
  reconnects = 0;
  connectionLosses = 0;
  published = 0;
  publishFailures = 0;
  received = 0;
  resubscribed = 0;
  persistenceErrors = 0;
  poisonMessages = 0;

  connected(cause: 'connect' | 'reconnect'): void {
    this.connects += 1;
    if (cause === 'reconnect') this.reconnects += 1;
  }

  snapshot(pendingRequests: number, subscriptions: number, store: object | undefined): ClientStats {
    const stats: ClientStats = {
      connects: this.connects,
      reconnects: this.reconnects,
      connectionLosses: this.connectionLosses,
      published: this.published,
      publishFailures: this.publishFailures,
      received: this.received,
      resubscribed: this.resubscribed,
      persistenceErrors: this.persistenceErrors,
      poisonMessages: this.poisonMessages,
      pendingRequests,
      subscriptions,
    };
    // Passed through as the bridge reports them: its set of counters grows with the native side.
    if (store !== undefined) stats.store = { ...(store as Record<string, number>) };
    return stats;
  }
}
