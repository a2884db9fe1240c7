#!/usr/bin/env node
/**
 * paho-mqtt-redis command line: inspect and clear the Redis hashes RedisPersistence writes,
 * and run the demo. Exit codes: 0 success, 1 failure (Redis, I/O, declined), 2 usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import Redis from 'ioredis';
import { decodeRecord, parseKey, compareRecordKeys, type DecodedRecord, type RecordKind } from './paho-records';
import { ValueSealer, isSealed, sealedKeyId } from './sealing';

export interface CliIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** Default key prefix of the hashes (`${prefix}${clientId}:${serverURI}`): RedisPersistence's default. */
export const DEFAULT_KEY_PREFIX = '';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

class UsageError extends Error {}

const USAGE = `Usage: paho-mqtt-redis <command> [options]

Commands:
  inspect   decode the Paho records stored for one client (or --list the client hashes)
  clear     delete the hash holding one client's records
  demo      run the demo

Run 'paho-mqtt-redis <command> --help' for the options of a command.
`;

const CONNECTION_HELP = `Connection:
  --url URL                 Redis URL (default ${DEFAULT_REDIS_URL}, or $PAHO_MQTT_REDIS_URL)
  --key-prefix P            prefix of the hash names (default: none, like RedisPersistence)
Target (one of):
  --client-id ID --server-uri URI   the hash \${prefix}\${clientId}:\${serverURI}
  --hash NAME                       a hash name, used as given
`;

const INSPECT_HELP = `Usage: paho-mqtt-redis inspect (--client-id ID --server-uri URI | --hash NAME) [options]
       paho-mqtt-redis inspect --list [--url URL] [--key-prefix P] [--json]

Decodes every record in a client's hash: queued commands (c-), sent PUBLISH (s-) and
PUBREL (sc-), received QoS 2 PUBLISH (r-) and undelivered inbound messages (q-).

${CONNECTION_HELP}Options:
  --json                    print a JSON array instead of a table
  --list                    list the hashes matching \${prefix}*:* with their entry counts
  --encryption-key-file F   key for sealed values: 32 raw bytes, 64 hex digits or base64
  --key-id K                the keyId of that key (required with --encryption-key-file)
  -h, --help                show this help
`;

const CLEAR_HELP = `Usage: paho-mqtt-redis clear (--client-id ID --server-uri URI | --hash NAME) [options]

Deletes the hash holding a client's persisted records (queued and in-flight messages are
lost). Never run it while that client is running. Asks for confirmation on a terminal;
without a terminal, --yes is required.

${CONNECTION_HELP}Options:
  -y, --yes                 do not ask for confirmation
  -h, --help                show this help
`;

const DEMO_HELP = `Usage: paho-mqtt-redis demo [options]

Runs the demo (dist/src/demo.js); the arguments after 'demo' are passed to it.
`;

type Values = Record<string, string | boolean | undefined>;

const CONNECTION_OPTIONS = {
  url: { type: 'string' }, 'key-prefix': { type: 'string' }, 'client-id': { type: 'string' },
  'server-uri': { type: 'string' }, hash: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse(args: string[], options: ParseArgsConfig['options']): Values {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Replaces the password of a URL (or a lone user name, which may be a token) with ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    else if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return redactText(url);
  }
}

/** Masks anything that looks like URL credentials, and the given secrets, in a text. */
export function redactText(text: string, secrets: string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

function secretsOf(url: string): string[] {
  try {
    const u = new URL(url);
    if (u.password.length < 4) return []; // short ones would mangle the text; URL redaction still applies
    return [u.password, decodeURIComponent(u.password)].sort((a, b) => b.length - a.length);
  } catch {
    return [];
  }
}

function targetHash(v: Values): string {
  const prefix = (v['key-prefix'] as string | undefined) ?? DEFAULT_KEY_PREFIX;
  const hash = v.hash as string | undefined;
  const clientId = v['client-id'] as string | undefined;
  const serverUri = v['server-uri'] as string | undefined;
  if (hash !== undefined) {
    if (clientId !== undefined || serverUri !== undefined) throw new UsageError('--hash cannot be combined with --client-id/--server-uri');
    if (hash === '') throw new UsageError('--hash must not be empty');
    return hash;
  }
  if (clientId === undefined || serverUri === undefined) {
    throw new UsageError('give --client-id and --server-uri, or --hash');
  }
  if (clientId === '' || serverUri === '') throw new UsageError('--client-id and --server-uri must not be empty');
  return `${prefix}${clientId}:${serverUri}`;
}

function redisUrl(v: Values): string {
  const url = (v.url as string | undefined) ?? process.env.PAHO_MQTT_REDIS_URL ?? DEFAULT_REDIS_URL;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url is not a valid URL: ${redactText(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`--url must be a redis:// or rediss:// URL, got ${redactUrl(url)}`);
  }
  return url;
}

async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => { lastError = err; }); // reported by the failing call
  try {
    try {
      await redis.connect();
    } catch (err) {
      const cause = lastError ?? err;
      throw new Error(`cannot connect to Redis at ${redactUrl(url)}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

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

export interface InspectRow extends DecodedRecord {
  key: string;
  /** Packet id (s-, sc-, r-) or sequence number (c-, q-) from the key. */
  number: number | null;
  /** Bytes stored in Redis for this field. */
  storedSize: number;
  /** The value is sealed (encrypted); `sealedKeyId` names its key. */
  sealed?: boolean;
  sealedKeyId?: string;
}

const entries = (n: number): string => `${n} entr${n === 1 ? 'y' : 'ies'}`;

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function note(row: InspectRow): string {
  const parts: string[] = [];
  if (row.commandType !== undefined) parts.push(String(row.commandType));
  if (row.topics !== undefined && row.topics.length !== 1) parts.push(`${row.topics.length} topics: ${row.topics.map(printable).join(', ')}`);
  if (row.sealed) {
    const undecoded = row.error === undefined && row.packetId === undefined && row.sequence === undefined;
    parts.push(`sealed (keyId ${row.sealedKeyId})${undecoded ? ': give --encryption-key-file and --key-id to decode' : ''}`);
  }
  if (row.retained) parts.push('retained');
  if (row.dup) parts.push('dup');
  if (row.error !== undefined) parts.push(`error: ${row.error}`);
  return parts.join('; ');
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function decodeEntries(hash: string, entries: Record<string, Buffer>, sealer?: ValueSealer): InspectRow[] {
  return Object.keys(entries).sort(compareRecordKeys).map((key): InspectRow => {
    const value = entries[key];
    const { kind, mqtt5, number } = parseKey(key);
    const base = { key, number, storedSize: value.length };
    if (!isSealed(value)) return { ...base, ...decodeRecord(key, value) };
    const sealed = { sealed: true, sealedKeyId: sealedKeyId(value) ?? undefined };
    if (sealer === undefined) return { ...base, kind, mqtt5, ...sealed };
    try {
      return { ...base, ...decodeRecord(key, sealer.unseal(`${hash}\0${key}`, value)), ...sealed };
    } catch (err) { // decodeRecord never throws: this is unseal's ERR_PERSISTENCE_DECRYPT
      return { ...base, kind, mqtt5, ...sealed, error: (err as Error).message };
    }
  });
}

export function formatRows(rows: InspectRow[]): string {
  const cell = (v: unknown): string => (v === undefined || v === null ? '-' : String(v));
  return table(
    ['KEY', 'KIND', 'ID/SEQ', 'TOPIC', 'QOS', 'PAYLOAD', 'NOTE'],
    rows.map((r) => [
      printable(r.key), r.kind as RecordKind, cell(r.number), r.topic === undefined ? '-' : printable(r.topic),
      cell(r.qos), r.payloadSize === undefined ? '-' : `${r.payloadSize} B`, note(r),
    ]),
  );
}

export async function inspectCommand(args: string[], io: CliIO): Promise<number> {
  const v = parse(args, {
    ...CONNECTION_OPTIONS,
    json: { type: 'boolean' },
    list: { type: 'boolean' },
    'encryption-key-file': { type: 'string' },
    'key-id': { type: 'string' },
  });
  if (v.help) { io.stdout.write(INSPECT_HELP); return 0; }
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
    else io.stdout.write(table(['HASH', 'ENTRIES'], found.map((f) => [printable(f.hash), String(f.entries)])));
    return 0;
  }
  const hash = targetHash(v);
  const keyFile = v['encryption-key-file'] as string | undefined;
  const keyId = v['key-id'] as string | undefined;
  if ((keyFile === undefined) !== (keyId === undefined)) throw new UsageError('--encryption-key-file and --key-id go together');
  let sealer: ValueSealer | undefined;
  if (keyFile !== undefined) {
    const key = readKeyFile(keyFile);
    try { sealer = new ValueSealer({ key, keyId: keyId as string }); } catch (err) { throw new UsageError((err as Error).message); }
  }
  const rows = decodeEntries(hash, await withRedis(url, (redis) => redis.hgetallBuffer(hash)), sealer);
  if (v.json) {
    // Sizes, not payload bytes: inspect describes records, it does not dump messages.
    io.stdout.write(JSON.stringify(rows, (name, value: unknown) => (name === 'payload' ? undefined : value), 2) + '\n');
  } else if (rows.length === 0) {
    io.stdout.write(`hash ${printable(hash)} is empty or does not exist\n`);
  } else {
    io.stdout.write(`hash ${printable(hash)}: ${entries(rows.length)}\n`);
    io.stdout.write(formatRows(rows));
  }
  return 0;
}

function ask(io: CliIO, question: string): Promise<string> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout as NodeJS.WritableStream, terminal: false });
  return new Promise((resolve) => {
    let answered = false;
    rl.question(question, (answer) => { answered = true; rl.close(); resolve(answer); });
    rl.once('close', () => { if (!answered) resolve(''); });
  });
}

export async function clearCommand(args: string[], io: CliIO): Promise<number> {
  const v = parse(args, { ...CONNECTION_OPTIONS, yes: { type: 'boolean', short: 'y' } });
  if (v.help) { io.stdout.write(CLEAR_HELP); return 0; }
  const url = redisUrl(v);
  const hash = targetHash(v);
  return withRedis(url, async (redis) => {
    const count = await redis.hlen(hash);
    if (count === 0) {
      io.stdout.write(`nothing to remove: hash ${printable(hash)} is empty or does not exist\n`);
      return 0;
    }
    io.stdout.write(`hash ${printable(hash)} holds ${entries(count)}\n`);
    if (!v.yes) {
      if (!io.stdin.isTTY) {
        io.stderr.write('paho-mqtt-redis clear: refusing to remove entries without confirmation: stdin is not a terminal; pass --yes\n');
        return 2;
      }
      const answer = (await ask(io, `Remove all ${count} entries? [y/N] `)).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        io.stdout.write('not removed\n');
        return 1;
      }
    }
    const res = await redis.multi().hlen(hash).del(hash).exec();
    const removed = Number(res?.[0]?.[1] ?? 0);
    io.stdout.write(`removed ${entries(removed)} (hash ${printable(hash)} deleted)\n`);
    return 0;
  });
}

export async function demoCommand(args: string[], io: CliIO): Promise<number> {
  const spec = path.join(__dirname, 'demo');
  const wantsHelp = args.includes('--help') || args.includes('-h');
  let mod: { runDemo?: (argv: string[], io?: CliIO) => unknown; demoUsage?: unknown };
  try {
    // loaded lazily: the CLI works without the demo
    mod = require(spec); // eslint-disable-line @typescript-eslint/no-require-imports
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes(spec)) throw err;
    if (wantsHelp) { io.stdout.write(DEMO_HELP); return 0; }
    io.stderr.write(`paho-mqtt-redis demo: the demo is not part of this build (${spec}.js is missing)\n`);
    return 1;
  }
  if (wantsHelp) { // the demo may describe its options in an exported `demoUsage` string
    io.stdout.write(DEMO_HELP + (typeof mod.demoUsage === 'string' ? `\n${mod.demoUsage.trimEnd()}\n` : ''));
    return 0;
  }
  if (typeof mod.runDemo !== 'function') {
    io.stderr.write(`paho-mqtt-redis demo: ${spec}.js does not export runDemo()\n`);
    return 1;
  }
  const rc = await mod.runDemo(args, io);
  return typeof rc === 'number' ? rc : 0;
}

const HELP: Record<string, string> = { inspect: INSPECT_HELP, clear: CLEAR_HELP, demo: DEMO_HELP };

const COMMANDS: Record<string, (args: string[], io: CliIO) => Promise<number>> = {
  inspect: inspectCommand,
  clear: clearCommand,
  demo: demoCommand,
};

export async function main(
  argv: string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
): Promise<number> {
  const [command, ...rest] = argv;
  const secrets = argv.flatMap((a) => secretsOf(a.startsWith('--url=') ? a.slice(6) : a));
  const safe = (s: string): string => redactText(s, secrets);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const sub = command === 'help' ? rest[0] : undefined;
    if (sub !== undefined && COMMANDS[sub]) return COMMANDS[sub](['--help'], io);
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    io.stderr.write(safe(`paho-mqtt-redis: unknown command '${command}'\n\n`) + USAGE);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(safe(`paho-mqtt-redis ${command}: ${err.message}\n\n`) + HELP[command]);
      return 2;
    }
    io.stderr.write(safe(`paho-mqtt-redis ${command}: ${err instanceof Error ? err.message : String(err)}\n`));
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err) => { process.stderr.write(`${redactText(String(err))}\n`); process.exitCode = 1; },
  );
}
