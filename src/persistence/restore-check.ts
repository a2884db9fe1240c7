/**
 * The records a store hands Paho at restore are data from outside the process (another
 * program, a bad disk, an old version, anyone with access to Redis), and Paho's restore
 * parses them with few bounds checks: a damaged record can crash the process. Paho asks for
 * the key list (`keys`) before it reads any record, so that is where the store bridge checks
 * them: every record is read and decoded strictly (paho-records.ts); a damaged one is set
 * aside with the store's `quarantine` method (renamed, never deleted) and left out of the
 * list, so Paho never sees it. Each one set aside is reported as ERR_PERSISTENCE_CORRUPT.
 */
import { PersistenceError } from '../errors';
import type { ClientPersistence } from './client-persistence';
import { decodeRecord, parseKey } from './paho-records';

/** Records read at once while checking (bounded, so a huge hash does not flood the store). */
const READ_CONCURRENCY = 64;

export class RestoreCheck {
  /** Keys already read and found sound during this restore (Paho asks for the list three times). */
  private readonly sound = new Set<string>();
  /** One ERR_PERSISTENCE_CORRUPT per record set aside, in the order found. */
  readonly quarantined: PersistenceError[] = [];

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
    const kept = keys.filter((key) => !damaged.has(key));
    this.refuseOtherVersion(kept);
    return kept;
  }

  /** The reason a record is damaged, or undefined when Paho can restore it. */
  private async check(key: unknown): Promise<string | undefined> {
    if (typeof key !== 'string') return undefined; // the bridge reports the bad result type
    const value = await this.store.get(key);
    return decodeRecord(key, value).error;
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

  /** Paho refuses to restore MQTT 5 records into an MQTT 3 client: say so, naming the record. */
  private refuseOtherVersion(keys: string[]): void {
    if (this.mqttVersion >= 5) return;
    const v5 = keys.find((key) => typeof key === 'string' && parseKey(key).mqtt5);
    if (v5 === undefined) return;
    throw new PersistenceError(
      'ERR_PERSISTENCE_VERSION',
      'restore',
      v5,
      `the store holds MQTT 5 record '${v5}' but this client uses MQTT ${this.mqttVersion === 3 ? '3.1' : '3.1.1'}: ` +
        `create it with mqttVersion: 5, or use another client id or store for the MQTT 3 client`,
    );
  }
}
