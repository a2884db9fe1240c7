import type {
  ClientPersistence,
  OutboxAdoption,
  OutboxAppendResult,
  OutboxClockCheckpoint,
  OutboxEntry,
  OutboxLimits,
  OutboxStats,
  PersistenceWrite,
  QuarantinedRecord,
} from './client-persistence';
import { PersistenceError } from '../errors';
import { MemoryOutbox } from './memory-outbox';

/**
 * An in-process store: the fast baseline, and handy in tests. Every answer is synchronous.
 *
 * Data lives in this instance only, one keyspace per `(clientId, serverURI)`; closing and
 * re-opening the same instance with the same ids sees the same data (restore after an
 * in-process reconnect). Buffers are copied on the way in and on the way out, so callers
 * may reuse or mutate theirs.
 */
export class MemoryPersistence implements ClientPersistence {
  private readonly keyspaces = new Map<string, Map<string, Buffer>>();
  /** Outbox per keyspace (see memory-outbox.ts). */
  private readonly outboxes = new Map<string, MemoryOutbox>();
  /** Caps, the bytes account and the outbox clock (see OutboxStore.outboxLimits). */
  readonly outboxLimits = true;
  /** Records set aside by quarantine(), per keyspace. */
  private readonly quarantines = new Map<string, QuarantinedRecord[]>();
  private current: Map<string, Buffer> | undefined;
  private currentName: string | undefined;

  /** `${clientId}:${serverURI}` of the open keyspace, or undefined when closed. */
  get keyspaceName(): string | undefined {
    return this.currentName;
  }

  open(clientId: string, serverURI: string): void {
    if (typeof clientId !== 'string' || typeof serverURI !== 'string') {
      throw new PersistenceError(
        'ERR_PERSISTENCE_STORE',
        'open',
        undefined,
        'MemoryPersistence.open: clientId and serverURI must be strings',
      );
    }
    const name = `${clientId}:${serverURI}`;
    let space = this.keyspaces.get(name);
    if (space === undefined) {
      space = new Map();
      this.keyspaces.set(name, space);
    }
    this.current = space;
    this.currentName = name;
  }

  close(): void {
    this.current = undefined;
    this.currentName = undefined;
  }

  put(key: string, data: Buffer): void {
    const space = this.space('put', key);
    if (!((data as unknown) instanceof Uint8Array)) {
      throw new PersistenceError(
        'ERR_PERSISTENCE_STORE',
        'put',
        key,
        `MemoryPersistence.put: data for key '${key}' must be a Buffer`,
      );
    }
    space.set(key, Buffer.from(data)); // copy
  }

  get(key: string): Buffer {
    const value = this.space('get', key).get(key);
    if (value === undefined) {
      throw new PersistenceError('ERR_PERSISTENCE_NO_SUCH_KEY', 'get', key, `no such key: '${key}'`);
    }
    return Buffer.from(value); // copy: the caller may mutate it
  }

  remove(key: string): void {
    this.space('remove', key).delete(key);
  }

  /** Applies the writes in order, all at once (synchronously), outbox removals included. */
  batch(writes: readonly PersistenceWrite[]): void {
    const space = this.space('batch', undefined);
    for (const write of writes) {
      if (write.data === undefined) {
        space.delete(write.key);
      } else {
        space.set(write.key, write.data); // the bridge hands over its own copy
      }
      if (write.outboxRemove !== undefined) this.outbox('batch').remove(Number(write.outboxRemove));
    }
  }

  outboxAppend(entries: readonly OutboxEntry[], limits?: OutboxLimits): OutboxAppendResult {
    return this.outbox('outboxAppend').append(entries, limits);
  }

  outboxRead(afterId: string | undefined, count: number): OutboxEntry[] {
    const after = afterId === undefined ? 0 : Number(afterId);
    const found: OutboxEntry[] = [];
    for (const [id, data] of this.outbox('outboxRead').entries) {
      if (found.length >= count) break;
      if (id > after) found.push({ id: String(id), data: Buffer.from(data) });
    }
    return found;
  }

  outboxRemove(ids: readonly string[]): void {
    const outbox = this.outbox('outboxRemove');
    for (const id of ids) outbox.remove(Number(id));
  }

  /** Each move at once (synchronously): the record leaves the keyspace as its entry is appended. */
  outboxAdopt(moves: readonly OutboxAdoption[]): void {
    this.outboxAppend(moves.map((m) => m.entry));
    const space = this.space('outboxAdopt', undefined);
    for (const { key } of moves) space.delete(key);
  }

  outboxLastId(): string | undefined {
    const { lastId } = this.outbox('outboxLastId');
    return lastId > 0 ? String(lastId) : undefined;
  }

  outboxStats(): OutboxStats {
    const outbox = this.outbox('outboxStats');
    return { length: outbox.entries.size, bytes: outbox.bytes };
  }

  outboxReadClock(): OutboxClockCheckpoint | undefined {
    const { clock } = this.outbox('outboxReadClock');
    return clock && { ...clock };
  }

  outboxWriteClock(checkpoint: OutboxClockCheckpoint): void {
    this.outbox('outboxWriteClock').clock = { ...checkpoint };
  }

  keys(): string[] {
    return [...this.space('keys', undefined).keys()];
  }

  clear(): void {
    this.space('clear', undefined).clear();
    this.outboxes.delete(this.currentName!); // the outbox too, its last id with it (as RedisPersistence)
  }

  containsKey(key: string): boolean {
    return this.space('containsKey', key).has(key);
  }

  /** Moves a record out of the keyspace into its quarantine list (see ClientPersistence.quarantine). */
  quarantine(key: string, reason: string): void {
    const space = this.space('quarantine', key);
    const value = space.get(key);
    if (value === undefined) return;
    const list = this.quarantines.get(this.currentName!) ?? [];
    list.push({ key, value, reason, at: Date.now() });
    this.quarantines.set(this.currentName!, list);
    space.delete(key);
  }

  quarantined(): QuarantinedRecord[] {
    this.space('quarantined', undefined);
    return (this.quarantines.get(this.currentName!) ?? []).map((r) => ({ ...r, value: Buffer.from(r.value) }));
  }

  private outbox(op: string): MemoryOutbox {
    this.space(op, undefined);
    let outbox = this.outboxes.get(this.currentName!);
    if (outbox === undefined) {
      outbox = new MemoryOutbox();
      this.outboxes.set(this.currentName!, outbox);
    }
    return outbox;
  }

  private space(op: string, key: string | undefined): Map<string, Buffer> {
    if (this.current === undefined) {
      throw new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', op, key, `MemoryPersistence.${op}: the store is not open`);
    }
    return this.current;
  }
}
