/**
 * The child side of the targets beyond the throughput matrix (run by trial.ts in a process of
 * their own): restore of N pending messages at create, and RSS over a long run.
 */
import Redis from 'ioredis';
import { AsyncClient } from '../../src';
import { RedisStats, type RedisCost } from './redis-stats';
import { flushIfSupported, publishWindowed, redisPersistence } from './stores';
import type { TrialSpec } from './trial';
import { waitFor } from '../../test/helpers/wait';

const TOPIC = 'bench/publish';
function redisKind(spec: TrialSpec): 'redis' | 'redis-batched' | 'redis-sync' {
  if (spec.store !== 'redis' && spec.store !== 'redis-batched' && spec.store !== 'redis-sync')
    throw new Error(`this scenario runs RedisPersistence, not '${spec.store}'`);
  return spec.store;
}

/**
 * Publishes `messages` while never connected (sendWhileDisconnected), waits until Redis holds them
 * all, and exits without closing: the next process finds them pending, as after a crash.
 */
export async function restoreFill(spec: TrialSpec & { clientId: string }): Promise<never> {
  const store = redisPersistence(spec.redisUrl, redisKind(spec));
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: spec.clientId,
    persistence: store,
    sendWhileDisconnected: true,
    maxBufferedMessages: spec.messages,
  });
  const payload = Buffer.alloc(spec.payloadBytes, 0x61);
  for (let i = 0; i < spec.messages; i++) client.publish(TOPIC, payload, { qos: spec.qos }).catch(() => undefined);
  await flushIfSupported(client);
  const redis = new Redis(spec.redisUrl);
  let stored = 0;
  await waitFor(
    async () => {
      stored = await redis.hlen(store.hashName!);
      return stored >= spec.messages;
    },
    `${spec.messages} records in Redis`,
    300_000,
  );
  await redis.quit();
  process.stdout.write(`${JSON.stringify({ stored })}\n`);
  process.exit(0);
}

export interface RestoreResult {
  /** AsyncClient.create(): Paho opens the store and restores every pending command. */
  createSeconds: number;
  restored: number;
  /** With `drain`: connect (cleanSession false) until every restored message completed. */
  drainSeconds: number | undefined;
  maxRssKb: number;
  redis: RedisCost;
}

export async function restore(spec: TrialSpec & { clientId: string }): Promise<RestoreResult> {
  const stats = new RedisStats(spec.redisUrl);
  const before = await stats.snapshot();
  const started = process.hrtime.bigint();
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: spec.clientId,
    persistence: redisPersistence(spec.redisUrl, redisKind(spec)),
    sendWhileDisconnected: true,
    maxBufferedMessages: spec.messages,
  });
  const createSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await stats.snapshot();
  await stats.quit();
  const restored = (await client.getPendingTokens()).length;
  let drainSeconds: number | undefined;
  if (spec.drain === true) {
    const connecting = process.hrtime.bigint();
    await client.connect({ cleanSession: false, maxInflight: spec.maxInflight });
    await waitFor(
      async () => (await client.getPendingTokens()).length === 0,
      'the restored messages to complete',
      300_000,
    );
    await flushIfSupported(client);
    drainSeconds = Number(process.hrtime.bigint() - connecting) / 1e9;
    await client.disconnect({ timeout: 1000 });
  }
  await client.close();
  return {
    createSeconds,
    restored,
    drainSeconds,
    maxRssKb: process.resourceUsage().maxRSS,
    redis: RedisStats.cost(before, after),
  };
}

export interface SoakResult {
  messages: number;
  seconds: number;
  msgPerSec: number;
  /** RSS after each `messages / samples` messages. */
  samples: { messages: number; seconds: number; rssKb: number; heapUsedKb: number }[];
  maxRssKb: number;
}

/** One client publishing `messages` (QoS and window from the spec), RSS sampled as it goes. */
export async function soak(spec: TrialSpec & { samples: number }): Promise<SoakResult> {
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: `bench-soak-${process.pid}`,
    persistence: redisPersistence(spec.redisUrl, redisKind(spec)),
  });
  await client.connect({ cleanSession: true, maxInflight: spec.maxInflight });
  const payload = Buffer.alloc(spec.payloadBytes, 0x61);
  const every = Math.max(1, Math.floor(spec.messages / spec.samples));
  const samples: SoakResult['samples'] = [];
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  await publishWindowed(
    spec.messages,
    spec.window,
    () => client.publish(TOPIC, payload, { qos: spec.qos }),
    (settled) => {
      if (settled % every !== 0) return;
      const memory = process.memoryUsage();
      samples.push({
        messages: settled,
        seconds: elapsed(),
        rssKb: Math.round(memory.rss / 1024),
        heapUsedKb: Math.round(memory.heapUsed / 1024),
      });
      process.stderr.write(`  soak: ${settled} messages, rss ${(memory.rss / 1048576).toFixed(1)} MB\n`);
    },
  );
  await flushIfSupported(client);
  const seconds = elapsed();
  await client.disconnect({ timeout: 1000 });
  await client.close();
  return {
    messages: spec.messages,
    seconds,
    msgPerSec: spec.messages / seconds,
    samples,
    maxRssKb: process.resourceUsage().maxRSS,
  };
}
