/**
 * Publish throughput, one run (docs/benchmarks.md):
 *   npm run bench:publish [-- --quick] [-- flags]
 * Rows: Paho C (bench/paho-publish.c) without persistence, with its file store and with stores
 * written in C (bench/paho-user-store.h: in memory; Redis, every write waited; Redis, only the QoS 2
 * barrier waited); AsyncClient with 'none', { dir }, MemoryPersistence, RedisPersistence ('batched'
 * and 'sync' when the build has the durability option, else as is); MQTT.js 5 in memory and with
 * mqtt-level-store 3. QoS 1 and 2, at the default maxInflight and at 100. Every trial runs in a
 * process of its own, against the run's own mosquitto and Redis; repetitions are interleaved so
 * that load spreads over all rows.
 * Then the other targets: N clients on one Redis, restore of pending messages, and (--soak) RSS
 * over a long run. Writes results.json, chart.svg/.png and table.md to --out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMosquitto, startRedis } from '../test/helpers/servers';
import { benchArgs } from './bench-args';
import { renderChart } from './publish/chart';
import { buildPahoPublisher, runPahoC, type PahoTrialSpec } from './publish/paho-c';
import { evaluateTargets, formatTable, formatTargets, median, toRow, type Publisher, type Row } from './publish/report';
import { runClients, runRestore, runSoak } from './publish/scenario-runs';
import { supportsDurability } from './publish/stores';
import type { TrialResult, TrialSpec } from './publish/trial';
import { runTrial } from './publish/child';

const PAHO_C_DEFAULT_INFLIGHT = 20; // AsyncClient's MQTT 3 default; Paho C's own (65535) is no window at all

const flags = benchArgs(
  'Publish throughput: Paho C, AsyncClient on every store, MQTT.js; docs/benchmarks.md.',
  {
    quick: { type: 'boolean', default: false },
    messages: { type: 'string' },
    repeat: { type: 'string' },
    window: { type: 'string', default: '100' },
    payload: { type: 'string', default: '64' },
    qos: { type: 'string', default: '1,2' },
    'max-inflight': { type: 'string', default: 'default,100' },
    only: { type: 'string' },
    clients: { type: 'string', default: '8' },
    'clients-messages': { type: 'string' },
    'restore-messages': { type: 'string' },
    skip: { type: 'string', default: '' },
    soak: { type: 'boolean', default: false },
    'soak-messages': { type: 'string', default: '1000000' },
    out: { type: 'string' },
  },
  {
    quick: 'a short run: 2,000 messages, 1 repetition, results under out/',
    messages: 'messages per trial (default: 10000; 2000 with --quick)',
    repeat: 'repetitions of every row, interleaved (default: 3; 1 with --quick)',
    window: 'publishes outstanding at once',
    payload: 'payload bytes',
    qos: 'QoS levels to run, comma-separated',
    'max-inflight': "maxInflight values, comma-separated ('default': the client's own)",
    only: 'row ids to run, comma-separated (paho-c-none, paho-c-file, paho-c-memory, paho-c-redis-sync, paho-c-redis-barrier, none, file, memory, redis-batched, redis-sync, mqttjs-memory, mqttjs-level)',
    clients: 'clients in one process for the clients row',
    'clients-messages': 'messages per client in the clients row (default: --messages)',
    'restore-messages': 'pending messages in the restore row (default: 10000; 2000 with --quick)',
    skip: 'parts to skip, comma-separated: matrix, clients, restore',
    soak: 'also measure RSS over a long run',
    'soak-messages': 'messages in the --soak run',
    out: 'directory for results.json, chart and table.md (default: bench/results; out/bench-results with --quick)',
  },
);
const quick = flags.quick;
const messages = Number(flags.messages ?? (quick ? 2000 : 10000));
const repeat = Number(flags.repeat ?? (quick ? 1 : 3));
const window = Number(flags.window);
const payloadBytes = Number(flags.payload);
const warmup = Math.min(500, Math.floor(messages / 10));
const qosList = flags.qos.split(',').map((q) => Number(q) as 1 | 2);
const inflightList = flags['max-inflight'].split(',');
const clientCount = Number(flags.clients);
const clientsMessages = Number(flags['clients-messages'] ?? messages);
const restoreMessages = Number(flags['restore-messages'] ?? (quick ? 2000 : 10000));
const skip = new Set(flags.skip.split(',').filter(Boolean)); // matrix, clients, restore
const outDir = path.resolve(flags.out ?? (quick ? 'out/bench-results' : 'bench/results'));

const durability = supportsDurability();
const batchedId = durability ? 'redis-batched' : 'redis';
const publishers: Publisher[] = [
  { id: 'paho-c-none', label: 'Paho C, no persistence' },
  { id: 'paho-c-file', label: 'Paho C, file store' },
  { id: 'paho-c-memory', label: 'Paho C, in-memory store in C' },
  { id: 'paho-c-redis-sync', label: 'Paho C, Redis, every write waited' },
  { id: 'paho-c-redis-barrier', label: 'Paho C, Redis sc- barrier only' },
  { id: 'none', label: "AsyncClient, 'none'" },
  { id: 'file', label: 'AsyncClient, { dir }' },
  { id: 'memory', label: 'AsyncClient, MemoryPersistence' },
  ...(durability
    ? [
        { id: 'redis-batched', label: "AsyncClient, Redis 'batched'" },
        { id: 'redis-sync', label: "AsyncClient, Redis 'sync'" },
      ]
    : [{ id: 'redis', label: 'AsyncClient, Redis (as is)' }]),
  { id: 'mqttjs-memory', label: 'MQTT.js 5, in-memory store' },
  { id: 'mqttjs-level', label: 'MQTT.js 5 + mqtt-level-store 3' },
].filter((p) => flags.only === undefined || flags.only.split(',').includes(p.id));

interface Servers {
  serverURI: string;
  redisUrl: string;
}

async function measure(servers: Servers, p: Publisher, qos: 1 | 2, mi: string, tmp: string): Promise<TrialResult> {
  const common = { serverURI: servers.serverURI, qos, messages, warmup, window, payloadBytes };
  const maxInflight = mi === 'default' ? undefined : Number(mi);
  if (p.id.startsWith('paho-c')) {
    const fileStoreDir = p.id === 'paho-c-file' ? fs.mkdtempSync(path.join(tmp, 'paho-')) : undefined;
    const userStores: Record<string, PahoTrialSpec['userStore']> = {
      'paho-c-memory': { mode: 'memory' },
      'paho-c-redis-sync': { mode: 'redis-sync', redisUrl: servers.redisUrl },
      'paho-c-redis-barrier': { mode: 'redis-barrier', redisUrl: servers.redisUrl },
    };
    const userStore = userStores[p.id];
    const result = await runPahoC({
      ...common,
      maxInflight: maxInflight ?? PAHO_C_DEFAULT_INFLIGHT,
      fileStoreDir,
      userStore,
    });
    if (fileStoreDir) fs.rmSync(fileStoreDir, { recursive: true, force: true });
    return result;
  }
  const mqttjs = p.id.startsWith('mqttjs');
  const spec: TrialSpec = {
    ...common,
    kind: mqttjs ? 'mqttjs' : 'async-client',
    store: (mqttjs ? p.id.slice('mqttjs-'.length) : p.id) as TrialSpec['store'],
    redisUrl: servers.redisUrl,
    maxInflight,
    clients: 1,
  };
  return runTrial<TrialResult>(spec);
}

/** MQTT.js has no outgoing inflight limit for MQTT 3.1.1: one column ('100' in the rows), labelled so. */
const settingsFor = (p: Publisher): string[] =>
  p.id.startsWith('mqttjs') ? inflightList.filter((m) => m !== 'default').slice(0, 1) : inflightList;

async function runMatrix(servers: Servers, tmp: string): Promise<Row[]> {
  const trials = new Map<string, TrialResult[]>();
  const key = (p: Publisher, qos: number, mi: string): string => `${p.id}|${qos}|${mi}`;
  for (let rep = 1; rep <= repeat; rep++)
    for (const qos of qosList)
      for (const mi of inflightList)
        for (const p of publishers) {
          if (!settingsFor(p).includes(mi)) continue;
          const result = await measure(servers, p, qos, mi, tmp);
          const list = trials.get(key(p, qos, mi)) ?? [];
          list.push(result);
          trials.set(key(p, qos, mi), list);
          console.error(
            `  run ${rep}/${repeat} QoS ${qos} maxInflight ${mi.padEnd(7)} ${p.label.padEnd(32)} ${Math.round(result.msgPerSec)} msg/s  (load ${os.loadavg()[0].toFixed(2)})`,
          );
        }
  const rows: Row[] = [];
  for (const qos of qosList) {
    const reference = trials.get(key({ id: 'paho-c-none', label: '' }, qos, '100'));
    const ref = reference ? median(reference.map((t) => t.msgPerSec)) : undefined;
    for (const mi of inflightList)
      for (const p of publishers) {
        const list = trials.get(key(p, qos, mi));
        if (!list) continue;
        const row = toRow(p, qos, mi, list, ref);
        if (p.id.startsWith('mqttjs')) row.maxInflightLabel = 'unbounded';
        else if (p.id.startsWith('paho-c') && mi === 'default')
          row.maxInflightLabel = `${PAHO_C_DEFAULT_INFLIGHT} (default col.)`;
        rows.push(row);
      }
  }
  return rows;
}

/** The commit measured (a dirty tree is marked), or undefined outside a git checkout. */
function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} (with local changes)` : head;
  } catch {
    return undefined;
  }
}

function describeMachine(): Record<string, unknown> {
  return {
    commit: gitCommit(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const machine = describeMachine();
  buildPahoPublisher();
  // A broker that never drops or throttles: no inflight limit towards clients, a queue deep enough.
  const broker = await startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 1000000' });
  const redis = await startRedis();
  const servers = { serverURI: broker.url, redisUrl: redis.url };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-publish-'));
  console.error(
    `publish bench: ${messages} x ${payloadBytes} B, ${window} outstanding, ${repeat} run(s), RedisPersistence ${durability ? "'batched' and 'sync'" : 'as is (no durability option in this build)'}; load ${os.loadavg()[0].toFixed(2)}`,
  );
  const common = { ...servers, store: batchedId as TrialSpec['store'], payloadBytes, window, repeat };
  try {
    const rows = skip.has('matrix') ? [] : await runMatrix(servers, tmp);
    const clients = skip.has('clients') ? undefined : await runClients(common, clientCount, clientsMessages);
    const restore = skip.has('restore') ? undefined : await runRestore(common, restoreMessages);
    const soak = flags.soak ? await runSoak(common, Number(flags['soak-messages'])) : undefined;
    const targets = evaluateTargets(rows, batchedId, durability ? 'redis-sync' : undefined, {
      clientCount,
      oneClient: clients?.one.median,
      eightClients: clients?.many.median,
      restoreMessages,
      restoreSeconds: restore?.createSeconds.median,
      soakDeviation: soak?.deviation,
      soakMessages: soak?.messages,
    });
    const finishedAt = new Date();
    const loadAtEnd = os.loadavg().map((l) => Number(l.toFixed(2)));
    const heading = `${messages.toLocaleString('en-US')} x ${payloadBytes} B per run, ${window} outstanding, median of ${repeat}; ${startedAt.toISOString().slice(0, 16)}Z, load ${(machine.loadAverageAtStart as number[]).join(' ')} -> ${loadAtEnd.join(' ')}`;
    const table = formatTable(rows);
    const targetTable = formatTargets(targets);
    const scenarioLines = [
      clients &&
        `${clients.clients} clients x ${clients.messagesPerClient} QoS 1 messages on one Redis: ${Math.round(clients.many.median)} msg/s aggregate (${Math.round(clients.many.min)}-${Math.round(clients.many.max)}) vs one client ${Math.round(clients.one.median)} (${Math.round(clients.one.min)}-${Math.round(clients.one.max)}): ${clients.ratio.toFixed(2)}x; peak RSS ${clients.peakRssMb.toFixed(0)} MB`,
      restore &&
        `restore of ${restore.messages} pending QoS 1 messages: create ${restore.createSeconds.median.toFixed(2)} s (${restore.createSeconds.min.toFixed(2)}-${restore.createSeconds.max.toFixed(2)}), Redis at create ${JSON.stringify(restore.redisCommandsAtCreate)}; then (first run) connect and send them all: ${restore.drainSeconds?.toFixed(2)} s`,
      soak &&
        `soak: ${soak.messages} QoS 1 messages at ${Math.round(soak.msgPerSec)} msg/s; RSS ${(soak.baselineRssKb / 1024).toFixed(0)} MB after 10%, max deviation after it ${(soak.deviation * 100).toFixed(1)}%`,
    ]
      .filter(Boolean)
      .map((line) => `- ${line}`);
    const text = [`## Publish throughput\n${heading}\n`, table, '', ...scenarioLines, '', targetTable, ''].join('\n');
    console.log(`\n${text}`);
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'table.md'), text);
    const results = {
      bench: 'publish',
      command: `npm run bench:publish -- ${process.argv.slice(2).join(' ')}`.trim(),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      machine: { ...machine, loadAverageAtEnd: loadAtEnd },
      settings: {
        messages,
        warmup,
        repeat,
        window,
        payloadBytes,
        qos: qosList,
        maxInflight: inflightList,
        durabilityOption: durability,
        pahoCDefaultColumnInflight: PAHO_C_DEFAULT_INFLIGHT,
      },
      rows,
      clients,
      restore,
      soak,
      targets,
    };
    fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    if (rows.length > 0) await renderChart(rows, 'Publish throughput', heading, path.join(outDir, 'chart'));
    console.error(`wrote ${path.join(outDir, 'results.json')}, table.md, chart.svg, chart.png`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await broker.stop();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
