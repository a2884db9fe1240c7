/** `inspect`: decodes the Paho records of one client's hash, or lists the client hashes. */
import * as fs from 'node:fs';
import { decodeRecord, parseKey, compareRecordKeys, type DecodedRecord } from '../persistence/records/paho-records';
import { ValueEncryptor, isEncrypted, encryptedKeyId } from '../persistence/redis/encryption';
import { DEFAULT_KEY_PREFIX } from '../persistence/redis/options';
import { quarantineHashName, quarantinedRecords } from '../persistence/redis/quarantine';
import type { QuarantinedRecord } from '../persistence/client-persistence';
import {
  CONNECTION_OPTIONS,
  type CliIO,
  UsageError,
  type Values,
  entries,
  missingHashHint,
  parse,
  printable,
  redisUrl,
  table,
  targetHash,
  withRedis,
} from './common';
import { INSPECT_HELP } from './help';
import { OUTBOX_PREVIEW_ENTRIES, formatOutbox, oldestAgeMs, readOutbox } from './outbox-summary';

/** Reads a 32-byte key: the raw bytes, 64 hex digits, or base64, from a file. */
export function readKeyFile(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read --encryption-key-file: ${(err as Error).message}`);
  }
  if (raw.length === 32) return raw;
  const text = raw.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === 32) return b;
  }
  throw new UsageError(`${file}: not a 32-byte key (expected 32 raw bytes, 64 hex digits or base64 of 32 bytes)`);
}

/** The encryptor that --encryption-key-file and --key-id describe, or undefined without them. */
export function encryptorOption(v: Values): ValueEncryptor | undefined {
  const keyFile = v['encryption-key-file'] as string | undefined;
  const keyId = v['key-id'] as string | undefined;
  if ((keyFile === undefined) !== (keyId === undefined))
    throw new UsageError('--encryption-key-file and --key-id go together');
  if (keyFile === undefined) return undefined;
  const key = readKeyFile(keyFile);
  try {
    return new ValueEncryptor({ key, keyId: keyId as string });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface InspectRow extends DecodedRecord {
  key: string;
  /** Packet id (s-, sc-, r-) or sequence number (c-, q-) from the key. */
  number: number | null;
  /** Bytes stored in Redis for this field. */
  storedSize: number;
  /** The value is encrypted (encrypted); `encryptedKeyId` names its key. */
  encrypted?: boolean;
  encryptedKeyId?: string;
}

function note(row: InspectRow): string {
  const parts: string[] = [];
  if (row.commandType !== undefined) parts.push(String(row.commandType));
  if (row.topics !== undefined && row.topics.length !== 1)
    parts.push(`${row.topics.length} topics: ${row.topics.map(printable).join(', ')}`);
  if (row.encrypted) {
    const undecoded = row.error === undefined && row.packetId === undefined && row.sequence === undefined;
    parts.push(
      `encrypted (keyId ${row.encryptedKeyId})${undecoded ? ': give --encryption-key-file and --key-id to decode' : ''}`,
    );
  }
  if (row.retained) parts.push('retained');
  if (row.dup) parts.push('dup');
  if (row.error !== undefined) parts.push(`error: ${row.error}`);
  return parts.join('; ');
}

export function decodeEntries(hash: string, entries: Record<string, Buffer>, encryptor?: ValueEncryptor): InspectRow[] {
  return Object.keys(entries)
    .sort(compareRecordKeys)
    .map((key): InspectRow => {
      const value = entries[key];
      const { kind, mqtt5, number } = parseKey(key);
      const base = { key, number, storedSize: value.length };
      if (!isEncrypted(value)) return { ...base, ...decodeRecord(key, value) };
      const encrypted = { encrypted: true, encryptedKeyId: encryptedKeyId(value) ?? undefined };
      if (encryptor === undefined) return { ...base, kind, mqtt5, ...encrypted };
      try {
        return { ...base, ...decodeRecord(key, encryptor.decrypt(`${hash}\0${key}`, value)), ...encrypted };
      } catch (err) {
        // decodeRecord never throws: this is decrypt's ERR_PERSISTENCE_DECRYPT
        return { ...base, kind, mqtt5, ...encrypted, error: (err as Error).message };
      }
    });
}

const PREVIEW_BYTES = 32;

/** The first bytes of a payload: quoted text when it is printable UTF-8, else hex. */
export function payloadPreview(payload: Buffer): string {
  const head = payload.subarray(0, PREVIEW_BYTES);
  const more = payload.length > PREVIEW_BYTES ? '...' : '';
  const text = head.toString('utf8');
  // A multi-byte character cut at the end shows as U+FFFD: drop that tail, not the whole preview.
  const whole = more ? text.replace(/\uFFFD{1,3}$/, '') : text;
  if (!whole.includes('\uFFFD') && !/[\x00-\x08\x0e-\x1f\x7f]/.test(whole)) return JSON.stringify(whole) + more;
  return `0x${head.toString('hex')}${more}`;
}

export function formatRows(rows: InspectRow[], previews = false): string {
  const cell = (v: number | null | undefined): string => (v === undefined || v === null ? '-' : String(v));
  const payload = (r: InspectRow): string => {
    if (r.payloadSize === undefined) return '-';
    return previews && r.payload !== undefined
      ? `${r.payloadSize} B ${payloadPreview(r.payload)}`
      : `${r.payloadSize} B`;
  };
  return table(
    ['KEY', 'KIND', 'ID/SEQ', 'TOPIC', 'QOS', 'PAYLOAD', 'NOTE'],
    rows.map((r) => [
      printable(r.key),
      r.kind,
      cell(r.number),
      r.topic === undefined ? '-' : printable(r.topic),
      cell(r.qos),
      payload(r),
      note(r),
    ]),
  );
}

/** Records set aside at restore (damaged): where they were moved, and why. */
export function formatQuarantined(hash: string, records: QuarantinedRecord[]): string {
  return (
    `quarantined (damaged records set aside at restore, in ${printable(hash)}): ${entries(records.length)}\n` +
    table(
      ['KEY', 'SET ASIDE', 'SIZE', 'REASON'],
      records.map((r) => [printable(r.key), new Date(r.at).toISOString(), `${r.value.length} B`, printable(r.reason)]),
    )
  );
}

export async function inspectCommand(args: string[], io: CliIO): Promise<number> {
  const v = parse(args, {
    ...CONNECTION_OPTIONS,
    json: { type: 'boolean' },
    list: { type: 'boolean' },
    'encryption-key-file': { type: 'string' },
    'key-id': { type: 'string' },
    payload: { type: 'boolean' },
  });
  if (v.help) {
    io.stdout.write(INSPECT_HELP);
    return 0;
  }
  const url = redisUrl(v);
  if (v.list) {
    for (const f of ['client-id', 'server-uri', 'hash', 'encryption-key-file', 'key-id']) {
      if (v[f] !== undefined) throw new UsageError(`--list cannot be combined with --${f}`);
    }
    const prefix = (v['key-prefix'] as string | undefined) ?? DEFAULT_KEY_PREFIX;
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*:*`;
    const found = await withRedis(url, async (redis) => {
      const names = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'hash');
        for (const k of keys) names.add(k);
        cursor = next;
      } while (cursor !== '0');
      const sorted = [...names].sort();
      const counts = await Promise.all(sorted.map((n) => redis.hlen(n)));
      return sorted.map((hash, i) => ({ hash, entries: counts[i] }));
    });
    if (v.json) io.stdout.write(JSON.stringify(found, null, 2) + '\n');
    else if (found.length === 0) io.stdout.write(`no hashes match ${pattern}\n`);
    else
      io.stdout.write(
        table(
          ['HASH', 'ENTRIES'],
          found.map((f) => [printable(f.hash), String(f.entries)]),
        ),
      );
    return 0;
  }
  const hash = targetHash(v);
  const encryptor = encryptorOption(v);
  const [stored, setAside, outbox] = await withRedis(url, (redis) =>
    Promise.all([
      redis.hgetallBuffer(hash),
      redis.hgetallBuffer(quarantineHashName(hash)),
      readOutbox(redis, hash, v.payload ? OUTBOX_PREVIEW_ENTRIES : 0, encryptor),
    ]),
  );
  const rows = decodeEntries(hash, stored, encryptor);
  const quarantined = quarantinedRecords(setAside);
  if (v.json) {
    // Sizes, not payload bytes (inspect describes records), unless --payload asks for previews.
    const json = rows.map(({ payload, ...row }) =>
      v.payload && payload !== undefined ? { ...row, payloadPreview: payloadPreview(payload) } : row,
    );
    // Quarantined records follow the stored ones, marked `quarantined: true`.
    const setAsideRows = quarantined.map((r) => ({
      key: r.key,
      kind: parseKey(r.key).kind,
      storedSize: r.value.length,
      quarantined: true,
      reason: r.reason,
      setAsideAt: new Date(r.at).toISOString(),
    }));
    // The outbox follows as one row, `outbox: true`, with its first entries under --payload.
    const outboxRow = {
      key: outbox.key,
      outbox: true,
      entries: outbox.length,
      oldestAt: outbox.oldestAt === undefined ? undefined : new Date(outbox.oldestAt).toISOString(),
      oldestAgeMs: oldestAgeMs(outbox),
      first: outbox.head.map(({ payload, ...entry }) =>
        payload !== undefined ? { ...entry, payloadPreview: payloadPreview(payload) } : entry,
      ),
    };
    const outboxRows = outbox.length > 0 ? [outboxRow] : [];
    io.stdout.write(JSON.stringify([...json, ...setAsideRows, ...outboxRows], null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write(missingHashHint(hash));
  } else {
    io.stdout.write(`hash ${printable(hash)}: ${entries(rows.length)}\n`);
    io.stdout.write(formatRows(rows, v.payload === true));
  }
  if (quarantined.length > 0) io.stdout.write(formatQuarantined(quarantineHashName(hash), quarantined));
  if (outbox.length > 0) io.stdout.write(formatOutbox(outbox, payloadPreview));
  return 0;
}
