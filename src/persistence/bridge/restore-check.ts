/**
 * The records a store hands Paho at restore are data from outside the process (another
 * program, a bad disk, an old version, anyone with access to Redis), and Paho's restore
 * parses them with few bounds checks: a damaged record can crash the process. Paho asks for
 * the key list (`keys`) before it reads any record, so that is where the store bridge checks
 * them: every record is read and decoded strictly (paho-records.ts); a damaged one is set
 * aside with the store's `quarantine` method (renamed, never deleted) and left out of the
 * list, so Paho never sees it. Each one set aside is reported as ERR_PERSISTENCE_CORRUPT.
 * Queued records whose sequence numbers straddle Paho's wrap are renumbered (sequence-wrap.ts).
 */
import { PersistenceError } from '../../errors';
import type { ClientPersistence } from '../client-persistence';
import { decodeRecord, parseKey, type DecodedRecord } from '../records/paho-records';
import { renumberWrapped } from './sequence-wrap';

/** Records read at once while checking (bounded, so a huge hash does not flood the store). */
const READ_CONCURRENCY = 64;

/** Why Paho must not restore this record, or undefined when it can. */
export function restoreProblem(key: string, value: Buffer): string | undefined {
  const decoded = decodeRecord(key, value);
  if (decoded.error !== undefined) return decoded.error;
  // Sound, but Debian's Paho 1.3.12 dies (SIGSEGV on its send thread) sending a restored MQTT 3
  // UNSUBSCRIBE, even one it wrote itself (MQTT 5 ones are fine).
  if (decoded.kind === 'command' && !decoded.mqtt5 && decoded.commandType === 'UNSUBSCRIBE') {
    return 'a queued MQTT 3 UNSUBSCRIBE: Paho 1.3.12 crashes sending a restored one; unsubscribe again after connecting';
  }
  return undefined;
}

/** A QoS 1/2 message as a queued command (`c-`) or a sent PUBLISH (`s-`) holds it. */
interface StoredPublish {
  key: string;
  topic: string;
  payload: Buffer;
  qos: number;
}

export class RestoreCheck {
  /** Keys already read and found sound during this restore (Paho asks for the list three times). */
  private readonly sound = new Set<string>();
  /** One ERR_PERSISTENCE_CORRUPT per record set aside, in the order found. */
  readonly quarantined: PersistenceError[] = [];
  /** Queued commands removed because their message had already been sent (see dropSentCommands). */
  readonly completedCommands: string[] = [];
  /** Queued QoS 1/2 PUBLISH commands by token (Paho's token of such a publish is its packet id). */
  private readonly queued = new Map<number, StoredPublish>();
  /** Sent PUBLISH packets (`s-`) by packet id. */
  private readonly sent = new Map<number, StoredPublish>();

  constructor(
    private readonly store: ClientPersistence,
    private readonly mqttVersion: number,
  ) {}

  /** The store's keys without the damaged records, which are set aside first. */
  async keys(): Promise<string[]> {
    const keys = await this.store.keys();
    if (!Array.isArray(keys)) return keys; // the bridge reports the bad result type
    const unchecked = keys.filter((key) => !this.sound.has(key));
    const damaged = new Map<string, string>();
    for (let i = 0; i < unchecked.length; i += READ_CONCURRENCY) {
      const batch = unchecked.slice(i, i + READ_CONCURRENCY);
      const reasons = await Promise.all(batch.map((key) => this.check(key)));
      for (let j = 0; j < batch.length; j++) {
        if (reasons[j] === undefined) this.sound.add(batch[j]);
        else damaged.set(batch[j], reasons[j]!);
      }
    }
    // Sequentially, in key order: a failure leaves the rest where they were.
    for (const [key, reason] of damaged) await this.setAside(key, reason);
    const dropped = await this.dropSentCommands(damaged);
    const kept = keys.filter((key) => !damaged.has(key) && !dropped.has(key));
    this.refuseOtherVersion(kept);
    const renumbered = await renumberWrapped(this.store, kept);
    for (const key of renumbered) this.sound.add(key);
    return renumbered;
  }

  /** The reason a record must be set aside, or undefined when Paho can restore it. */
  private async check(key: unknown): Promise<string | undefined> {
    if (typeof key !== 'string') return undefined; // the bridge reports the bad result type
    const value = await this.store.get(key);
    const problem = restoreProblem(key, value);
    if (problem === undefined) this.remember(key, decodeRecord(key, value));
    return problem;
  }

  private remember(key: string, record: DecodedRecord): void {
    const message = (): StoredPublish => ({ key, topic: record.topic!, payload: record.payload!, qos: record.qos! });
    if (record.kind === 'command' && record.commandType === 'PUBLISH' && record.qos! > 0)
      this.queued.set(record.token!, message());
    else if (record.kind === 'sentPublish') this.sent.set(record.packetId!, message());
  }

  /**
   * A queued command whose message was already sent: the remove of `c-N` that a crash (or a
   * store applying ops one at a time) kept from happening after `s-T` was written. Paho gives a
   * QoS 1/2 publish its packet id T as its token when it is queued and never gives a queued
   * command an id in flight, so a `c-N` with token T beside `s-T` claims the same message:
   * restored, it would stay pending forever. It is removed when `s-T` holds the same topic,
   * payload and qos, and set aside when `s-T` holds another message. (A lone `sc-T` is a
   * completed flow whose `s-T` was removed first; Paho drops it, and `c-N` is then restored.)
   */
  private async dropSentCommands(damaged: Map<string, string>): Promise<Set<string>> {
    const dropped = new Set<string>();
    for (const [token, command] of this.queued) {
      const sent = this.sent.get(token);
      if (sent === undefined || damaged.has(command.key) || damaged.has(sent.key)) continue;
      if (sent.topic !== command.topic || sent.qos !== command.qos || !sent.payload.equals(command.payload)) {
        const reason = `it holds packet id ${token}, which '${sent.key}' holds for another message`;
        damaged.set(command.key, reason);
        await this.setAside(command.key, reason);
      } else {
        await this.store.remove(command.key);
        this.completedCommands.push(command.key);
        dropped.add(command.key);
      }
      this.queued.delete(token);
    }
    return dropped;
  }

  private async setAside(key: string, reason: string): Promise<void> {
    const report = new PersistenceError(
      'ERR_PERSISTENCE_CORRUPT',
      'restore',
      key,
      `record '${key}' is damaged and was set aside before Paho could read it: ${reason}`,
    );
    if (typeof this.store.quarantine !== 'function') {
      throw new PersistenceError(
        'ERR_PERSISTENCE_CORRUPT',
        'restore',
        key,
        `record '${key}' is damaged (${reason}) and this store has no quarantine() method to set it aside; ` +
          `move or remove the record, or give the store a quarantine(key, reason) method`,
      );
    }
    await this.store.quarantine(key, reason);
    this.quarantined.push(report);
  }

  /**
   * Paho writes one key form per client (`c-` or `c5-`, ...). It refuses MQTT 5 packets in an
   * MQTT 3 client, and an MQTT 3 command restored into an MQTT 5 client crashes it when sent:
   * a store holding the other version's records fails create(),
   * naming one.
   */
  private refuseOtherVersion(keys: string[]): void {
    const v5Client = this.mqttVersion >= 5;
    const other = keys.find((key) => typeof key === 'string' && parseKey(key).mqtt5 !== v5Client);
    if (other === undefined) return;
    const mine = v5Client ? 'MQTT 5' : `MQTT ${this.mqttVersion === 3 ? '3.1' : '3.1.1'}`;
    throw new PersistenceError(
      'ERR_PERSISTENCE_VERSION',
      'restore',
      other,
      `the store holds MQTT ${v5Client ? '3' : '5'} record '${other}' but this client uses ${mine}: ` +
        `create it with the MQTT version that wrote the records, or give each version its own client id or store`,
    );
  }
}
