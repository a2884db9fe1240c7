/**
 * What appendfsync costs the outbox (not a test, not the benchmark table): client.enqueue() into a
 * Redis of its own with AOF on, `appendfsync everysec` against `always`, in alternating rounds
 * (ratios within one run, never absolute numbers across machines). Two ways to enqueue:
 *   burst       BURST enqueue() calls in flight (the client groups them: one MULTI of XADDs each)
 *   sequential  one enqueue() at a time, each awaited (one fsync per message with `always`)
 * Per message: the bytes the AOF grows by (enqueue; drain to a broker: the moves into Paho's
 * records, the sends, the acknowledgements), and Redis' write_bytes from /proc/<pid>/io (page
 * cache pages dirtied: what reaches the disk; with `always` each fsync makes the next write dirty
 * a page again).
 *   npm run build:test && node out/bench/aof-fsync.js [N=20000] [payload=256] [rounds=3]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AsyncClient, RedisPersistence } from '../src';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../test/helpers/servers';

const BURST = 2000;
const SEQUENTIAL = 2000;
const POLICIES = ['everysec', 'always'] as const;
type Policy = (typeof POLICIES)[number];

/** Bytes Redis caused to be written to storage (pages dirtied), from /proc/<pid>/io. */
function diskWrites(redis: RedisServer): number {
  return Number(/^write_bytes: (\d+)/m.exec(fs.readFileSync(`/proc/${redis.pid}/io`, 'latin1'))![1]);
}

/** Bytes in the AOF directory (base + incr files + manifest). */
function aofBytes(redis: RedisServer): number {
  const dir = path.join(redis.dir, 'appendonlydir');
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

async function enqueueRates(
  redis: RedisServer,
  broker: MosquittoServer,
  round: number,
  total: number,
  payload: Buffer,
): Promise<{
  burst: number;
  sequential: number;
  enqueueBytes: number;
  drainBytes: number;
  burstDisk: number;
  sequentialDisk: number;
}> {
  const client = await AsyncClient.create({
    serverURI: broker.url,
    clientId: `aof-bench-${round}`,
    persistence: new RedisPersistence({ url: redis.url }),
    maxBufferedMessages: 1000,
    outbox: { window: 100 },
  });
  const topic = 'bench/aof/fsync';
  const bytesBefore = aofBytes(redis);
  const diskBefore = diskWrites(redis);
  let started = process.hrtime.bigint();
  for (let sent = 0; sent < total;) {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < BURST && sent < total; i++, sent++) pending.push(client.enqueue(topic, payload, { qos: 1 }));
    await Promise.all(pending);
  }
  const burst = total / (Number(process.hrtime.bigint() - started) / 1e9);
  const diskBetween = diskWrites(redis);
  started = process.hrtime.bigint();
  for (let i = 0; i < SEQUENTIAL; i++) await client.enqueue(topic, payload, { qos: 1 });
  const sequential = SEQUENTIAL / (Number(process.hrtime.bigint() - started) / 1e9);
  await new Promise((r) => setTimeout(r, 1100)); // everysec's last write-out
  const burstDisk = (diskBetween - diskBefore) / total;
  const sequentialDisk = (diskWrites(redis) - diskBetween) / SEQUENTIAL;
  const messages = total + SEQUENTIAL;
  const enqueueBytes = (aofBytes(redis) - bytesBefore) / messages;

  // Not connected yet (no sendWhileDisconnected): the pump waits, so the outbox holds everything.
  const drainFrom = aofBytes(redis);
  let delivered = 0;
  client.on('delivered', () => (delivered += 1));
  await client.connect({ maxInflight: 100 });
  while (delivered < messages) await new Promise((r) => setTimeout(r, 20));
  await client.close();
  const drainBytes = (aofBytes(redis) - drainFrom) / messages;
  return { burst, sequential, enqueueBytes, drainBytes, burstDisk, sequentialDisk };
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 20_000);
  const size = Number(process.argv[3] ?? 256);
  const rounds = Number(process.argv[4] ?? 3);
  const payload = Buffer.alloc(size, 7);
  const broker = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  const servers = new Map<Policy, RedisServer>();
  for (const policy of POLICIES) {
    servers.set(
      policy,
      await startRedis({
        args: ['--appendonly', 'yes', '--appendfsync', policy, '--auto-aof-rewrite-percentage', '0'],
      }),
    );
  }
  const results = new Map<Policy, Array<Awaited<ReturnType<typeof enqueueRates>>>>(POLICIES.map((p) => [p, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const policy of round % 2 === 0 ? POLICIES : [...POLICIES].reverse()) {
        const r = await enqueueRates(servers.get(policy)!, broker, round, total, payload);
        results.get(policy)!.push(r);
        console.log(
          `round ${round + 1} ${policy.padEnd(8)} burst ${r.burst.toFixed(0)} msg/s, sequential ${r.sequential.toFixed(0)} msg/s, ` +
            `AOF ${r.enqueueBytes.toFixed(0)} B/msg enqueued + ${r.drainBytes.toFixed(0)} B/msg drained; ` +
            `disk writes ${r.burstDisk.toFixed(0)} B/msg burst, ${r.sequentialDisk.toFixed(0)} B/msg sequential`,
        );
      }
    }
  } finally {
    await Promise.all([broker.stop(), ...[...servers.values()].map((s) => s.stop())]);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const of = (policy: Policy, pick: (r: Awaited<ReturnType<typeof enqueueRates>>) => number): number =>
    median(results.get(policy)!.map(pick));
  for (const kind of ['burst', 'sequential', 'burstDisk', 'sequentialDisk'] as const) {
    const [everysec, always] = POLICIES.map((p) => of(p, (r) => r[kind]));
    console.log(
      `${kind}: everysec ${everysec.toFixed(0)}, always ${always.toFixed(0)} ${kind.endsWith('Disk') ? 'B/msg' : 'msg/s'} (medians of ${rounds}); ` +
        `always / everysec = ${(always / everysec).toFixed(2)}`,
    );
  }
  console.log(`${total} burst + ${SEQUENTIAL} sequential messages of ${size} B per round`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
