/**
 * Publish throughput (msg/s) for QoS 1 and QoS 2 with no persistence, Paho's file store,
 * MemoryPersistence and RedisPersistence, measured in one run against the same broker, and
 * reported as ratios against 'none'.
 *   node out/bench/publish.bench.js [--messages 3000] [--window 100] [--payload 64] [--max-inflight N] [--shared]
 * --shared uses the Redis and mosquitto on 127.0.0.1:6379/1883; by default throwaway ones.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AsyncClient, MemoryPersistence, RedisPersistence, type PersistenceChoice } from '../src';
import { startMosquitto, startRedis } from '../test/helpers/servers';

async function run(
  serverURI: string,
  persistence: PersistenceChoice,
  qos: 1 | 2,
  messages: number,
  window: number,
  payload: Buffer,
  maxInflight: number | undefined,
): Promise<number> {
  const client = await AsyncClient.create({
    serverURI,
    clientId: `bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    persistence,
  });
  await client.connect({ cleanSession: true, maxInflight });
  const inFlight = new Set<Promise<unknown>>();
  const started = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) {
    const p = client.publish('bench/publish', payload, { qos });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await client.disconnect({ timeout: 1000 });
  await client.close();
  return messages / seconds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '3000' },
      window: { type: 'string', default: '100' },
      payload: { type: 'string', default: '64' },
      shared: { type: 'boolean', default: false },
      'max-inflight': { type: 'string' },
    },
  });
  const messages = Number(values.messages);
  const window = Number(values.window);
  const payload = Buffer.alloc(Number(values.payload), 0x61);
  const maxInflight = values['max-inflight'] === undefined ? undefined : Number(values['max-inflight']);
  const broker = values.shared ? undefined : await startMosquitto();
  const redis = values.shared ? undefined : await startRedis();
  const serverURI = broker?.url ?? 'tcp://127.0.0.1:1883';
  const redisUrl = redis?.url ?? 'redis://127.0.0.1:6379';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-file-'));
  const stores: [string, () => PersistenceChoice][] = [
    ['none', () => 'none'],
    ['file', () => ({ dir })],
    ['memory', () => new MemoryPersistence()],
    ['redis', () => new RedisPersistence({ url: redisUrl })],
  ];
  const results: { store: string; qos: number; msgPerSec: number; ratioVsNone: number }[] = [];
  try {
    for (const qos of [1, 2] as const) {
      await run(serverURI, 'none', qos, Math.min(500, messages), window, payload, maxInflight); // warm-up
      let baseline = 0;
      for (const [store, make] of stores) {
        const rate = await run(serverURI, make(), qos, messages, window, payload, maxInflight);
        if (store === 'none') baseline = rate;
        results.push({ store, qos, msgPerSec: Math.round(rate), ratioVsNone: Number((rate / baseline).toFixed(3)) });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await broker?.stop();
    await redis?.stop();
  }
  console.log(
    `publish throughput, ${messages} messages of ${payload.length} bytes, ${window} outstanding, maxInflight ${maxInflight ?? 'default'}`,
  );
  console.log('store   qos  msg/s    ratio vs none');
  for (const r of results)
    console.log(`${r.store.padEnd(7)} ${String(r.qos).padEnd(4)} ${String(r.msgPerSec).padEnd(8)} ${r.ratioVsNone}`);
  console.log(
    JSON.stringify({
      bench: 'publish',
      messages,
      window,
      maxInflight: maxInflight ?? 'default',
      payloadBytes: payload.length,
      results,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
