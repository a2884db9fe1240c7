/**
 * One trial of bench/backlog.bench.ts: a contender buffers N messages with its broker down (a
 * mosquitto of its own, stopped: the port refuses connections), then the broker comes back on
 * the same port, a subscriber checks every message, and the contender drains. Each phase is
 * bounded by the budget; a child past it is killed (by its PID) and the trial marked so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import Redis from 'ioredis';
import { startMosquitto } from '../../test/helpers/servers';
import { sendLine } from './line-signal';
import { buildPahoOffline } from './paho-c';
import type { ContenderSpec } from './spec';
import { OrderedSubscriber, type Delivery } from './subscriber';

export interface TrialOptions {
  spec: ContenderSpec;
  budgetSeconds: number;
  /** The drain ends early when the subscriber sees nothing new for this long. */
  idleSeconds: number;
}

export interface TrialOutcome {
  messages: number;
  /** Messages the contender took (Paho C refuses QoS 1 beyond 65,535 message ids). */
  accepted?: number;
  /** 'buffer' or 'drain' when that phase ran past the budget; 'crash' when the child failed. */
  stoppedIn?: 'buffer' | 'drain' | 'crash';
  error?: string;
  bufferSeconds?: number;
  rssGrowthKb?: number;
  redisUsedMemoryDelta?: number;
  drainSeconds?: number;
  delivery?: Delivery;
}

interface ChildEvent {
  event: 'buffered' | 'drained';
  seconds: number;
  rssBeforeKb?: number;
  rssAfterKb?: number;
  accepted?: number;
  failures?: number;
}

const BROKER_CONFIG = 'max_inflight_messages 0\nmax_queued_messages 0'; // no limit: the broker never drops

function spawnContender(spec: ContenderSpec, fileStoreDir: string): ChildProcess {
  if (spec.kind === 'paho-c-none' || spec.kind === 'paho-c-file') {
    const store = spec.kind === 'paho-c-file' ? fileStoreDir : 'none';
    const args = [spec.serverURI, spec.clientId, spec.topic, String(spec.messages), String(spec.payloadBytes)];
    return spawn(buildPahoOffline(), [...args, String(spec.maxInflight), store], { stdio: ['pipe', 'pipe', 'pipe'] });
  }
  const script = path.join(__dirname, 'contender.js');
  return spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The child's JSON lines, one at a time; undefined once it exited or the deadline passed. */
class ChildEvents {
  private readonly queue: ChildEvent[] = [];
  private wake?: () => void;
  exited = false;
  stderr = '';

  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) this.queue.push(JSON.parse(line) as ChildEvent);
      this.wake?.();
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    child.once('exit', () => {
      this.exited = true;
      this.wake?.();
    });
  }

  async next(deadline: bigint): Promise<ChildEvent | undefined> {
    for (;;) {
      const event = this.queue.shift();
      if (event) return event;
      const leftMs = Number(deadline - process.hrtime.bigint()) / 1e6;
      if (this.exited || leftMs <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(leftMs, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  kill(): void {
    if (!this.exited && this.child.pid !== undefined) this.child.kill('SIGKILL');
  }
}

async function redisUsedMemory(redis: Redis | undefined): Promise<number | undefined> {
  if (!redis) return undefined;
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

const deadlineIn = (seconds: number): bigint => process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));

export async function runBacklogTrial(opts: TrialOptions, usesRedis: boolean): Promise<TrialOutcome> {
  const broker = await startMosquitto({ extraConfig: BROKER_CONFIG });
  await broker.stop(); // the port now refuses connections: the broker is unreachable
  const spec = { ...opts.spec, serverURI: broker.url };
  const fileStoreDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-backlog-c-'));
  const redis = usesRedis ? new Redis(spec.redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
  const outcome: TrialOutcome = { messages: spec.messages };
  let subscriber: OrderedSubscriber | undefined;
  const memoryBefore = await redisUsedMemory(redis);
  const events = new ChildEvents(spawnContender(spec, fileStoreDir));
  try {
    const buffered = await events.next(deadlineIn(opts.budgetSeconds));
    if (buffered?.event !== 'buffered') {
      outcome.stoppedIn = events.exited ? 'crash' : 'buffer';
      outcome.error = events.stderr.trim() || undefined; // a killed child's last progress line, too
      return outcome;
    }
    outcome.bufferSeconds = buffered.seconds;
    outcome.accepted = buffered.accepted;
    outcome.rssGrowthKb = buffered.rssAfterKb! - buffered.rssBeforeKb!;
    const memoryAfter = await redisUsedMemory(redis);
    if (memoryBefore !== undefined && memoryAfter !== undefined)
      outcome.redisUsedMemoryDelta = memoryAfter - memoryBefore;

    await broker.restart();
    subscriber = await OrderedSubscriber.start(broker.url, spec.topic, spec.messages);
    const drainStarted = process.hrtime.bigint();
    const drainDeadline = deadlineIn(opts.budgetSeconds);
    sendLine(events.child.stdin!, 'drain');
    const delivery = await subscriber.settle(opts.idleSeconds * 1000, drainDeadline);
    outcome.delivery = {
      delivered: delivery.delivered,
      duplicates: delivery.duplicates,
      outOfOrder: delivery.outOfOrder,
    };
    if (delivery.delivered >= spec.messages) outcome.drainSeconds = Number(delivery.lastAt! - drainStarted) / 1e9;
    else if (process.hrtime.bigint() > drainDeadline) outcome.stoppedIn = 'drain';
    // The child's own view (every publish completed); a little grace for its last acknowledgements.
    const drained = outcome.drainSeconds === undefined ? undefined : await events.next(deadlineIn(10));
    if (drained === undefined && events.exited && outcome.drainSeconds === undefined) {
      outcome.stoppedIn = 'crash';
      outcome.error = events.stderr.trim();
    }
    return outcome;
  } finally {
    events.kill();
    await subscriber?.stop().catch(() => undefined);
    await broker.stop();
    await redis?.quit().catch(() => redis.disconnect());
    fs.rmSync(fileStoreDir, { recursive: true, force: true });
  }
}
