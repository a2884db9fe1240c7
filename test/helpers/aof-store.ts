/**
 * For the cut-AOF test (not a test file): a Redis 7 multi-part AOF's incr file, and what a
 * client's store holds, read straight from Redis: the numbered messages (`#<n>#` payloads) in
 * its outbox stream and in Paho's `c-`/`s-` records (`c5-`/`s5-` under MQTT 5).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { companionKeyName, hashName, pahoServerURI } from '../../src/persistence/redis/options';
import { decodeOutboxEntry } from '../../src/client/outbox-entry';
import { decodeRecord } from '../../src/persistence/records/paho-records';
import { numberIn } from './crash-tally';

/**
 * The incr file Redis appends to now: the last `type i` line of the manifest in
 * `<dir>/appendonlydir` (Redis 7's appenddirname default).
 */
export function aofIncrFile(redisDir: string): string {
  const aofDir = path.join(redisDir, 'appendonlydir');
  const manifest = fs.readFileSync(path.join(aofDir, 'appendonly.aof.manifest'), 'latin1');
  const incr = manifest
    .split('\n')
    .map((line) => /^file (\S+) seq \d+ type i/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  if (incr.length === 0) throw new Error(`no incr file in the AOF manifest:\n${manifest}`);
  return path.join(aofDir, incr[incr.length - 1]);
}

export interface StoredNumbers {
  /** Numbers of the outbox entries, in stream order. */
  outbox: number[];
  /** Numbers in Paho's queued commands (`c-`): not yet sent. */
  commands: number[];
  /** Numbers in Paho's sent PUBLISH records (`s-`): sent, not yet acknowledged. */
  sent: number[];
  /** `sc-` records (a PUBREL: the broker has the message; they hold no payload). */
  pubrels: number;
  /** The families of Paho's records (`c-`, `s5-`, ...): which MQTT version wrote them. */
  families: Set<string>;
  /** Records or entries that did not decode, or held no number. */
  unreadable: string[];
}

/** Reads the outbox stream and Paho's records of one client from the Redis on `port`. */
export async function storedNumbers(port: number, clientId: string, serverURI: string): Promise<StoredNumbers> {
  const hash = hashName('', clientId, pahoServerURI(serverURI));
  const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  try {
    const out: StoredNumbers = { outbox: [], commands: [], sent: [], pubrels: 0, families: new Set(), unreadable: [] };
    for (const [rawId, fields] of await redis.xrangeBuffer(companionKeyName(hash, 'outbox'), '-', '+')) {
      const id = rawId.toString();
      const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'd');
      const n = at < 0 ? undefined : numberIn(decodeOutboxEntry(id, fields[at + 1]).payload.toString('latin1'));
      if (n === undefined) out.unreadable.push(`outbox ${id}`);
      else out.outbox.push(n);
    }
    for (const [key, value] of Object.entries(await redis.hgetallBuffer(hash))) {
      out.families.add(key.slice(0, key.indexOf('-') + 1));
      const record = decodeRecord(key, value);
      if (record.kind === 'sentPubrel' && record.error === undefined) {
        out.pubrels += 1;
        continue;
      }
      const n = record.payload === undefined ? undefined : numberIn(record.payload.toString('latin1'));
      if (record.error !== undefined || n === undefined) out.unreadable.push(`${key}: ${record.error ?? 'no number'}`);
      else if (record.kind === 'command') out.commands.push(n);
      else if (record.kind === 'sentPublish') out.sent.push(n);
      else out.unreadable.push(`${key}: a ${record.kind} record`);
    }
    return out;
  } finally {
    redis.disconnect();
  }
}
