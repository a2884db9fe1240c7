/**
 * Poison messages: a stored PUBLISH the broker refuses by closing the connection (NATS closes
 * on any QoS 2 PUBLISH; an MQTT 5 broker on one beyond its CONNACK limits). Paho sends it
 * again first after every reconnect, so without a way out each reconnect is closed again and
 * nothing queued behind it ever leaves.
 *
 * What is observable: the connection is lost soon after a connect, and no publish completed
 * in between (no deliveryComplete). With nothing acknowledged, the oldest stored publish is
 * the same at every such loss (only acknowledgements remove records; new publishes come
 * after it), and it is the one Paho sends first: the oldest in-flight PUBLISH (s-N, resent by
 * packet id), else the oldest queued PUBLISH command (c-N). After `maxRefusals` such losses in
 * a row the client sets that record aside (see AsyncClient.setAsidePoison).
 */
import { PersistenceError, invalidArg } from '../errors';
import type { ClientPersistence } from '../persistence/client-persistence';
import { decodeRecord, parseKey, type DecodedRecord } from '../persistence/records/paho-records';
import { publishPacketBytes, type BrokerLimits } from './broker-limits';
import { integerIn } from './option-checks';

export interface PoisonOptions {
  /** Refusals in a row after which the oldest stored publish is set aside. Default 3. */
  maxRefusals?: number;
  /** A loss counts as a refusal only this soon (ms) after its connect. Default 10,000. */
  withinMs?: number;
}

/** What 'poisonMessage' carries: the publish set aside, and why. */
export interface PoisonMessageInfo {
  /** Its store key when it was set aside (s-N: sent; c-N: queued); the quarantine keeps it under this key. */
  key: string;
  topic: string;
  qos: number;
  retained: boolean;
  payloadSize: number;
  /** Connection losses in a row that followed it. */
  refusals: number;
  reason: string;
}

export interface PoisonPolicy {
  maxRefusals: number;
  withinMs: number;
}

export function poisonPolicy(option: PoisonOptions | false | undefined): PoisonPolicy | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (option === null || typeof option !== 'object'))
    throw invalidArg('poison must be false or an object { maxRefusals, withinMs }');
  return {
    maxRefusals: integerIn(option?.maxRefusals, 3, 1, 1000, 'poison.maxRefusals'),
    withinMs: integerIn(option?.withinMs, 10_000, 1, 3_600_000, 'poison.withinMs'),
  };
}

/** Why the first stored publish is taken for a poison message. */
export interface Refusal {
  refusals: number;
  reason: string;
  /** MQTT 5: the broker's DISCONNECT named a CONNACK limit; the oldest publish beyond these is the poison. */
  limits?: BrokerLimits;
}

/** MQTT 5 DISCONNECT reason codes that refuse a PUBLISH for a limit the CONNACK announced. */
const LIMIT_REASONS: Record<number, string> = {
  0x95: 'Packet too large',
  0x9a: 'Retain not supported',
  0x9b: 'QoS not supported',
};

/** The refusal a broker's DISCONNECT names, if it names one (see LIMIT_REASONS). */
export function disconnectRefusal(reasonCode: number, limits: BrokerLimits): Refusal | undefined {
  const name = LIMIT_REASONS[reasonCode];
  if (name === undefined) return undefined;
  return {
    refusals: 1,
    limits,
    reason: `refused: the broker sent DISCONNECT with reason code ${reasonCode} (${name}) for this publish`,
  };
}

export function lossRefusal(refusals: number): Refusal {
  return {
    refusals,
    reason:
      `refused: the broker closed the connection ${refusals} times in a row soon after connect, ` +
      `with no publish acknowledged in between, while this was the first publish to send`,
  };
}

/** Whether a stored publish goes beyond MQTT 5 CONNACK limits (its size as the broker counts it). */
function beyondLimits(record: DecodedRecord, limits: BrokerLimits): boolean {
  const qos = record.qos ?? 0;
  if (limits.maximumQos !== undefined && qos > limits.maximumQos) return true;
  if (limits.retainAvailable === 0 && record.retained === true) return true;
  if (limits.maximumPacketSize === undefined) return false;
  const spec = { topic: record.topic ?? '', payload: record.payload ?? Buffer.alloc(0), qos };
  const bytes = publishPacketBytes(spec, () => 'byte') - 1 + (record.propertiesLength ?? 1);
  return bytes > limits.maximumPacketSize;
}

/** Counts connection losses that look like refusals of the same message. */
export class RefusalCounter {
  private refusals = 0;
  private connectedAt: number | undefined;

  constructor(private readonly policy: PoisonPolicy | undefined) {}

  /** A connect attempt starts. */
  connected(): void {
    this.connectedAt = Date.now();
  }

  /** A publish completed: the broker takes what is sent, whatever came before. */
  progressed(): void {
    this.refusals = 0;
  }

  reset(): void {
    this.refusals = 0;
  }

  /** The connection was lost; the number of refusals in a row when it reaches maxRefusals, else 0. */
  lost(): number {
    const since = this.connectedAt;
    this.connectedAt = undefined;
    if (this.policy === undefined) return 0;
    if (since === undefined || Date.now() - since > this.policy.withinMs) {
      this.refusals = 0;
      return 0;
    }
    this.refusals += 1;
    return this.refusals >= this.policy.maxRefusals ? this.refusals : 0;
  }
}

/** The stored publish Paho sends first after a reconnect, decoded; undefined if none is stored. */
export async function oldestStoredPublish(
  store: ClientPersistence,
  accept: (record: DecodedRecord) => boolean = () => true,
): Promise<{ key: string; record: DecodedRecord } | undefined> {
  const keys = await store.keys();
  const rank = (key: string): number | undefined => {
    const { kind, number } = parseKey(key);
    if (number === null) return undefined;
    if (kind === 'sentPublish') return number;
    if (kind === 'command') return 1_000_000 + number; // queued commands go after what is in flight
    return undefined;
  };
  const candidates = keys
    .map((key) => ({ key, rank: rank(key) }))
    .filter((c): c is { key: string; rank: number } => c.rank !== undefined)
    .sort((a, b) => a.rank - b.rank);
  for (const { key } of candidates) {
    const record = decodeRecord(key, await store.get(key));
    // A queued SUBSCRIBE or UNSUBSCRIBE is not a publish: the next command is.
    if (record.kind === 'command' && record.commandType !== 'PUBLISH') continue;
    if (record.error === undefined && accept(record)) return { key, record };
  }
  return undefined;
}

/** The key of the queued PUBLISH command holding `token`, if one is stored. */
async function queuedCommandWithToken(
  store: ClientPersistence,
  token: number | undefined,
): Promise<string | undefined> {
  if (token === undefined) return undefined;
  for (const key of await store.keys()) {
    if (parseKey(key).kind !== 'command') continue;
    const record = decodeRecord(key, await store.get(key));
    if (record.commandType === 'PUBLISH' && record.token === token) return key;
  }
  return undefined;
}

/**
 * Moves the oldest stored publish to the store's quarantine; what was moved, or undefined when
 * the store has no quarantine(), holds no publish, or `closing()` became true meanwhile.
 */
export async function quarantineOldestPublish(
  store: ClientPersistence,
  { refusals, reason, limits }: Refusal,
  closing: () => boolean,
): Promise<PoisonMessageInfo | undefined> {
  if (store.quarantine === undefined) return undefined;
  const poison =
    (limits && (await oldestStoredPublish(store, (record) => beyondLimits(record, limits)))) ??
    (await oldestStoredPublish(store));
  if (poison === undefined || closing()) return undefined;
  await store.quarantine(poison.key, reason);
  // A sent PUBLISH s-T whose queued command c-N (token T: Paho's token of a QoS 1/2 publish is
  // its packet id) is still stored: its remove may not have reached the store yet. Restored
  // alone, that command would send the same message again.
  if (poison.record.kind === 'sentPublish') {
    // Best effort: the restore check removes such a command too, while s-T is stored.
    const command = await queuedCommandWithToken(store, poison.record.packetId).catch(() => undefined);
    if (command !== undefined) await store.quarantine(command, `the queued command of ${poison.key}: ${reason}`);
  }
  const { record } = poison;
  return {
    key: poison.key,
    topic: record.topic ?? '',
    qos: record.qos ?? 0,
    retained: record.retained ?? false,
    payloadSize: record.payloadSize ?? 0,
    refusals,
    reason,
  };
}

/** `error` for 'persistenceError': as it is when it is a PersistenceError. */
export function asPersistenceError(error: unknown, what: string): PersistenceError {
  if (error instanceof PersistenceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PersistenceError('ERR_PERSISTENCE_STORE', 'open', undefined, `${what}: ${message}`, { cause: error });
}
