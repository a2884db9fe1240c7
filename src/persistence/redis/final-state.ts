/**
 * A batch of Paho's writes reduced to its final state per key, for a store that applies the batch
 * as one unit (MULTI/EXEC): nobody can observe the order inside it, so a key put then removed
 * (or removed then put again) needs only its last write, and the puts and the removes can go as
 * one HSET and one HDEL. The store still holds a prefix of the log after every batch.
 */
import type { PersistenceWrite } from '../client-persistence';

/** At most two commands: HSET of the keys the batch leaves stored, HDEL of those it leaves removed. */
export function finalStateCommands(
  hash: string,
  writes: readonly PersistenceWrite[],
  seal: (key: string, data: Buffer) => Buffer,
): (string | Buffer)[][] {
  const last = new Map<string, Buffer | undefined>();
  for (const write of writes) last.set(write.key, write.data);
  const puts: (string | Buffer)[] = ['hset', hash];
  const removes: string[] = ['hdel', hash];
  for (const [key, data] of last) {
    if (data === undefined) removes.push(key);
    else puts.push(key, seal(key, data)); // only the value that stays is sealed (encrypted)
  }
  const commands: (string | Buffer)[][] = [];
  if (puts.length > 2) commands.push(puts);
  if (removes.length > 2) commands.push(removes);
  return commands;
}
