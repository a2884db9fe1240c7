/**
 * A batch of Paho's writes reduced to its final state per key, for a store that applies the batch
 * as one unit (MULTI/EXEC): nobody can observe the order inside it, so a key put then removed
 * (or removed then put again) needs only its last write, and the puts and the removes can go as
 * one HSET and one HDEL. The store still holds a prefix of the log after every batch. Outbox
 * moves ride on writes (PersistenceWrite.outboxRemove): every one of them is kept, also on a write
 * a later write of its key supersedes, as one more command of the same transaction.
 */
import type { PersistenceWrite } from '../client-persistence';

export interface FinalStateEncoding {
  /** The stored form of a value (encrypted when the store encrypts). */
  seal: (key: string, data: Buffer) => Buffer;
  /** The command that removes these outbox entries. */
  outboxRemoval: (ids: string[]) => string[];
}

/**
 * HSET of the keys the batch leaves stored, HDEL of those it leaves removed, and the removal of
 * the outbox entries its writes move: at most three commands. `distinctKeys`: no key occurs
 * twice (each write is final; see BatchShape), so no pass finds each key's last write.
 */
export function finalStateCommands(
  hash: string,
  writes: readonly PersistenceWrite[],
  { seal, outboxRemoval }: FinalStateEncoding,
  distinctKeys = false,
): (string | Buffer)[][] {
  const puts: (string | Buffer)[] = ['hset', hash];
  const removes: string[] = ['hdel', hash];
  const outboxIds: string[] = [];
  const final = (key: string, data: Buffer | undefined): void => {
    if (data === undefined) removes.push(key);
    else puts.push(key, seal(key, data)); // only the value that stays is sealed (encrypted)
  };
  let last: Map<string, Buffer | undefined> | undefined;
  if (!distinctKeys) last = new Map();
  for (const write of writes) {
    if (last === undefined) final(write.key, write.data);
    else last.set(write.key, write.data);
    if (write.outboxRemove !== undefined) outboxIds.push(write.outboxRemove);
  }
  if (last !== undefined) for (const [key, data] of last) final(key, data);
  const commands: (string | Buffer)[][] = [];
  if (puts.length > 2) commands.push(puts);
  if (removes.length > 2) commands.push(removes);
  if (outboxIds.length > 0) commands.push(outboxRemoval(outboxIds));
  return commands;
}

/**
 * A batch as commands: sent as one MULTI/EXEC (or one command), only the final state of each key
 * (finalStateCommands). With ackReplicas (`ordered`) the commands run one by one and a failure
 * between them must leave a prefix of the log: consecutive puts share one HSET, consecutive
 * removes one HDEL, and each move's outbox removal follows its write.
 */
export function batchCommands(
  hash: string,
  writes: readonly PersistenceWrite[],
  encoding: FinalStateEncoding,
  ordered: boolean,
  distinctKeys = false,
): (string | Buffer)[][] {
  if (!ordered) return finalStateCommands(hash, writes, encoding, distinctKeys);
  const commands: (string | Buffer)[][] = [];
  let current: (string | Buffer)[] | undefined;
  let currentIsPut = false;
  for (const write of writes) {
    const isPut = write.data !== undefined;
    if (current === undefined || isPut !== currentIsPut) {
      current = [isPut ? 'hset' : 'hdel', hash];
      currentIsPut = isPut;
      commands.push(current);
    }
    if (write.data === undefined) {
      current.push(write.key);
    } else {
      current.push(write.key, encoding.seal(write.key, write.data));
    }
    if (write.outboxRemove !== undefined) {
      // The move's second half, right after it (see outbox-stream.ts).
      commands.push(encoding.outboxRemoval([write.outboxRemove]));
      current = undefined;
    }
  }
  return commands;
}
