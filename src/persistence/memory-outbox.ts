/**
 * MemoryPersistence's outbox for one keyspace: entries by id number (Map order = append order =
 * id order), the highest id ever appended, the bytes account and the outbox clock's checkpoint.
 * Every method runs at once (synchronously), so each is atomic.
 */
import { PersistenceError } from '../errors';
import type { OutboxAppendResult, OutboxClockCheckpoint, OutboxEntry, OutboxLimits } from './client-persistence';

export class MemoryOutbox {
  readonly entries = new Map<number, Buffer>();
  lastId = 0;
  bytes = 0;
  clock: OutboxClockCheckpoint | undefined;

  append(entries: readonly OutboxEntry[], limits: OutboxLimits | undefined): OutboxAppendResult {
    let last = this.lastId;
    for (const { id } of entries) {
      if (!/^[1-9][0-9]*$/.test(id) || Number(id) <= last) {
        throw new PersistenceError(
          'ERR_PERSISTENCE_STORE',
          'outboxAppend',
          id,
          `MemoryPersistence.outboxAppend: id '${id}' is not above the last id ${last}`,
        );
      }
      last = Number(id);
    }
    const result: OutboxAppendResult = { rejected: [], dropped: [], length: 0, bytes: 0 };
    const maxMessages = limits?.maxMessages ?? 0;
    const maxBytes = limits?.maxBytes ?? 0;
    const keep = new Set(limits?.keep ?? []);
    const fits = (size: number): boolean =>
      (maxMessages === 0 || this.entries.size + 1 <= maxMessages) && (maxBytes === 0 || this.bytes + size <= maxBytes);
    for (const { id, data } of entries) {
      if (limits?.onFull === 'dropOldest' && (maxBytes === 0 || data.length <= maxBytes)) {
        for (const [oldId, oldData] of this.entries) {
          if (fits(data.length)) break;
          if (keep.has(String(oldId))) continue;
          this.remove(oldId);
          result.dropped.push({ id: String(oldId), data: Buffer.from(oldData) });
        }
      }
      if (!fits(data.length)) {
        result.rejected.push(id); // not appended: its id was never handed out
        continue;
      }
      this.lastId = Number(id);
      this.entries.set(this.lastId, Buffer.from(data));
      this.bytes += data.length;
    }
    result.length = this.entries.size;
    result.bytes = this.bytes;
    return result;
  }

  remove(id: number): void {
    const data = this.entries.get(id);
    if (data === undefined) return;
    this.entries.delete(id);
    this.bytes -= data.length;
  }
}
