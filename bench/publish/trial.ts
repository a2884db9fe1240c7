/**
 * One measured trial in a process of its own (so its peak RSS is its own), started by
 * publish.bench.ts. argv[2] is a TrialSpec as JSON; one JSON line (TrialResult) goes to stdout.
 * After a warm-up of the same kind, the timed phase publishes `messages` per client with at most
 * `window` unsettled per client and, when the build has client.flush(), ends with it: a message
 * counts once its store ops are acknowledged by Redis, not only by the broker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncClient } from '../../src';
import { restore, restoreFill, soak } from './scenarios';
import { RedisStats, type RedisCost } from './redis-stats';
import { flushIfSupported, makeStore, publishWindowed, type StoreKind } from './stores';

export interface TrialSpec {
  /** 'restore-fill', 'restore' and 'soak' are the scenarios of scenarios.ts (RedisPersistence only). */
  kind: 'async-client' | 'mqttjs' | 'restore-fill' | 'restore' | 'soak';
  /** AsyncClient: a StoreKind; MQTT.js: 'memory' (its default store) or 'level' (mqtt-level-store). */
  store: StoreKind | 'level';
  serverURI: string;
  redisUrl: string;
  qos: 1 | 2;
  messages: number;
  warmup: number;
  window: number;
  payloadBytes: number;
  /** Undefined: the client's default. */
  maxInflight?: number;
  /** Clients publishing at once in this process, each `messages` with its own store. */
  clients: number;
  /** restore-fill and restore: the client whose pending messages are restored. */
  clientId?: string;
  /** restore: also connect and time until every restored message completed. */
  drain?: boolean;
  /** soak: how many RSS samples to take. */
  samples?: number;
}

export interface TrialResult {
  messages: number;
  seconds: number;
  msgPerSec: number;
  maxRssKb: number;
  redis?: RedisCost;
  flushed?: boolean;
}

const TOPIC = 'bench/publish';

async function runAsyncClients(spec: TrialSpec, payload: Buffer, tmp: string): Promise<TrialResult> {
  const clients: AsyncClient[] = [];
  for (let i = 0; i < spec.clients; i++) {
    const client = await AsyncClient.create({
      serverURI: spec.serverURI,
      clientId: `bench-${process.pid}-${i}`,
      persistence: makeStore(spec.store as StoreKind, spec.redisUrl, path.join(tmp, `c${i}`)),
    });
    await client.connect({ cleanSession: true, maxInflight: spec.maxInflight });
    clients.push(client);
  }
  const publishAll = (count: number): Promise<unknown> =>
    Promise.all(
      clients.map(async (client) => {
        await publishWindowed(count, spec.window, () => client.publish(TOPIC, payload, { qos: spec.qos }));
        return flushIfSupported(client);
      }),
    );
  await publishAll(spec.warmup);
  const usesRedis = spec.store.startsWith('redis');
  const stats = usesRedis ? new RedisStats(spec.redisUrl) : undefined;
  const before = await stats?.snapshot();
  const started = process.hrtime.bigint();
  const flushed = (await publishAll(spec.messages)) as boolean[];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await stats?.snapshot();
  await stats?.quit();
  for (const client of clients) {
    await client.disconnect({ timeout: 1000 });
    await client.close();
  }
  const total = spec.messages * spec.clients;
  return {
    messages: total,
    seconds,
    msgPerSec: total / seconds,
    maxRssKb: process.resourceUsage().maxRSS,
    redis: before && after ? RedisStats.cost(before, after) : undefined,
    flushed: flushed.every(Boolean),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as TrialSpec;
  const payload = Buffer.alloc(spec.payloadBytes, 0x61);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-trial-'));
  try {
    const clientId = spec.clientId ?? `bench-${process.pid}`;
    const result =
      spec.kind === 'mqttjs'
        ? await (await import('./mqttjs')).runMqttJs(spec, payload, path.join(tmp, 'level')) // only its rows load MQTT.js
        : spec.kind === 'restore-fill'
          ? await restoreFill({ ...spec, clientId })
          : spec.kind === 'restore'
            ? await restore({ ...spec, clientId })
            : spec.kind === 'soak'
              ? await soak({ ...spec, samples: spec.samples ?? 20 })
              : await runAsyncClients(spec, payload, tmp);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] !== undefined)
  main().catch((error: unknown) => {
    process.stderr.write(`trial failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
