import type { ClientPersistence, PersistenceWrite, QuarantinedRecord } from './client-persistence';
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

  /** Applies the writes in order, all at once (synchronously). */
  batch(writes: readonly PersistenceWrite[]): void {
    const space = this.space('batch', undefined);
    for (const write of writes) {
      if (write.data === undefined) {
        space.delete(write.key);
      } else {
        space.set(write.key, write.data); // the bridge hands over its own copy
      }
    }
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

  private space(op: string, key: string | undefined): Map<string, Buffer> {
    if (this.current === undefined) {
      throw new PersistenceError('ERR_PERSISTENCE_NOT_OPEN', op, key, `MemoryPersistence.${op}: the store is not open`);
    }
    return this.current;
  }
}
