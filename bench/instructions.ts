/**
 * Instructions per published message, a figure the machine's load does not move (docs/benchmarks-instructions.md):
 *   npm run bench:instructions [-- --messages 20000 --qos 1,2 --stores none,memory,redis-batched]
 * Each row is a child process under `valgrind --tool=callgrind` with instrumentation off until the
 * client is connected and warmed up; the parent turns it on (callgrind_control) for exactly the
 * publish of `messages` (100 outstanding, 64 B, maxInflight 100) and the flush that ends it, then off.
 * Counted: every thread of the Node process (JS, Paho's threads, the bridge), not the broker or Redis.
 * Batches and absorbed writes depend on timing, which valgrind changes: they are printed from the
 * same run. Servers: the run's own mosquitto and Redis.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { AsyncClient } from '../src';
import { startMosquitto, startRedis } from '../test/helpers/servers';
import { flushIfSupported, makeStore, publishWindowed, type StoreKind } from './publish/stores';
import { benchArgs } from './bench-args';

interface ChildSpec {
  serverURI: string;
  redisUrl: string;
  store: StoreKind;
  qos: 1 | 2;
  messages: number;
}

interface ChildResult {
  /** Bridge counters over the measured phase (absent for 'none'). */
  batches?: number;
  opsLogged?: number;
  opsAbsorbed?: number;
  opsWritten?: number;
  barrierWaits?: number;
  /** The most batches in flight at once (since create). */
  batchesInFlightPeak?: number;
}

const WINDOW = 100;
const PAYLOAD_BYTES = 64;
const WARMUP = 500;

/** The child: connects, warms up, says 'ready', waits for 'go', publishes, flushes, says 'done'. */
async function child(spec: ChildSpec): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-instr-'));
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: `instr-${process.pid}`,
    persistence: makeStore(spec.store, spec.redisUrl, tmp),
  });
  await client.connect({ cleanSession: true, maxInflight: 100 });
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  const publishAll = async (count: number): Promise<void> => {
    await publishWindowed(count, WINDOW, () => client.publish('bench/instructions', payload, { qos: spec.qos }));
    await flushIfSupported(client);
  };
  await publishAll(WARMUP);
  const commands = createInterface({ input: process.stdin });
  const lines = commands[Symbol.asyncIterator]();
  const before = client.stats().store;
  process.stdout.write('ready\n');
  await lines.next(); // 'go': instrumentation is on
  await publishAll(spec.messages);
  const after = client.stats().store;
  process.stdout.write('done\n');
  await lines.next(); // instrumentation is off again
  commands.close();
  process.stdin.destroy(); // else the open pipe keeps the process alive
  const delta = (name: string): number | undefined =>
    before && after && name in after ? after[name] - (before[name] ?? 0) : undefined;
  const result: ChildResult = {
    batches: delta('batches'),
    opsLogged: delta('opsLogged'),
    opsAbsorbed: delta('opsAbsorbed'),
    opsWritten: delta('opsWritten'),
    barrierWaits: delta('barrierWaits'),
    batchesInFlightPeak: after?.batchesInFlightPeak,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await client.disconnect({ timeout: 1000 });
  await client.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** Runs one child under callgrind; resolves with its instructions in the measured phase and its counters. */
async function measure(spec: ChildSpec, outDir: string): Promise<{ instructions: number; result: ChildResult }> {
  const outFile = path.join(outDir, `callgrind.${spec.store}.qos${spec.qos}.out`);
  const proc = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${outFile}`,
      process.execPath,
      __filename,
      '--child',
      JSON.stringify(spec),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) =>
    proc.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`child exited with ${code ?? signal}: ${stderr.slice(-2000)}`)),
    ),
  );
  const instrument = (on: boolean): void => {
    execFileSync('callgrind_control', [`--instr=${on ? 'on' : 'off'}`, String(proc.pid)], { stdio: 'ignore' });
  };
  let result: ChildResult | undefined;
  for await (const line of createInterface({ input: proc.stdout })) {
    process.stderr.write(`  ${spec.store} QoS ${spec.qos}: ${line}\n`); // progress: valgrind is slow
    if (line === 'ready') {
      instrument(true);
      proc.stdin.write('go\n');
    } else if (line === 'done') {
      instrument(false);
      proc.stdin.end('off\n');
    } else if (line.startsWith('{')) result = JSON.parse(line) as ChildResult;
  }
  await exited;
  const summary = /^totals: (\d+)/m.exec(fs.readFileSync(outFile, 'utf8'));
  if (!summary || !result) throw new Error(`no callgrind totals or result for ${spec.store} QoS ${spec.qos}`);
  return { instructions: Number(summary[1]), result };
}

async function main(): Promise<void> {
  const flags = benchArgs(
    'Instructions per published message under callgrind; docs/benchmarks-instructions.md.',
    {
      messages: { type: 'string', default: '20000' },
      qos: { type: 'string', default: '1,2' },
      stores: { type: 'string', default: 'none,memory,redis-batched' },
      out: { type: 'string', default: path.join(os.tmpdir(), 'pmr-bench-instructions') },
    },
    {
      messages: 'messages per row',
      qos: 'QoS levels, comma-separated',
      stores: 'stores, comma-separated (none, file, memory, redis, redis-batched, redis-sync)',
      out: 'directory for the callgrind files',
    },
  );
  const messages = Number(flags.messages);
  const stores = flags.stores.split(',') as StoreKind[];
  const qosList = flags.qos.split(',').map((q) => Number(q) as 1 | 2);
  fs.mkdirSync(flags.out, { recursive: true });
  const broker = await startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 1000000' });
  const redis = await startRedis();
  console.log(`instructions per message: ${messages} x ${PAYLOAD_BYTES} B, ${WINDOW} outstanding, maxInflight 100`);
  console.log(
    '| store | QoS | instructions/message | batches | writes logged | absorbed | written | barrier waits | batches in flight (peak) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  try {
    for (const qos of qosList)
      for (const store of stores) {
        const spec: ChildSpec = { serverURI: broker.url, redisUrl: redis.url, store, qos, messages };
        const { instructions, result } = await measure(spec, flags.out);
        const cell = (n: number | undefined): string => (n === undefined ? '-' : n.toLocaleString('en-US'));
        console.log(
          `| ${store} | ${qos} | ${Math.round(instructions / messages).toLocaleString('en-US')} | ${cell(result.batches)} | ${cell(result.opsLogged)} | ${cell(result.opsAbsorbed)} | ${cell(result.opsWritten)} | ${cell(result.barrierWaits)} | ${cell(result.batchesInFlightPeak)} |`,
        );
      }
  } finally {
    await broker.stop();
    await redis.stop();
  }
}

const run = process.argv[2] === '--child' ? child(JSON.parse(process.argv[3]) as ChildSpec) : main();
run.catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
