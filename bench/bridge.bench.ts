/**
 * Latency of one Paho persistence callback through the bridge (C thread -> JS -> C thread),
 * measured in one run:
 *   floor    two JS worker threads ping-ponging with Atomics.wait/notify (two thread
 *            wake-ups, no N-API): what this machine charges for any blocking round trip
 *   memory   runStress with MemoryPersistence, 1 and 4 C threads
 *   redis    runStress with RedisPersistence, 1 and 4 C threads
 *   ioredis  plain JS, no native: an awaited HSET loop, and the same op mix as runStress
 * Ratios are against the plain ioredis HSET loop (and the same-mix loop).
 *
 *   node out/bench/bridge.bench.js [--iterations 20000] [--redis-iterations 5000]
 *        [--repeat 3] [--shared] [--pin 0]
 * --shared uses the Redis on 127.0.0.1:6379 (a hash per run, deleted at the end);
 * by default a throwaway redis-server. --pin N moves every thread of the bench (not Redis)
 * to CPU N with `taskset -a -p`:
 * on a VM where idle vCPUs halt, a wake-up that crosses vCPUs costs tens of µs, so
 * unpinned medians flip between two modes from run to run; pinning shows the other one.
 * Each native figure is the median over --repeat runs (min..max of the run medians shown).
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import Redis from 'ioredis';
import { testDriver } from '../test/helpers/test-driver';
import { StoreBridge } from '../src/persistence/bridge/store-bridge';
import { MemoryPersistence } from '../src/persistence/memory';
import { RedisPersistence } from '../src/persistence/redis/redis-persistence';
import type { ClientPersistence } from '../src/persistence/client-persistence';
import { startRedis, type RedisServer } from '../test/helpers/servers';
import { benchArgs } from './bench-args';

interface Row {
  name: string;
  threads: number;
  calls: number;
  medianUs: number;
  p99Us: number;
  spreadUs?: [number, number];
  opsPerSec: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const round = (x: number): number => Math.round(x * 10) / 10;

/** Two worker threads ping-pong through a SharedArrayBuffer: the cost of two wake-ups. */
async function wakeFloor(iterations: number): Promise<Row> {
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const server = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    const a = workerData;
    for (;;) {
      Atomics.wait(a, 0, 0);
      if (Atomics.load(a, 1) === 1) break;
      Atomics.store(a, 0, 0);
      Atomics.notify(a, 0);
    }`,
    { eval: true, workerData: shared },
  );
  const client = new Worker(
    `
    const { workerData, parentPort } = require('node:worker_threads');
    const { a, n } = workerData;
    const lat = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      Atomics.store(a, 0, 1);
      Atomics.notify(a, 0);
      while (Atomics.load(a, 0) === 1) Atomics.wait(a, 0, 1);
      lat[i] = (performance.now() - t) * 1000;
    }
    parentPort.postMessage(lat);`,
    { eval: true, workerData: { a: shared, n: iterations } },
  );
  const started = performance.now();
  const lat = await new Promise<Float64Array>((resolve, reject) => {
    client.once('message', resolve);
    client.once('error', reject);
  });
  const seconds = (performance.now() - started) / 1000;
  Atomics.store(shared, 1, 1);
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
  await Promise.all([server.terminate(), client.terminate()]);
  const sorted = [...lat].sort((x, y) => x - y);
  return {
    name: 'floor: thread ping-pong (Atomics)',
    threads: 1,
    calls: iterations,
    medianUs: quantile(sorted, 0.5),
    p99Us: quantile(sorted, 0.99),
    opsPerSec: iterations / seconds,
  };
}

/** runStress `repeat` times on a fresh bridge; the row shows the median of the run medians. */
async function bridged(
  name: string,
  make: () => ClientPersistence,
  threads: number,
  iterations: number,
  repeat: number,
  clientId: string,
): Promise<Row> {
  const runs: Array<{ medianUs: number; p99Us: number; calls: number; opsPerSec: number }> = [];
  for (let r = 0; r < repeat; r++) {
    const store = make();
    const failures: string[] = [];
    const bridge = new StoreBridge(store, { onFailure: (e) => failures.push(`${e.code} ${e.message}`) });
    const started = performance.now();
    const s = await testDriver.runStress(bridge.native, {
      threads,
      iterations,
      clientId,
      serverURI: 'tcp://127.0.0.1:1883',
    });
    const seconds = (performance.now() - started) / 1000;
    bridge.close();
    await store.close();
    if (s.failures > 0 || failures.length > 0) {
      throw new Error(
        `${name}: ${s.failures} failed calls (${s.problems.join('; ')}) ${failures.slice(0, 3).join('; ')}`,
      );
    }
    runs.push({ medianUs: s.medianUs, p99Us: s.p99Us, calls: s.calls, opsPerSec: s.calls / seconds });
  }
  const medians = runs.map((x) => x.medianUs);
  return {
    name,
    threads,
    calls: runs[0].calls,
    medianUs: median(medians),
    p99Us: median(runs.map((x) => x.p99Us)),
    spreadUs: [Math.min(...medians), Math.max(...medians)],
    opsPerSec: median(runs.map((x) => x.opsPerSec)),
  };
}

/** Plain JS, no native code: awaited ioredis calls on one connection. */
async function plainRedis(url: string, hash: string, iterations: number, mix: boolean): Promise<Row> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const lat: number[] = [];
  const data = Buffer.alloc(48, 0x61);
  const timed = async (fn: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await fn();
    lat.push((performance.now() - t) * 1000);
  };
  try {
    await redis.ping();
    const started = performance.now();
    for (let cycle = 0; lat.length < iterations; cycle++) {
      const key = `s-${cycle % 100000}`;
      await timed(() => redis.hset(hash, key, data));
      if (!mix) continue;
      await timed(() => redis.hgetBuffer(hash, key));
      await timed(() => redis.hexists(hash, key));
      if (cycle % 20 === 0) await timed(() => redis.hkeys(hash));
      await timed(() => redis.hdel(hash, key));
      await timed(() => redis.hexists(hash, key));
    }
    const seconds = (performance.now() - started) / 1000;
    await redis.del(hash);
    lat.sort((a, b) => a - b);
    return {
      name: mix ? 'plain ioredis, same op mix' : 'plain ioredis HSET loop (baseline)',
      threads: 1,
      calls: lat.length,
      medianUs: quantile(lat, 0.5),
      p99Us: quantile(lat, 0.99),
      opsPerSec: lat.length / seconds,
    };
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const values = benchArgs(
    'Latency of one persistence callback through the bridge (C thread -> JS -> C thread).',
    {
      iterations: { type: 'string', default: '20000' },
      'redis-iterations': { type: 'string', default: '5000' },
      repeat: { type: 'string', default: '3' },
      shared: { type: 'boolean', default: false },
      pin: { type: 'string' },
    },
    {
      iterations: 'calls per MemoryPersistence pass',
      'redis-iterations': 'calls per RedisPersistence and ioredis pass',
      repeat: 'passes of each row',
      shared: "use the shared Redis at 127.0.0.1:6379 instead of the run's own",
      pin: 'CPU list for taskset (e.g. 0)',
    },
  );
  const iterations = Number(values.iterations);
  const redisIterations = Number(values['redis-iterations']);
  const repeat = Number(values.repeat);
  if (![iterations, redisIterations, repeat].every((n) => Number.isInteger(n) && n > 0))
    throw new RangeError('--iterations, --redis-iterations and --repeat take positive integers');

  const server: RedisServer | undefined = values.shared ? undefined : await startRedis();
  const url = server?.url ?? 'redis://127.0.0.1:6379';
  if (values.pin !== undefined) {
    // After redis-server started (it keeps every CPU): all of this process's threads, and
    // the threads they create later, run on the one CPU.
    const set = spawnSync('taskset', ['-a', '-p', '-c', values.pin, String(process.pid)], { encoding: 'utf8' });
    if (set.status !== 0) throw new Error(`taskset failed: ${set.stderr || set.error?.message}`);
  }
  const tag = `pmr-bench-${process.pid}`;
  const rows: Row[] = [];
  try {
    await bridged('warm-up', () => new MemoryPersistence(), 1, 2000, 1, tag);
    rows.push(await wakeFloor(iterations));
    for (const threads of [1, 4])
      rows.push(
        await bridged('bridge + MemoryPersistence', () => new MemoryPersistence(), threads, iterations, repeat, tag),
      );
    rows.push(await plainRedis(url, `${tag}:plain`, redisIterations, false));
    rows.push(await plainRedis(url, `${tag}:mix`, redisIterations, true));
    const redisStore = (): RedisPersistence => new RedisPersistence({ url, operationTimeoutMs: 5000 });
    for (const threads of [1, 4])
      rows.push(
        await bridged(
          'bridge + RedisPersistence',
          redisStore,
          threads,
          Math.ceil(redisIterations / threads),
          repeat,
          tag,
        ),
      );
  } finally {
    await server?.stop();
  }

  const hset = rows.find((r) => r.name.includes('HSET'))!;
  const mix = rows.find((r) => r.name.includes('same op mix'))!;
  const pinned = values.pin;
  console.log(
    `bridge round trip per persistence callback, µs (node ${process.version}, ${os.cpus().length} CPUs, ` +
      `${pinned !== undefined ? `pinned to CPU ${pinned}` : 'unpinned'}, load ${os.loadavg()[0].toFixed(2)}, redis ${server ? 'throwaway' : 'shared :6379'})`,
  );
  console.log(
    'what                                 thr  calls    median    p99      ops/s    median/HSET  median/mix  run medians',
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(36)} ${String(r.threads).padEnd(4)} ${String(r.calls).padEnd(8)} ${round(r.medianUs).toFixed(1).padStart(7)}  ${round(r.p99Us).toFixed(1).padStart(7)}  ${String(Math.round(r.opsPerSec)).padStart(8)}  ` +
        `${(r.medianUs / hset.medianUs).toFixed(2).padStart(10)}  ${(r.medianUs / mix.medianUs).toFixed(2).padStart(10)}  ` +
        `${r.spreadUs ? `${round(r.spreadUs[0])}..${round(r.spreadUs[1])}` : ''}`,
    );
  }
  console.log(
    'runStress mix per cycle: put, get, containsKey, remove, containsKey (+ keys every 20th); gets of c- keys are answered by the native key ledger.',
  );
  console.log(
    JSON.stringify({
      bench: 'bridge',
      node: process.version,
      cpus: os.cpus().length,
      pinned: pinned ?? null,
      shared: Boolean(values.shared),
      iterations,
      redisIterations,
      repeat,
      rows: rows.map((r) => ({
        ...r,
        medianUs: round(r.medianUs),
        p99Us: round(r.p99Us),
        opsPerSec: Math.round(r.opsPerSec),
        ratioVsHset: Number((r.medianUs / hset.medianUs).toFixed(3)),
        ratioVsMix: Number((r.medianUs / mix.medianUs).toFixed(3)),
      })),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
