/**
 * The outbox figures of bench/backlog.bench.ts --million, in a process of their own. argv[2] is a
 * MillionChildSpec. 'fill' enqueues `messages` offline (at most `window` not yet durable: no JS
 * object per queued message) and samples the time and RSS of every slice; 'restart' times
 * create() over what is queued, waits for a line on stdin, connects and reports when connect()
 * was called and when it resolved (wall clock, to compare with the subscriber's first arrival:
 * the CONNACK lies between the two) and the end of the drain.
 */
import { AsyncClient } from '../../src';
import { redisPersistence } from '../publish/stores';
import { waitForLine } from './line-signal';
import { numberedPayload } from './spec';

export interface MillionChildSpec {
  mode: 'fill' | 'restart';
  serverURI: string;
  redisUrl: string;
  clientId: string;
  topic: string;
  messages: number;
  payloadBytes: number;
  maxInflight: number;
  window: number;
  /** fill: a sample every this many messages. */
  slice: number;
}

export interface FillResult {
  emptyClientRssKb: number;
  /** One per slice: seconds the slice took, RSS at its end. */
  slices: { seconds: number; rssKb: number }[];
  totalSeconds: number;
}

export interface RestartResult {
  createSeconds: number;
  /** Date.now() just before connect(): the CONNACK comes after it. */
  connectCalledWallMs: number;
  /** Date.now() once connect() resolved: after the CONNACK, and after Paho began sending. */
  connectResolvedWallMs: number;
  drainSeconds: number;
}

interface OutboxClient {
  enqueue(topic: string, payload: Buffer, options: { qos: 1 }): Promise<{ id: unknown }>;
}

const rssKb = (): number => Math.round(process.memoryUsage.rss() / 1024);
const since = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

const create = (spec: MillionChildSpec): Promise<AsyncClient> =>
  AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: spec.clientId,
    persistence: redisPersistence(spec.redisUrl, 'redis-batched'),
  });

async function fill(spec: MillionChildSpec): Promise<FillResult> {
  const client = await create(spec);
  const outbox = client as unknown as OutboxClient;
  const emptyClientRssKb = rssKb();
  let durable = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    durable++;
    wake?.();
  };
  const waitUntil = async (count: number): Promise<void> => {
    while (durable < count && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
  };
  const slices: FillResult['slices'] = [];
  const started = process.hrtime.bigint();
  let sliceStarted = started;
  for (let i = 0; i < spec.messages; i++) {
    if (i - durable >= spec.window) await waitUntil(i - spec.window + 1);
    outbox.enqueue(spec.topic, numberedPayload(i, spec.payloadBytes), { qos: 1 }).then(settled, (error: unknown) => {
      failure ??= error;
      settled();
    });
    if ((i + 1) % spec.slice === 0 || i + 1 === spec.messages) {
      await waitUntil(i + 1);
      slices.push({ seconds: since(sliceStarted), rssKb: rssKb() });
      sliceStarted = process.hrtime.bigint();
    }
  }
  const totalSeconds = since(started);
  await client.close();
  return { emptyClientRssKb, slices, totalSeconds };
}

async function restart(spec: MillionChildSpec): Promise<RestartResult> {
  // The bench writes the line at spawn; the pipe holds it until read. Awaited after create().
  const connectLine = waitForLine('connect');
  connectLine.catch(() => undefined); // a rejection is thrown by the await below, not reported as unhandled
  const started = process.hrtime.bigint();
  const client = await create(spec);
  const createSeconds = since(started);
  process.stderr.write(`created in ${createSeconds.toFixed(3)} s; waiting for the connect line\n`);
  let delivered = 0;
  let done: (() => void) | undefined;
  (client as unknown as NodeJS.EventEmitter).on('delivered', () => {
    if (++delivered >= spec.messages) done?.();
  });
  await connectLine;
  const drainStarted = process.hrtime.bigint();
  const connectCalledWallMs = Date.now();
  await client.connect({ cleanSession: false, maxInflight: spec.maxInflight });
  const connectResolvedWallMs = Date.now();
  // On stderr, which the bench prints if this child has to be stopped: where the drain stands.
  const progress = setInterval(() => {
    process.stderr.write(`delivered ${delivered} of ${spec.messages}; stats ${JSON.stringify(client.stats())}\n`);
  }, 2000);
  if (delivered < spec.messages) await new Promise<void>((resolve) => (done = resolve));
  clearInterval(progress);
  const drainSeconds = since(drainStarted);
  await client.disconnect({ timeout: 1000 });
  await client.close();
  return { createSeconds, connectCalledWallMs, connectResolvedWallMs, drainSeconds };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as MillionChildSpec;
  const result = spec.mode === 'fill' ? await fill(spec) : await restart(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[2] !== undefined)
  main().catch((error: unknown) => {
    process.stderr.write(`million child failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
