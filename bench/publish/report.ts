/**
 * From trials to rows (median and min-max of the runs, ratio to Paho C none of the same run) and
 * to the throughput targets, each with its measured value; plus the text table.
 */
import type { RedisCost } from './redis-stats';
import type { TrialResult } from './trial';

export interface Publisher {
  id: string;
  label: string;
}

export interface Row {
  publisher: string;
  label: string;
  qos: 1 | 2;
  /** 'default' (the client's own) or a number; Paho C's 'default' column runs 20, AsyncClient's. */
  maxInflight: string;
  /** What the maxInflight cell shows when it is not the setting itself (Paho C's 20, MQTT.js's none). */
  maxInflightLabel?: string;
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** median / Paho C none (same QoS, maxInflight 100) of this run. */
  ratioToPahoNone: number | undefined;
  redisCommandsPerMessage?: number;
  redisRoundTripsPerMessage?: number;
  redisCommands?: Record<string, number>;
  peakRssMb: number;
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const perMessage = (cost: RedisCost | undefined, messages: number): number | undefined =>
  cost === undefined ? undefined : cost.commands / messages;

export function toRow(
  publisher: Publisher,
  qos: 1 | 2,
  maxInflight: string,
  trials: TrialResult[],
  reference: number | undefined,
): Row {
  const runs = trials.map((t) => t.msgPerSec);
  const m = median(runs);
  const costs = trials.filter((t) => t.redis !== undefined);
  const row: Row = {
    publisher: publisher.id,
    label: publisher.label,
    qos,
    maxInflight,
    runs: runs.map(Math.round),
    median: Math.round(m),
    min: Math.round(Math.min(...runs)),
    max: Math.round(Math.max(...runs)),
    ratioToPahoNone: reference ? Number((m / reference).toFixed(3)) : undefined,
    peakRssMb: Number((Math.max(...trials.map((t) => t.maxRssKb)) / 1024).toFixed(1)),
  };
  if (costs.length > 0) {
    row.redisCommandsPerMessage = Number(median(costs.map((t) => perMessage(t.redis, t.messages)!)).toFixed(2));
    row.redisRoundTripsPerMessage = Number(median(costs.map((t) => t.redis!.roundTrips / t.messages)).toFixed(2));
    const last = costs[costs.length - 1];
    row.redisCommands = Object.fromEntries(
      Object.entries(last.redis!.byCommand).map(([k, v]) => [k, Number((v / last.messages).toFixed(2))]),
    );
  }
  return row;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export function formatTable(rows: Row[]): string {
  const header = [
    'publisher',
    'QoS',
    'maxInflight',
    'msg/s median',
    'min-max',
    'vs Paho C none',
    'Redis cmd/msg',
    'Redis RT/msg',
    'peak RSS MB',
  ];
  const lines = rows.map((r) => [
    r.label,
    String(r.qos),
    r.maxInflightLabel ?? r.maxInflight,
    fmt(r.median),
    `${fmt(r.min)}-${fmt(r.max)}`,
    r.ratioToPahoNone === undefined ? '' : `${(r.ratioToPahoNone * 100).toFixed(0)}%`,
    r.redisCommandsPerMessage?.toFixed(2) ?? '',
    r.redisRoundTripsPerMessage?.toFixed(2) ?? '',
    r.peakRssMb.toFixed(0),
  ]);
  return markdownTable(header, lines);
}

export function markdownTable(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [row(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...lines.map(row)].join('\n');
}

export interface ScenarioFigures {
  oneClient?: number;
  eightClients?: number;
  clientCount: number;
  restoreSeconds?: number;
  restoreMessages: number;
  soakDeviation?: number;
  soakMessages?: number;
}

/** Every throughput target, each against the rows (maxInflight 100 unless it says default). */
export function evaluateTargets(
  rows: Row[],
  batchedId: string,
  syncId: string | undefined,
  s: ScenarioFigures,
): Target[] {
  const get = (id: string | undefined, qos: 1 | 2, mi = '100'): number | undefined =>
    rows.find((r) => r.publisher === id && r.qos === qos && r.maxInflight === mi)?.median;
  const mqttjsLevel = (qos: 1 | 2): number | undefined =>
    rows.find((r) => r.publisher === 'mqttjs-level' && r.qos === qos)?.median;
  const targets: Target[] = [];
  const ratio = (target: string, a: number | undefined, b: number | undefined, atLeast: number): void => {
    if (a === undefined || b === undefined) {
      targets.push({ target, measured: 'not measured', met: undefined });
      return;
    }
    const x = a / b;
    targets.push({
      target,
      measured: `${x.toFixed(2)}x (${fmt(Math.round(a))} vs ${fmt(Math.round(b))})`,
      met: x >= atLeast,
    });
  };
  const b = batchedId === 'redis' ? 'RedisPersistence as is (no durability option yet)' : "Redis 'batched'";
  ratio(`${b}: QoS 1 >= 0.5x Paho C none`, get(batchedId, 1), get('paho-c-none', 1), 0.5);
  ratio(`${b}: QoS 1 >= 5x Paho C file`, get(batchedId, 1), get('paho-c-file', 1), 5);
  ratio(`${b}: QoS 1 >= 2x MQTT.js + mqtt-level-store`, get(batchedId, 1), mqttjsLevel(1), 2);
  ratio(`${b}: QoS 2 >= 0.25x Paho C none`, get(batchedId, 2), get('paho-c-none', 2), 0.25);
  ratio(`${b}: QoS 2 >= 5x Paho C file`, get(batchedId, 2), get('paho-c-file', 2), 5);
  ratio("Redis 'sync': QoS 1 >= 1x Paho C file", get(syncId, 1), get('paho-c-file', 1), 1);
  ratio(
    "(reference) Redis 'sync': QoS 1 >= 1x Paho C with a Redis store in C (every write waited)",
    get(syncId, 1),
    get('paho-c-redis-sync', 1),
    1,
  );
  for (const qos of [1, 2] as const) {
    ratio(`MemoryPersistence QoS ${qos} >= 0.8x AsyncClient 'none'`, get('memory', qos), get('none', qos), 0.8);
    // The same store in C, at Paho's callbacks: what persistence costs Paho itself, no bridge.
    ratio(
      `(reference) Paho C in-memory store QoS ${qos} >= 0.8x Paho C none`,
      get('paho-c-memory', qos),
      get('paho-c-none', qos),
      0.8,
    );
  }
  // The QoS 2 barrier as a C store pays it, straight from Paho's receive thread: the most any store keeping it reaches.
  ratio(
    `(reference) Paho C, Redis sc- barrier only: QoS 2 >= 0.25x Paho C none`,
    get('paho-c-redis-barrier', 2),
    get('paho-c-none', 2),
    0.25,
  );
  const labelOf = (id: string): string => rows.find((r) => r.publisher === id)?.label ?? id;
  for (const id of ['none', batchedId])
    for (const qos of [1, 2] as const)
      ratio(
        `${labelOf(id)} QoS ${qos}: default maxInflight >= 0.8x maxInflight 100`,
        get(id, qos, 'default'),
        get(id, qos),
        0.8,
      );
  ratio(`${s.clientCount} clients on one Redis: aggregate >= 1.5x one client`, s.eightClients, s.oneClient, 1.5);
  targets.push({
    target: `restore of ${fmt(s.restoreMessages)} pending messages at create < 2 s`,
    measured: s.restoreSeconds === undefined ? 'not measured' : `${s.restoreSeconds.toFixed(2)} s`,
    met: s.restoreSeconds === undefined ? undefined : s.restoreSeconds < 2,
  });
  targets.push({
    target: `RSS flat (+-10%) over ${fmt(s.soakMessages ?? 1_000_000)} messages`,
    measured:
      s.soakDeviation === undefined ? 'not measured (--soak)' : `max deviation ${(s.soakDeviation * 100).toFixed(1)}%`,
    met: s.soakDeviation === undefined ? undefined : s.soakDeviation <= 0.1,
  });
  return targets;
}

export function formatTargets(targets: Target[]): string {
  return markdownTable(
    ['target', 'measured', 'met'],
    targets.map((t) => [t.target, t.measured, t.met === undefined ? '-' : t.met ? 'yes' : 'NO']),
  );
}
