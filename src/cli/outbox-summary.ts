/** What `inspect` shows of a client's outbox (see docs/outbox.md). */
import type { Redis } from 'ioredis';
import { decodeOutboxEntry } from '../client/outbox-entry';
import type { ValueEncryptor } from '../persistence/redis/encryption';
import { isEncrypted } from '../persistence/redis/encryption';
import { OUTBOX_FIELD, OUTBOX_TIME_FIELD, outboxKeyName } from '../persistence/redis/outbox-stream';
import { openValue } from '../persistence/redis/stored-values';
import { entries, printable, table } from './common';

/** With --payload, this many entries from the head of the outbox are shown. */
export const OUTBOX_PREVIEW_ENTRIES = 10;

export interface OutboxHead {
  id: string;
  topic?: string;
  qos?: number;
  payloadSize?: number;
  payload?: Buffer;
  /** Why the entry could not be decoded (encrypted without a key, damaged). */
  error?: string;
}

export interface OutboxSummary {
  key: string;
  length: number;
  /** When the oldest entry was appended (its `t`, ms since the epoch); undefined when empty or not recorded. */
  oldestAt?: number;
  /** The first entries (only with --payload). */
  head: OutboxHead[];
}

export async function readOutbox(
  redis: Redis,
  hash: string,
  firstEntries: number,
  encryptor: ValueEncryptor | undefined,
): Promise<OutboxSummary> {
  const key = outboxKeyName(hash);
  const [length, raw] = await Promise.all([
    redis.xlen(key),
    redis.xrangeBuffer(key, '-', '+', 'COUNT', Math.max(1, firstEntries)),
  ]);
  const oldestFields = raw[0]?.[1] ?? [];
  const timeAt = oldestFields.findIndex((f, i) => i % 2 === 0 && f.toString() === OUTBOX_TIME_FIELD);
  const oldestAt = timeAt >= 0 ? Number(oldestFields[timeAt + 1].toString()) : undefined;
  const head = raw.slice(0, firstEntries).map(([rawId, fields]): OutboxHead => {
    const id = rawId.toString().split('-')[0];
    const index = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === OUTBOX_FIELD);
    let data = fields[index + 1] ?? Buffer.alloc(0);
    try {
      if (encryptor !== undefined) data = openValue(encryptor, 'inspect', key, id, data);
      else if (isEncrypted(data)) return { id, error: 'encrypted (give --encryption-key-file and --key-id)' };
      const message = decodeOutboxEntry(id, data);
      return {
        id,
        topic: message.topic,
        qos: message.qos,
        payloadSize: message.payload.length,
        payload: message.payload,
      };
    } catch (e) {
      return { id, error: e instanceof Error ? e.message : String(e) };
    }
  });
  return { key, length, oldestAt: Number.isFinite(oldestAt) ? oldestAt : undefined, head };
}

/**
 * How long the oldest entry has waited: now minus its `t` (the appending process's clock, so a
 * clock skew between hosts shows here; never below 0).
 */
export function oldestAgeMs(summary: OutboxSummary, now = Date.now()): number | undefined {
  return summary.oldestAt === undefined ? undefined : Math.max(0, now - summary.oldestAt);
}

/** An age for people: `42 s`, `3 min 12 s`, `5 h 3 min`, `2 d 4 h`. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export function formatOutbox(summary: OutboxSummary, preview: (payload: Buffer) => string): string {
  const age = oldestAgeMs(summary);
  const oldest =
    summary.oldestAt === undefined || age === undefined
      ? ''
      : `; the oldest appended ${new Date(summary.oldestAt).toISOString()} (${formatAge(age)} ago)`;
  let out = `outbox ${printable(summary.key)}: ${entries(summary.length)} waiting (enqueued, not handed to Paho yet)${oldest}\n`;
  if (summary.head.length > 0) {
    out += table(
      ['ID', 'QOS', 'TOPIC', 'PAYLOAD'],
      summary.head.map((e) =>
        e.error !== undefined
          ? [e.id, '-', '-', printable(e.error)]
          : [e.id, String(e.qos), printable(e.topic!), `${e.payloadSize} B ${preview(e.payload!)}`],
      ),
    );
  }
  return out;
}
