import type {
  ClientPersistence,
  OutboxEntry,
  OutboxStats,
  PersistenceWrite,
  QuarantinedRecord,
} from './client-persistence';
import { PersistenceError } from '../errors';

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
  /** Outbox per keyspace: entries by id number (Map order = append order = id order). */
  private readonly outboxes = new Map<string, { entries: Map<number, Buffer>; lastId: number }>();
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
      if (write.outboxRemove !== undefined) this.outbox('batch').entries.delete(Number(write.outboxRemove));
    }
  }

  outboxAppend(entries: readonly OutboxEntry[]): void {
    const outbox = this.outbox('outboxAppend');
    for (const { id } of entries) {
      if (!/^[1-9][0-9]*$/.test(id) || Number(id) <= outbox.lastId) {
        throw new PersistenceError(
          'ERR_PERSISTENCE_STORE',
          'outboxAppend',
          id,
          `MemoryPersistence.outboxAppend: id '${id}' is not above the last id ${outbox.lastId}`,
        );
      }
    }
    for (const { id, data } of entries) {
      outbox.lastId = Number(id);
      outbox.entries.set(outbox.lastId, Buffer.from(data));
    }
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
    for (const id of ids) outbox.entries.delete(Number(id));
  }

  outboxLastId(): string | undefined {
    const { lastId } = this.outbox('outboxLastId');
    return lastId > 0 ? String(lastId) : undefined;
  }

  outboxStats(): OutboxStats {
    return { length: this.outbox('outboxStats').entries.size };
  }

  keys(): string[] {
    return [...this.space('keys', undefined).keys()];
  }

  clear(): void {
    this.space('clear', undefined).clear();
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

  private outbox(op: string): { entries: Map<number, Buffer>; lastId: number } {
    this.space(op, undefined);
    let outbox = this.outboxes.get(this.currentName!);
    if (outbox === undefined) {
      outbox = { entries: new Map(), lastId: 0 };
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
