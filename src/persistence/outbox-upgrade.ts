/**
 * The upgrade of a backlog an older release left with Paho (see docs/outbox.md): queued
 * PUBLISH commands (`c-N`, `c5-N`) beyond one window move into the outbox, in the order Paho
 * wrote them, before Paho lists the records at create(). Paho then restores
 * one window only, instead of walking the whole backlog on every send (quadratic).
 */
import { encodeOutboxEntry } from '../client/outbox-entry';
import type { ClientPersistence, OutboxAdoption, OutboxStore } from './client-persistence';
import { decodeRecord, parseKey } from './records/paho-records';
import { writtenOrder } from './bridge/sequence-wrap';

/** Records read (and moved) per round of store calls. */
const CHUNK = 500;

/**
 * Moves the queued PUBLISH commands after the first `window` into the outbox, when the store
 * can (outboxAdopt) and its outbox is empty (otherwise the moved messages would follow newer
 * ones). Other commands (SUBSCRIBE, UNSUBSCRIBE), records that do not decode and MQTT 5
 * publishes with properties stay with Paho. Returns how many moved.
 */
export async function adoptQueuedPublishes(store: ClientPersistence & OutboxStore, window: number): Promise<number> {
  if (typeof store.outboxAdopt !== 'function') return 0;
  const keys = (await store.keys()).filter((key) => parseKey(key).kind === 'command');
  if (keys.length <= window) return 0;
  if ((await store.outboxStats()).length > 0) return 0;
  const byNumber = new Map(keys.map((key) => [parseKey(key).number ?? -1, key]));
  const numbers = [...byNumber.keys()].filter((n) => n >= 0);
  const order = writtenOrder(numbers) ?? numbers.sort((a, b) => a - b);
  let lastId = Number((await store.outboxLastId()) ?? 0);
  let kept = 0;
  let moved = 0;
  for (let at = 0; at < order.length; at += CHUNK) {
    const chunk = order.slice(at, at + CHUNK).map((n) => byNumber.get(n)!);
    const values = await Promise.all(chunk.map((key) => Promise.resolve().then(() => store.get(key))));
    const moves: OutboxAdoption[] = [];
    chunk.forEach((key, i) => {
      const record = decodeRecord(key, values[i]);
      const movable =
        record.error === undefined &&
        record.commandType === 'PUBLISH' &&
        record.topic !== undefined &&
        record.payload !== undefined &&
        (record.propertiesLength ?? 0) <= 1; // an empty MQTT 5 property block is one byte
      if (!movable) return;
      if (kept < window) {
        kept += 1; // Paho restores these, and sends them first
        return;
      }
      const data = encodeOutboxEntry({
        topic: record.topic!,
        payload: record.payload!,
        qos: record.qos ?? 0,
        retained: record.retained === true,
      });
      moves.push({ key, entry: { id: String(++lastId), data } });
    });
    if (moves.length > 0) await store.outboxAdopt(moves);
    moved += moves.length;
  }
  return moved;
}
