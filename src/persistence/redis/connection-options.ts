/**
 * RedisPersistence's connection options (url, redisOptions, client) and their validation: which
 * may be combined, what each must look like, and the passwords they hold (masked in every error).
 */
import type { RedisOptions } from 'ioredis';
import { invalidArg } from '../../errors';
import type { RedisClient } from './options';

/**
 * Checks options.url, options.redisOptions and options.client, alone and together; throws
 * ERR_INVALID_ARG. Returns the passwords they hold, which must never appear in an error message.
 */
export function checkConnectionOptions(
  url: string | undefined,
  redisOptions: RedisOptions | undefined,
  client: RedisClient | undefined,
): string[] {
  if (url !== undefined && client !== undefined) {
    throw invalidArg('RedisPersistence: options.url and options.client are exclusive; give one of them');
  }
  if (redisOptions !== undefined && client !== undefined) {
    throw invalidArg(
      'RedisPersistence: options.redisOptions cannot be combined with options.client (configure your client instead)',
    );
  }
  const secrets: string[] = [];
  if (url !== undefined) {
    if (typeof url !== 'string') throw invalidArg(`RedisPersistence: options.url must be a string, got ${typeof url}`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // Never echo the url: it may hold a password.
      throw invalidArg(
        'RedisPersistence: options.url is not a valid URL (expected redis://[[user]:password@]host[:port][/db] or rediss://...)',
      );
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw invalidArg(
        `RedisPersistence: options.url must use the redis:// or rediss:// scheme, got '${parsed.protocol}//'`,
      );
    }
    if (!url.startsWith(parsed.protocol)) {
      // ioredis only recognises lower-case "rediss://" as TLS.
      throw invalidArg('RedisPersistence: the scheme of options.url must be written in lower case');
    }
    if (parsed.password) secrets.push(parsed.password, safeDecode(parsed.password));
  }
  if (redisOptions !== undefined) {
    if (redisOptions === null || typeof redisOptions !== 'object') {
      throw invalidArg('RedisPersistence: options.redisOptions must be an object');
    }
    if (redisOptions.keyPrefix !== undefined && redisOptions.keyPrefix !== '') {
      throw invalidArg(
        'RedisPersistence: use options.keyPrefix, not options.redisOptions.keyPrefix (the hash name must stay explicit)',
      );
    }
    if (typeof redisOptions.password === 'string' && redisOptions.password) secrets.push(redisOptions.password);
    if (typeof redisOptions.sentinelPassword === 'string' && redisOptions.sentinelPassword)
      secrets.push(redisOptions.sentinelPassword);
    if (
      redisOptions.sentinels !== undefined &&
      (!Array.isArray(redisOptions.sentinels) ||
        redisOptions.sentinels.length === 0 ||
        typeof redisOptions.name !== 'string' ||
        redisOptions.name === '')
    ) {
      throw invalidArg(
        'RedisPersistence: Sentinel needs options.redisOptions.sentinels (a non-empty array of { host, port }) and options.redisOptions.name (the master name)',
      );
    }
    if (redisOptions.sentinels !== undefined && url !== undefined) {
      throw invalidArg(
        'RedisPersistence: give either options.url or options.redisOptions.sentinels, not both (with Sentinel, the master address comes from the sentinels)',
      );
    }
  }
  if (client !== undefined) {
    const c = client as unknown as Record<string, unknown> | null;
    if (c === null || typeof c !== 'object' || typeof c.hgetBuffer !== 'function' || typeof c.hset !== 'function') {
      throw invalidArg('RedisPersistence: options.client must be an ioredis Redis or Cluster instance');
    }
  }
  return secrets;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
