/**
 * Paho numbers queued commands (`c-N`, `c5-N`) and undelivered received messages (`q-N`,
 * `q5-N`) from 0 to 999,999 and wraps to 0. At restore it sorts them by number and continues
 * numbering after the largest: records straddling the wrap would be sent (or delivered) out
 * of order, and the next record written would take the number of a restored one not yet sent
 * (Paho reads a command's body again when it sends it: one message lost, another sent twice).
 * So before Paho lists them, records that straddle the wrap are renumbered into the free range
 * after the last one, in the order Paho wrote them.
 */
import type { ClientPersistence, PersistenceWrite } from '../client-persistence';
import { SEQUENCE_LIMIT, parseKey } from '../records/paho-records';

const SEQUENCED_PREFIXES = ['c-', 'c5-', 'q-', 'q5-'] as const;

/**
 * The numbers in the order Paho wrote them, or undefined when that is their numeric order.
 * The sequence starts after the widest gap going round the circle: the records alive at once
 * (at most maxBufferedMessages commands) cover far less than half of it.
 */
export function writtenOrder(numbers: readonly number[]): number[] | undefined {
  if (numbers.length < 2) return undefined;
  const sorted = [...numbers].sort((a, b) => a - b);
  let widest = SEQUENCE_LIMIT - sorted[sorted.length - 1] + sorted[0]; // the gap through the wrap
  let start = 0;
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i] - sorted[i - 1];
    if (gap > widest) {
      widest = gap;
      start = i;
    }
  }
  return start === 0 ? undefined : [...sorted.slice(start), ...sorted.slice(0, start)];
}

/**
 * The moves, [old number, new number], that make numeric order the written order: none when it
 * is already. The new numbers follow the last record written, in the free gap before the
 * first; the moves run last record first. Applied one write at a time (put under the new key,
 * then remove the old), a crash anywhere leaves every record, in written order at the next
 * restore (which finishes the job), and at most one of them twice: the one being moved.
 */
export function renumbering(numbers: readonly number[]): [number, number][] {
  const order = writtenOrder(numbers);
  if (order === undefined) return [];
  const last = order[order.length - 1];
  // The new range and the one the moved records leave must both fit in the gap, with room to
  // spare: always so with the few records Paho keeps, but a store is data from outside.
  if (order[0] - last <= 2 * order.length + 1) return [];
  const moves: [number, number][] = [];
  for (let i = order.length - 1; i >= 0; i--) moves.push([order[i], last + 1 + i]);
  return moves;
}

/**
 * Renumbers the sequenced records of `keys` that straddle the wrap, as one batch where the
 * store has batch() (all or nothing), else one write at a time; returns the keys as they are now.
 */
export async function renumberWrapped(store: ClientPersistence, keys: readonly string[]): Promise<string[]> {
  const numbers = new Map<string, number[]>(SEQUENCED_PREFIXES.map((prefix) => [prefix, []]));
  for (const key of keys) {
    const prefix = SEQUENCED_PREFIXES.find((p) => key.startsWith(p));
    const number = prefix !== undefined ? parseKey(key).number : null;
    if (prefix !== undefined && number !== null) numbers.get(prefix)!.push(number);
  }
  const writes: PersistenceWrite[] = [];
  for (const [prefix, found] of numbers) {
    for (const [from, to] of renumbering(found)) {
      const data = await store.get(`${prefix}${from}`);
      writes.push({ key: `${prefix}${to}`, data }, { key: `${prefix}${from}`, data: undefined });
    }
  }
  if (writes.length === 0) return [...keys];
  if (typeof store.batch === 'function') {
    await store.batch(writes);
  } else {
    for (const write of writes)
      await (write.data !== undefined ? store.put(write.key, write.data) : store.remove(write.key));
  }
  const removed = new Set(writes.filter((w) => w.data === undefined).map((w) => w.key));
  const added = writes.filter((w) => w.data !== undefined).map((w) => w.key);
  return [...keys.filter((key) => !removed.has(key)), ...added];
}
