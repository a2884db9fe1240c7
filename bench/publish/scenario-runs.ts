/**
 * The orchestrating side of the targets beyond the matrix: N clients on one Redis against one,
 * restore of pending messages at create, RSS over a long run. Each trial is a child process.
 */
import * as os from 'node:os';
import { runTrial } from './child';
import { median } from './report';
import type { RestoreResult, SoakResult } from './scenarios';
import type { TrialResult, TrialSpec } from './trial';

export interface Common {
  serverURI: string;
  redisUrl: string;
  store: TrialSpec['store'];
  payloadBytes: number;
  window: number;
  repeat: number;
}

const spread = (xs: number[]): { median: number; min: number; max: number; runs: number[] } => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  runs: xs,
});
const log = (line: string): void => console.error(`  ${line}  (load ${os.loadavg()[0].toFixed(2)})`);

export interface ClientsFigures {
  clients: number;
  messagesPerClient: number;
  /** msg/s of one client, and the aggregate of `clients` clients in one process, QoS 1, maxInflight 100. */
  one: ReturnType<typeof spread>;
  many: ReturnType<typeof spread>;
  ratio: number;
  redisCommandsPerMessage: number | undefined;
  peakRssMb: number;
}

export async function runClients(c: Common, clients: number, messages: number): Promise<ClientsFigures> {
  const one: TrialResult[] = [];
  const many: TrialResult[] = [];
  const spec = (n: number): TrialSpec => ({
    kind: 'async-client',
    store: c.store,
    serverURI: c.serverURI,
    redisUrl: c.redisUrl,
    qos: 1,
    messages,
    warmup: Math.min(200, Math.floor(messages / 10)),
    window: c.window,
    payloadBytes: c.payloadBytes,
    maxInflight: 100,
    clients: n,
  });
  for (let rep = 1; rep <= c.repeat; rep++) {
    one.push(await runTrial<TrialResult>(spec(1)));
    log(`clients run ${rep}/${c.repeat}: 1 client ${Math.round(one[one.length - 1].msgPerSec)} msg/s`);
    many.push(await runTrial<TrialResult>(spec(clients)));
    log(
      `clients run ${rep}/${c.repeat}: ${clients} clients ${Math.round(many[many.length - 1].msgPerSec)} msg/s aggregate`,
    );
  }
  const o = spread(one.map((t) => t.msgPerSec));
  const m = spread(many.map((t) => t.msgPerSec));
  const costs = many.filter((t) => t.redis).map((t) => t.redis!.commands / t.messages);
  return {
    clients,
    messagesPerClient: messages,
    one: o,
    many: m,
    ratio: m.median / o.median,
    redisCommandsPerMessage: costs.length ? median(costs) : undefined,
    peakRssMb: Math.max(...many.map((t) => t.maxRssKb)) / 1024,
  };
}

export interface RestoreFigures {
  messages: number;
  createSeconds: ReturnType<typeof spread>;
  /** The first run only: connect and send every restored message (a check that restore worked, too). */
  drainSeconds: number | undefined;
  restored: number[];
  redisCommandsAtCreate: Record<string, number>;
  peakRssMb: number;
}

export async function runRestore(c: Common, messages: number): Promise<RestoreFigures> {
  const results: RestoreResult[] = [];
  for (let rep = 1; rep <= c.repeat; rep++) {
    const spec: TrialSpec = {
      kind: 'restore-fill',
      store: c.store,
      serverURI: c.serverURI,
      redisUrl: c.redisUrl,
      qos: 1,
      messages,
      warmup: 0,
      window: c.window,
      payloadBytes: c.payloadBytes,
      maxInflight: 100,
      clients: 1,
      clientId: `bench-restore-${process.pid}-${rep}`,
    };
    await runTrial<{ stored: number }>(spec);
    const r = await runTrial<RestoreResult>({ ...spec, kind: 'restore', drain: rep === 1 });
    if (r.restored !== messages) throw new Error(`restore: ${r.restored} of ${messages} messages restored`);
    results.push(r);
    const drained = r.drainSeconds === undefined ? '' : `, then sent in ${r.drainSeconds.toFixed(2)} s`;
    log(`restore run ${rep}/${c.repeat}: create ${r.createSeconds.toFixed(2)} s${drained}`);
  }
  return {
    messages,
    createSeconds: spread(results.map((r) => r.createSeconds)),
    drainSeconds: results[0].drainSeconds,
    restored: results.map((r) => r.restored),
    redisCommandsAtCreate: results[results.length - 1].redis.byCommand,
    peakRssMb: Math.max(...results.map((r) => r.maxRssKb)) / 1024,
  };
}

export interface SoakFigures extends SoakResult {
  /** RSS after the first 10% of the messages: the reference of `deviation`. */
  baselineRssKb: number;
  /** max |rss - baseline| / baseline over the samples after the baseline. */
  deviation: number;
}

export async function runSoak(c: Common, messages: number): Promise<SoakFigures> {
  const r = await runTrial<SoakResult>({
    kind: 'soak',
    store: c.store,
    serverURI: c.serverURI,
    redisUrl: c.redisUrl,
    qos: 1,
    messages,
    warmup: 0,
    window: c.window,
    payloadBytes: c.payloadBytes,
    maxInflight: 100,
    clients: 1,
    samples: 20,
  });
  const baselineIndex = r.samples.findIndex((s) => s.messages >= messages / 10);
  const baseline = r.samples[baselineIndex].rssKb;
  const deviation = Math.max(...r.samples.slice(baselineIndex).map((s) => Math.abs(s.rssKb - baseline) / baseline));
  return { ...r, baselineRssKb: baseline, deviation };
}
