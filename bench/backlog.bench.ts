/**
 * The offline backlog, one run, side by side (docs/benchmarks-backlog.md):
 *   npm run bench:backlog [-- --quick] [-- flags]
 * Each contender buffers N QoS 1 messages while its broker is down (the port refuses connections),
 * then the broker comes back and the drain is timed to the last message a subscriber receives
 * (each message checked once, in order). Sizes: --sizes, then doubling for every contender whose
 * trial (buffering, and drain) stayed within --budget seconds; one past it stops growing.
 * Contenders: Paho C (bench/backlog/paho-offline.c) with no persistence and its file store;
 * AsyncClient publish() with sendWhileDisconnected on 'none', { dir } and RedisPersistence
 * 'batched' (a Redis of the run's own, AOF on, appendfsync everysec, as a gateway runs it);
 * MQTT.js 5 offline in memory and with mqtt-level-store; AsyncClient enqueue() when the build has
 * it (--million adds the 1M-message outbox figures). Writes table.md, results.json and
 * chart.svg/.png to --out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncClient } from '../src';
import { startRedis } from '../test/helpers/servers';
import { runMillion, formatMillion } from './backlog/million';
import { buildPahoOffline } from './backlog/paho-c';
import { formatTable, renderChart, type BacklogRow } from './backlog/report';
import { CONTENDERS, type Contender } from './backlog/spec';
import { runBacklogTrial } from './backlog/trial';
import { benchArgs } from './bench-args';

const flags = benchArgs(
  'The offline backlog: buffer N messages while the broker is down, then time the drain; docs/benchmarks-backlog.md.',
  {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    'max-size': { type: 'string', default: '1000000' },
    budget: { type: 'string' },
    payload: { type: 'string', default: '256' },
    'max-inflight': { type: 'string', default: '65535' },
    only: { type: 'string' },
    idle: { type: 'string', default: '15' },
    million: { type: 'boolean', default: false },
    'million-messages': { type: 'string', default: '1000000' },
    out: { type: 'string' },
  },
  {
    quick: 'a short run: sizes 500,2000, budget 20 s, results under out/',
    sizes: 'backlog sizes to start with, comma-separated (default: 5000,20000,40000; 500,2000 with --quick)',
    'max-size': 'the largest backlog any contender grows to',
    budget: 'seconds a trial may take before its contender stops growing (default: 120; 20 with --quick)',
    payload: 'payload bytes',
    'max-inflight': 'maxInflight of every client',
    only: 'contenders to run, comma-separated (paho-c-none, paho-c-file, async-none, async-file, async-redis, mqttjs-memory, mqttjs-level, async-enqueue)',
    idle: 'the drain ends once the subscriber sees nothing new for this many seconds',
    million: 'also the 1M-message outbox figures',
    'million-messages': 'messages in the --million run',
    out: 'directory for table.md and results.json (default: bench/results/backlog; out/bench-results/backlog with --quick)',
  },
);
const quick = flags.quick;
const sizes = (flags.sizes ?? (quick ? '500,2000' : '5000,20000,40000')).split(',').map(Number);
const maxSize = Number(flags['max-size']);
const budgetSeconds = Number(flags.budget ?? (quick ? 20 : 120));
const payloadBytes = Number(flags.payload);
const maxInflight = Number(flags['max-inflight']);
const idleSeconds = Number(flags.idle);
const outDir = path.resolve(flags.out ?? (quick ? 'out/bench-results/backlog' : 'bench/results/backlog'));
const BASELINE = 'paho-c-none';

if (![256, 1024].includes(payloadBytes) && !quick)
  console.error(`note: payload ${payloadBytes} B (the targets use 256 B)`);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || payloadBytes < 4)
  throw new Error('--sizes: positive integers; --payload: at least 4');

const hasEnqueue = typeof (AsyncClient.prototype as unknown as { enqueue?: unknown }).enqueue === 'function';
const wanted = flags.only?.split(',');
const contenders = CONTENDERS.filter((c) => wanted === undefined || wanted.includes(c.kind)).filter(
  (c) => c.kind !== 'async-enqueue' || hasEnqueue,
);
const notes: string[] = [];
if (!hasEnqueue)
  notes.push('AsyncClient.enqueue() is not in this build: its row is skipped (it runs once the outbox lands).');

/** The commit measured (a dirty tree is marked). */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} (with local changes)` : head;
  } catch {
    return undefined;
  }
}

/** The sizes in the order they run: the listed ones, then doubling up to --max-size. */
function* sizeSequence(): Generator<number> {
  yield* sizes;
  for (let n = sizes[sizes.length - 1] * 2; n <= maxSize; n *= 2) yield n;
}

async function runSizes(redisUrl: string): Promise<BacklogRow[]> {
  const rows: BacklogRow[] = [];
  let active: Contender[] = [...contenders];
  for (const messages of sizeSequence()) {
    if (active.length === 0) break;
    for (const contender of active) {
      const spec = {
        kind: contender.kind,
        serverURI: '', // the trial's own broker
        redisUrl,
        clientId: `bench-backlog-${contender.kind}-${messages}-${process.pid}`,
        topic: `bench/backlog/${contender.kind}/${messages}`,
        messages,
        payloadBytes,
        maxInflight,
        window: 1000,
      };
      const outcome = await runBacklogTrial({ spec, budgetSeconds, idleSeconds }, contender.redis);
      rows.push({ contender, outcome });
      const d = outcome.delivery;
      console.error(
        `  ${contender.label.padEnd(40)} ${String(messages).padStart(8)}: buffer ${outcome.bufferSeconds?.toFixed(2) ?? '-'} s, RSS +${((outcome.rssGrowthKb ?? 0) / 1024).toFixed(0)} MB, drain ${outcome.drainSeconds?.toFixed(2) ?? '-'} s, delivered ${d?.delivered ?? '-'} (out of order ${d?.outOfOrder ?? '-'}, duplicates ${d?.duplicates ?? '-'})${outcome.stoppedIn ? `, stopped in ${outcome.stoppedIn}` : ''}${outcome.error ? `: ${outcome.error.split('\n')[0]}` : ''}  (load ${os.loadavg()[0].toFixed(2)})`,
      );
    }
    active = active.filter((c) => {
      const o = rows.find((r) => r.contender === c && r.outcome.messages === messages)!.outcome;
      const total = (o.bufferSeconds ?? Infinity) + (o.drainSeconds ?? Infinity);
      return o.stoppedIn === undefined && total <= budgetSeconds;
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const commit = gitCommit(); // at the start: files edited during the run are not what it measured
  const loadAtStart = os.loadavg().map((l) => l.toFixed(2));
  if (contenders.some((c) => c.kind.startsWith('paho-c'))) buildPahoOffline();
  // As a gateway runs Redis: AOF on, fsync once a second.
  const redis = await startRedis({ aof: true, args: ['--appendfsync', 'everysec'] });
  console.error(
    `backlog bench: sizes ${sizes.join(', ')} then doubling, ${budgetSeconds} s budget per phase, QoS 1, ${payloadBytes} B, maxInflight ${maxInflight} for the drain; load ${loadAtStart[0]}`,
  );
  const rows = await runSizes(redis.url);
  const million = flags.million
    ? hasEnqueue
      ? await runMillion({
          redis,
          payloadBytes,
          maxInflight,
          budgetSeconds,
          messages: Number(flags['million-messages']),
        })
      : (notes.push('--million needs AsyncClient.enqueue(): skipped.'), undefined)
    : undefined;
  await redis.stop();

  const heading = `QoS 1, ${payloadBytes} B payload, broker down while buffering, maxInflight ${maxInflight} for the drain, budget ${budgetSeconds} s per phase; commit ${commit ?? '?'}; ${startedAt.toISOString().slice(0, 16)}Z, load ${loadAtStart.join(' ')} -> ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${os.cpus().length} CPUs, Node ${process.version}`;
  const table = formatTable(rows, BASELINE);
  const text = [
    heading,
    '',
    table,
    '',
    `"vs baseline": time per message against ${CONTENDERS.find((c) => c.kind === BASELINE)!.label} at the same size in this run.`,
    ...notes.map((n) => `- ${n}`),
    ...(million ? ['', formatMillion(million)] : []),
  ].join('\n');
  console.log(`\n${text}\n`);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'table.md'), `${text}\n`);
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ heading, rows, million, notes }, null, 2));
  await renderChart(
    rows,
    'Offline backlog: buffering N QoS 1 messages with the broker down',
    heading.split(';')[0],
    path.join(outDir, 'chart'),
  );
  console.error(`written: ${outDir}/{table.md,results.json,chart.svg,chart.png}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
