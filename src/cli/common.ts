/** What the inspect and clear commands share: arguments, the target hash, the Redis connection, output. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import Redis from 'ioredis';
import { DEFAULT_KEY_PREFIX, hashName, pahoServerURI } from '../persistence/redis/options';
import { maskUrlCredentials, redactUrl } from '../persistence/redis/redaction';
import { DEFAULT_REDIS_URL } from './help';

export interface CliIO {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** A mistake in the arguments: reported with the command's help, exit code 2. */
export class UsageError extends Error {}

export type Values = Record<string, string | boolean | undefined>;

export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  'key-prefix': { type: 'string' },
  'client-id': { type: 'string' },
  'server-uri': { type: 'string' },
  hash: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parse(args: string[], options: ParseArgsConfig['options']): Values {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function secretsOf(url: string): string[] {
  try {
    const u = new URL(url);
    if (u.password.length < 4) return []; // short ones would mangle the text; URL redaction still applies
    return [u.password, decodeURIComponent(u.password)].sort((a, b) => b.length - a.length);
  } catch {
    return [];
  }
}

export function targetHash(v: Values): string {
  const prefix = (v['key-prefix'] as string | undefined) ?? DEFAULT_KEY_PREFIX;
  const hash = v.hash as string | undefined;
  const clientId = v['client-id'] as string | undefined;
  const serverUri = v['server-uri'] as string | undefined;
  if (hash !== undefined) {
    if (clientId !== undefined || serverUri !== undefined)
      throw new UsageError('--hash cannot be combined with --client-id/--server-uri');
    if (hash === '') throw new UsageError('--hash must not be empty');
    return hash;
  }
  if (clientId === undefined || serverUri === undefined) {
    throw new UsageError('give --client-id and --server-uri, or --hash');
  }
  if (clientId === '' || serverUri === '') throw new UsageError('--client-id and --server-uri must not be empty');
  // Paho names the store after the URI without its scheme; accept the URI as the client was given it.
  return hashName(prefix, clientId, pahoServerURI(serverUri));
}

export function redisUrl(v: Values): string {
  const url = (v.url as string | undefined) ?? process.env.PAHO_MQTT_REDIS_URL ?? DEFAULT_REDIS_URL;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url is not a valid URL: ${maskUrlCredentials(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`--url must be a redis:// or rediss:// URL, got ${redactUrl(url)}`);
  }
  return url;
}

export async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  }); // reported by the failing call
  try {
    try {
      await redis.connect();
    } catch (err) {
      const reason = lastError ?? err; // ioredis' 'error' event says more than the rejection
      throw new Error(
        `cannot connect to Redis at ${redactUrl(url)}: ${reason instanceof Error ? reason.message : String(reason)}`,
        { cause: err },
      );
    }
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Said when a hash is missing: Redis deletes a hash with its last field, and names are easy to get wrong. */
export function missingHashHint(hash: string): string {
  return (
    `hash ${printable(hash)} does not exist: nothing is in flight for that client, or the name differs ` +
    "(it is ${keyPrefix}${clientId}:${serverURI without scheme}; 'paho-mqtt-redis inspect --list' shows the hashes)\n"
  );
}

export const entries = (n: number): string => `${n} entr${n === 1 ? 'y' : 'ies'}`;

export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
