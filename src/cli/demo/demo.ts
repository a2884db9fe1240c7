/**
 * The crash-and-recover demo: a child process publishes a numbered QoS 1 stream with Redis
 * persistence, is killed with SIGKILL mid-stream, and is started again. Paho restores what
 * Redis held and resends it; a subscriber counts what arrived. Lost must be 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { AsyncClient } from '../../client/async-client';
import { findBroker, findRedis } from './servers';
import { decodeRecord } from '../../persistence/records/paho-records';
import { DEFAULT_KEY_PREFIX, hashName } from '../../persistence/redis/options';

export const demoUsage = `Demo options:
  --redis-url URL     Redis to persist to (default: 127.0.0.1:6379 if it answers, else a throwaway redis-server)
  --broker-url URI    MQTT broker (default: tcp://127.0.0.1:1883 if it answers, else a throwaway mosquitto)
  --count N           messages in the stream (default 2000)
  --kill-after N      SIGKILL the publisher after N acknowledgements (default count/3)
  --qos 1|2           QoS of the stream (default 1)
  --json              print the summary as JSON`;

interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface DemoSummary {
  sent: number;
  ackedBeforeCrash: number;
  /** Highest message number flush() confirmed stored in Redis before the kill: all up to it survives. */
  persistedBeforeCrash: number;
  pendingInRedisAtCrash: number;
  pendingByKind: Record<string, number>;
  restoredAtRestart: number;
  redelivered: number;
  received: number;
  lost: number;
  duplicates: number;
  hashEntriesAtEnd: number;
  redis: string;
  broker: string;
}

function publisher(args: string[], onEvent: (event: Record<string, unknown>) => void): ChildProcess {
  const child = spawn(process.execPath, [path.join(__dirname, 'publisher.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      onEvent(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* not ours */
    }
  });
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

export async function runDemo(argv: string[] = process.argv.slice(2), io: Io = process): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'redis-url': { type: 'string' },
      'broker-url': { type: 'string' },
      count: { type: 'string', default: '2000' },
      'kill-after': { type: 'string' },
      qos: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const killAfter = Number(values['kill-after'] ?? Math.floor(count / 3));
  const qos = Number(values.qos);
  if (!Number.isInteger(count) || count < 10) throw new Error('--count must be an integer >= 10');
  if (!Number.isInteger(killAfter) || killAfter < 1 || killAfter >= count)
    throw new Error('--kill-after must be between 1 and count - 1');
  if (qos !== 1 && qos !== 2) throw new Error('--qos must be 1 or 2');

  const redis = await findRedis(values['redis-url']);
  const broker = await findBroker(values['broker-url']);
  const progress = (text: string) =>
    io.stderr.write((process.stderr.isTTY ? '\r' : '') + text + (process.stderr.isTTY ? '' : '\n'));
  io.stderr.write(
    `demo: Redis ${redis.started ? 'started at' : 'at'} ${redis.url.replace(/\/\/[^@]*@/, '//***@')}, ` +
      `broker ${broker.started ? 'started at' : 'at'} ${broker.url}\n`,
  );

  const runId = `${process.pid}-${Date.now()}`;
  const topic = `paho-mqtt-redis/demo/${runId}`;
  const clientId = `demo-publisher-${runId}`;
  const raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await raw.connect();
  const subscriber = await AsyncClient.create({ serverURI: broker.url, clientId: `demo-subscriber-${runId}` });
  const seen = new Map<number, number>();
  subscriber.on('message', (m) => {
    const n = Number(m.payload.toString());
    seen.set(n, (seen.get(n) ?? 0) + 1);
  });
  await subscriber.connect({ cleanSession: true });
  await subscriber.subscribe(topic, { qos: qos });

  let acked = 0;
  let maxAcked = 0;
  let persistedBeforeCrash = 0;
  const common = [
    '--window',
    '100',
    '--broker',
    broker.url,
    '--redis',
    redis.url,
    '--client-id',
    clientId,
    '--topic',
    topic,
    '--qos',
    String(qos),
  ];
  // Run 1: killed with SIGKILL once killAfter messages are acknowledged.
  const first = publisher([...common, '--from', '1', '--to', String(count)], (event) => {
    if (event.event === 'persisted') persistedBeforeCrash = Math.max(persistedBeforeCrash, event.upTo as number);
    if (event.event !== 'ack') return;
    acked++;
    maxAcked = Math.max(maxAcked, event.n as number);
    if (acked % 100 === 0) progress(`demo: run 1: ${acked} acknowledged, ${seen.size} received`);
    if (acked === killAfter) first.kill('SIGKILL');
  });
  await exited(first);
  const ackedBeforeCrash = acked;
  const hashName = await findHash(raw, clientId);
  const pending = hashName ? await raw.hgetallBuffer(hashName) : {};
  const pendingKeys = Object.keys(pending);
  const pendingByKind: Record<string, number> = {};
  // Paho accepts publishes in order, so what it accepted is 1..K: the highest number either
  // acknowledged or still stored. The restarted publisher goes on from K + 1, so Paho's
  // resends are not published a second time.
  let lastAccepted = Math.max(maxAcked, persistedBeforeCrash);
  for (const key of pendingKeys) {
    const record = decodeRecord(key, pending[key]);
    pendingByKind[record.kind] = (pendingByKind[record.kind] ?? 0) + 1;
    const n = Number(record.payload?.toString());
    if (Number.isInteger(n)) lastAccepted = Math.max(lastAccepted, n);
  }
  io.stderr.write(
    `\ndemo: publisher killed (SIGKILL) after ${ackedBeforeCrash} acks; ${pendingKeys.length} entries pending in Redis\n`,
  );

  // Run 2: same clientId and store: Paho restores and resends; the stream resumes after them.
  let restoredAtRestart = 0;
  let redelivered = 0;
  const second = publisher(
    [...common, '--resume', '--from', String(lastAccepted + 1), '--to', String(count)],
    (event) => {
      if (event.event === 'started') restoredAtRestart = event.restored as number;
      if (event.event === 'done') redelivered = event.redelivered as number;
      if (event.event === 'ack' && (event.n as number) % 100 === 0)
        progress(`demo: run 2: up to ${event.n as number}, ${seen.size} received`);
      if (event.event === 'error')
        io.stderr.write(`demo: publisher error ${event.code as string}: ${event.message as string}\n`);
    },
  );
  const code = await exited(second);
  const deadline = Date.now() + 10_000;
  while (seen.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await subscriber.disconnect({ timeout: 1000 });
  await subscriber.close();
  const hashEntriesAtEnd = hashName ? await raw.hlen(hashName) : 0;
  await raw.quit();
  redis.stop();
  broker.stop();

  let duplicates = 0;
  for (const times of seen.values()) duplicates += times - 1;
  const summary: DemoSummary = {
    sent: count,
    ackedBeforeCrash,
    persistedBeforeCrash,
    pendingInRedisAtCrash: pendingKeys.length,
    pendingByKind,
    restoredAtRestart,
    redelivered,
    received: seen.size,
    lost: count - [...seen.keys()].filter((n) => n >= 1 && n <= count).length,
    duplicates,
    hashEntriesAtEnd,
    redis: redis.started ? 'throwaway redis-server' : 'existing',
    broker: broker.started ? 'throwaway mosquitto' : 'existing',
  };
  if (values.json) {
    io.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    io.stdout.write(
      `\n\npaho-mqtt-redis crash-and-recover demo (QoS ${qos}, Redis persistence)\n` +
        `  sent                        ${summary.sent}\n` +
        `  acknowledged before SIGKILL ${summary.ackedBeforeCrash}\n` +
        `  persisted (flush) up to     ${summary.persistedBeforeCrash}\n` +
        `  pending in Redis at crash   ${summary.pendingInRedisAtCrash} ${JSON.stringify(summary.pendingByKind)}\n` +
        `  restored by Paho at restart ${summary.restoredAtRestart}\n` +
        `  redelivered from Redis      ${summary.redelivered}\n` +
        `  received (distinct)         ${summary.received}\n` +
        `  lost                        ${summary.lost}\n` +
        `  duplicates                  ${summary.duplicates}\n` +
        `  Redis hash entries at end   ${summary.hashEntriesAtEnd}\n`,
    );
  }
  return code === 0 && summary.lost === 0 && summary.hashEntriesAtEnd === 0 ? 0 : 1;
}

/** The publisher's hash: `${clientId}:${serverURI}` as Paho names the server. */
async function findHash(raw: Redis, clientId: string): Promise<string | undefined> {
  const [, names] = await raw.scan('0', 'MATCH', hashName(DEFAULT_KEY_PREFIX, clientId, '*'), 'COUNT', 1000);
  return names[0];
}

if (require.main === module) {
  runDemo().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`demo failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
