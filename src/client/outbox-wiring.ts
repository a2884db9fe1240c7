/**
 * An AsyncClient's outbox: the Outbox with its host (how it hands messages to Paho, where its
 * events go), enqueue()'s checks, and stats().outbox. Kept out of async-client.ts.
 */
import type { ResultEvent } from './requests';
import { type BrokerLimits, checkBrokerLimits } from './broker-limits';
import { propertyKind } from './properties';
import { Outbox } from './outbox';
import { type OutboxChoice, hasLimits, outboxUnsupported } from './outbox-options';
import { type OutboxStatsSnapshot, checkTtl } from './outbox-limits';
import type { OutboxMessage } from './outbox-entry';
import { publishClient } from './events';
import type { DeliveredInfo } from './outbox';
import type { DroppedInfo } from './outbox-limits';
import type { PersistenceError } from '../errors';
import type { NativeMqttClient } from '../native';
import { adoptQueuedPublishes } from '../persistence/outbox-upgrade';

export interface OutboxWiring {
  clientId: string;
  choice: OutboxChoice;
  timeoutMs: number;
  canSend(): boolean;
  brokerLimits(): BrokerLimits;
  publish(start: (native: NativeMqttClient, id: number) => void): Promise<ResultEvent>;
  flush(): Promise<void>;
  delivered(info: DeliveredInfo): void;
  dropped(info: DroppedInfo): void;
  failed(error: PersistenceError): void;
}

export function newOutbox(wiring: OutboxWiring): Outbox | undefined {
  const { choice } = wiring;
  if (choice.store === undefined) return undefined;
  return new Outbox({
    store: choice.store,
    window: choice.window,
    drainRate: choice.drainRate,
    limits: choice.limits,
    timeoutMs: wiring.timeoutMs,
    canSend: () => wiring.canSend(),
    send: (message: OutboxMessage, outboxId) => {
      checkBrokerLimits(wiring.brokerLimits(), message, propertyKind);
      return wiring.publish((native, id) =>
        native.publish(id, message.topic, message.payload, message.qos, message.retained, message.properties, outboxId),
      );
    },
    flush: () => wiring.flush(),
    delivered: (info) => wiring.delivered(info),
    dropped: (info) => {
      publishClient({ clientId: wiring.clientId, event: 'dropped', detail: info });
      wiring.dropped(info);
    },
    failed: (error) => wiring.failed(error),
  });
}

/** Why enqueue() cannot take this message (ERR_OUTBOX_UNSUPPORTED), or undefined. Bad ttlMs throws. */
export function enqueueRefusal(
  choice: OutboxChoice,
  outbox: Outbox | undefined,
  qos: number,
  ttlMs: unknown,
): Error | undefined {
  if (outbox === undefined || choice.store === undefined) {
    return outboxUnsupported(`enqueue: this client has no outbox: ${choice.store ? '' : choice.unsupported}`);
  }
  if (qos === 2 && choice.store.outboxAtomicMoves === false) {
    return outboxUnsupported(
      'enqueue: QoS 2 needs atomic moves, which this store does not make (e.g. with ackReplicas)',
    );
  }
  if (ttlMs === undefined) return undefined;
  checkTtl(ttlMs, 'enqueue options.ttlMs');
  if (!hasLimits(choice.store)) {
    return outboxUnsupported('enqueue: ttlMs needs a store that keeps an outbox clock (outboxLimits)');
  }
  return undefined;
}

export function outboxStatsOf(outbox: Outbox | undefined, choice: OutboxChoice): OutboxStatsSnapshot | undefined {
  if (outbox === undefined || choice.store === undefined) return undefined;
  const { tally, clock } = outbox;
  const now = clock.now();
  return {
    depth: tally.depth,
    bytes: tally.bytes,
    oldestAgeMs: tally.oldestEnqueuedAt === undefined ? undefined : Math.max(0, now - tally.oldestEnqueuedAt),
    enqueued: tally.enqueued,
    delivered: tally.delivered,
    dropped: { ...tally.dropped },
    deliveryRate: tally.deliveryRate(now),
    maxMessages: choice.limits.maxMessages,
    maxBytes: outbox.maxBytes,
  };
}

/** The outbox's pump: messages with Paho now, the most at once, the window. */
export interface PumpStats {
  handed: number;
  maxHanded: number;
  window: number;
}

export function pumpStatsOf(outbox: Outbox | undefined, choice: OutboxChoice): PumpStats | undefined {
  if (outbox === undefined || choice.store === undefined) return undefined;
  return { handed: outbox.handedCount, maxHanded: outbox.maxHanded, window: choice.window };
}

/**
 * At open, before Paho's restore: an older release's backlog of c- records moves into the
 * outbox, for a client created with the `outbox` option only (a client that only publish()es
 * keeps Paho's records where Paho put them).
 */
export async function adoptQueuedPublishesOf(choice: OutboxChoice): Promise<void> {
  if (choice.store !== undefined && choice.requested) await adoptQueuedPublishes(choice.store, choice.window);
}
