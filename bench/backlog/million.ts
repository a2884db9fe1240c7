/**
 * The 1M-message outbox figures of the store-and-forward targets (bench/backlog.bench.ts
 * --million, only when the build has AsyncClient.enqueue()): flat cost per 100k slice, RSS,
 * Redis used_memory per message, create() and CONNACK-to-first-PUBLISH with 1M and 1k queued,
 * Redis's AOF load time, the drain of 1M, all against the online 'batched' QoS 1 rate of the run.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { startMosquitto, type RedisServer } from '../../test/helpers/servers';
import { runTrial } from '../publish/child';
import type { TrialResult } from '../publish/trial';
import type { FillResult, MillionChildSpec, RestartResult } from './million-child';
import { sendLine } from './line-signal';
import { OrderedSubscriber, type Delivery } from './subscriber';

export interface MillionOptions {
  redis: RedisServer;
  payloadBytes: number;
  maxInflight: number;
  budgetSeconds: number;
  /** The large backlog (1,000,000; smaller for a smoke test). */
  messages: number;
}

interface QueuedRun {
  messages: number;
  fill: FillResult;
  redisBytesPerMessage: number;
  aofLoad: AofLoad;
  restart: RestartResult;
  /**
   * connect() called -> first PUBLISH at the subscriber: an upper bound of CONNACK -> first
   * PUBLISH (the CONNACK comes after the call; connect() resolves on the JS thread, often after
   * the first PUBLISH already arrived, so it cannot be the start).
   */
  connectToFirstPublishMs?: number;
  /** connect() called -> resolved. */
  connectMs: number;
  delivery: Delivery;
}

export interface MillionResult {
  onlineMsgPerSec: number;
  runs: QueuedRun[];
}

function runChild<T>(spec: MillionChildSpec, timeoutSeconds: number): Promise<T> {
  const child = spawn(process.execPath, [path.join(__dirname, 'million-child.js'), JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // The restart child reads the line once create() returned; the fill child reads nothing.
  if (spec.mode === 'restart') sendLine(child.stdin, 'connect');
  else child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    process.stderr.write(`  [${spec.mode} ${spec.messages}] ${d.toString()}`); // its progress, as it comes
    err = (err + d.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
      else reject(new Error(`million ${spec.mode} exited with ${code ?? signal}: ${err.trim()}`));
    });
  });
}

async function usedMemory(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  } finally {
    redis.disconnect();
  }
}

interface AofLoad {
  /** What the restarted Redis logs: "DB loaded from append only file: X seconds". */
  loggedSeconds?: number;
  /** From its spawn until PING answers other than -LOADING (the helper polls: a few ms coarse). */
  untilPingSeconds: number;
}

/** Stops Redis, starts it again (same port, same AOF) and times the load. */
async function aofLoad(redis: RedisServer): Promise<AofLoad> {
  await redis.stop();
  const started = process.hrtime.bigint();
  await redis.restart();
  const untilPingSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const log = fs.readFileSync(redis.logFile, 'utf8');
  const loads = [...log.matchAll(/DB loaded from (?:append only file|disk): ([0-9.]+) seconds/g)];
  return { loggedSeconds: loads.length > 0 ? Number(loads[loads.length - 1][1]) : undefined, untilPingSeconds };
}

async function queuedRun(opts: MillionOptions, messages: number, brokerPort: number): Promise<QueuedRun> {
  const broker = await startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 0' });
  await broker.stop();
  const spec: MillionChildSpec = {
    mode: 'fill',
    serverURI: broker.url,
    redisUrl: opts.redis.url,
    clientId: `bench-outbox-${messages}-${process.pid}-${brokerPort}`,
    topic: `bench/outbox/${messages}`,
    messages,
    payloadBytes: opts.payloadBytes,
    maxInflight: opts.maxInflight,
    window: 1000,
    slice: Math.max(1, Math.round(messages / 10)), // 100k slices of 1M
  };
  const before = await usedMemory(opts.redis.url);
  const fill = await runChild<FillResult>(spec, opts.budgetSeconds * 10);
  const redisBytesPerMessage = ((await usedMemory(opts.redis.url)) - before) / messages;
  const load = await aofLoad(opts.redis);
  await broker.restart();
  const subscriber = await OrderedSubscriber.start(broker.url, spec.topic, messages);
  try {
    const restart = await runChild<RestartResult>({ ...spec, mode: 'restart' }, opts.budgetSeconds * 10);
    const delivery = await subscriber.settle(15_000, process.hrtime.bigint() + 60_000_000_000n);
    return {
      messages,
      fill,
      redisBytesPerMessage,
      aofLoad: load,
      restart,
      connectToFirstPublishMs:
        delivery.firstWallMs === undefined ? undefined : delivery.firstWallMs - restart.connectCalledWallMs,
      connectMs: restart.connectResolvedWallMs - restart.connectCalledWallMs,
      delivery: { delivered: delivery.delivered, duplicates: delivery.duplicates, outOfOrder: delivery.outOfOrder },
    };
  } finally {
    await subscriber.stop().catch(() => undefined);
    await broker.stop();
  }
}

export async function runMillion(opts: MillionOptions): Promise<MillionResult> {
  const broker = await startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 0' });
  const online = await runTrial<TrialResult>({
    kind: 'async-client',
    store: 'redis-batched',
    serverURI: broker.url,
    redisUrl: opts.redis.url,
    qos: 1,
    messages: 50_000,
    warmup: 1000,
    window: 100, // below maxBufferedMessages (100 by default, a cap while connected too)
    payloadBytes: opts.payloadBytes,
    maxInflight: opts.maxInflight,
    clients: 1,
  });
  await broker.stop();
  const runs: QueuedRun[] = [];
  for (const messages of [1000, opts.messages]) {
    runs.push(await queuedRun(opts, messages, broker.port));
    console.error(`  outbox ${messages}: ${JSON.stringify(runs[runs.length - 1])}`);
  }
  return { onlineMsgPerSec: online.msgPerSec, runs };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The targets' figures as a markdown list, each with its target. */
export function formatMillion(result: MillionResult): string {
  const [small, large] = result.runs;
  const slices = large.fill.slices;
  const first = slices[0];
  const last = slices[slices.length - 1];
  const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
  const rate = large.messages / large.fill.totalSeconds;
  const drainRate = large.messages / large.restart.drainSeconds;
  const online = result.onlineMsgPerSec;
  const ok = (pass: boolean): string => (pass ? 'met' : 'NOT met');
  const firstLarge = large.connectToFirstPublishMs ?? Infinity;
  const firstSmall = small.connectToFirstPublishMs ?? Infinity;
  const lines = [
    `Outbox, ${large.messages.toLocaleString('en-US')} enqueued offline (online 'batched' QoS 1 rate of this run: ${Math.round(online).toLocaleString('en-US')} msg/s):`,
    `- per slice of a tenth (100k of 1M): median ${median(slices.map((s) => s.seconds)).toFixed(2)} s, first ${first.seconds.toFixed(2)} s, last ${last.seconds.toFixed(2)} s (${(last.seconds / first.seconds).toFixed(2)}x; target <= 1.5x: ${ok(last.seconds <= 1.5 * first.seconds)})`,
    `- total ${large.fill.totalSeconds.toFixed(1)} s, ${Math.round(rate).toLocaleString('en-US')} msg/s = ${(rate / online).toFixed(2)}x online (target >= 0.5x: ${ok(rate >= 0.5 * online)})`,
    `- RSS(all) - RSS(first tenth): ${mb(last.rssKb - first.rssKb)} (target <= 16 MB: ${ok(last.rssKb - first.rssKb <= 16 * 1024)}); above the empty client: ${mb(last.rssKb - large.fill.emptyClientRssKb)} (target <= 64 MB: ${ok(last.rssKb - large.fill.emptyClientRssKb <= 64 * 1024)})`,
    `- Redis used_memory per queued message: ${Math.round(large.redisBytesPerMessage)} B`,
    `- create() with all queued: ${(large.restart.createSeconds * 1000).toFixed(0)} ms, with 1k: ${(small.restart.createSeconds * 1000).toFixed(0)} ms (target <= 300 ms: ${ok(large.restart.createSeconds <= 0.3)}; within 1.2x: ${ok(large.restart.createSeconds <= 1.2 * small.restart.createSeconds)})`,
    `- connect() called to the first PUBLISH at the subscriber (CONNACK to first PUBLISH is less) with all queued: ${large.connectToFirstPublishMs ?? '-'} ms, with 1k: ${small.connectToFirstPublishMs ?? '-'} ms (target <= 100 ms: ${ok(firstLarge <= 100)}; within 1.2x: ${ok(firstLarge <= 1.2 * firstSmall)}); connect() resolved after ${large.connectMs} ms and ${small.connectMs} ms`,
    `- Redis loading the AOF with all queued: ${large.aofLoad.loggedSeconds?.toFixed(2) ?? '-'} s logged, ${large.aofLoad.untilPingSeconds.toFixed(2)} s from its start until PING answers (1k: ${small.aofLoad.loggedSeconds?.toFixed(2) ?? '-'} s, ${small.aofLoad.untilPingSeconds.toFixed(2)} s)`,
    `- drain of all: ${large.restart.drainSeconds.toFixed(1)} s, ${Math.round(drainRate).toLocaleString('en-US')} msg/s = ${(drainRate / online).toFixed(2)}x online (target >= 0.5x: ${ok(drainRate >= 0.5 * online)}); delivered ${large.delivery.delivered.toLocaleString('en-US')}, out of order ${large.delivery.outOfOrder}, duplicates ${large.delivery.duplicates}`,
  ];
  return lines.join('\n');
}
