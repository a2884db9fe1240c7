/**
 * One Node contender of bench/backlog.bench.ts in a process of its own (its RSS is its own).
 * argv[2] is a ContenderSpec as JSON. The broker is down: the contender queues `messages` QoS 1
 * publishes, prints {"event":"buffered",...}, waits for a line on stdin (the bench has brought
 * the broker back and subscribed), connects and prints {"event":"drained",...} once its client
 * reports every message delivered. The subscriber in the bench process is what counts delivery.
 * Same protocol as paho-offline.c.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncClient } from '../../src';
import { makeStore } from '../publish/stores';
import { waitForLine } from './line-signal';
import { numberedPayload, type ContenderKind, type ContenderSpec } from './spec';

const rssKb = (): number => Math.round(process.memoryUsage.rss() / 1024);
const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;
const emit = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

/** Counts settled promises and wakes one waiter at a target, without keeping the promises. */
class Settled {
  count = 0;
  failures = 0;
  private waiter?: { target: number; wake: () => void };
  settle(failed: boolean): void {
    this.count++;
    if (failed) this.failures++;
    if (this.waiter && this.count >= this.waiter.target) {
      const { wake } = this.waiter;
      this.waiter = undefined;
      wake();
    }
  }
  reach(target: number): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    return new Promise((wake) => (this.waiter = { target, wake }));
  }
}

/** Today's path: publish() while disconnected (Paho's buffer), then flush(). */
async function asyncClientPublish(spec: ContenderSpec, dir: string): Promise<void> {
  const rssBeforeKb = rssKb();
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: spec.clientId,
    persistence: makeStore(storeOf(spec.kind), spec.redisUrl, dir),
    sendWhileDisconnected: true,
    maxBufferedMessages: Math.min(spec.messages, 1_000_000),
  });
  const delivered = new Settled();
  const started = process.hrtime.bigint();
  for (let i = 0; i < spec.messages; i++)
    client.publish(spec.topic, numberedPayload(i, spec.payloadBytes), { qos: 1 }).then(
      () => delivered.settle(false),
      () => delivered.settle(true),
    );
  process.stderr.write(
    `${spec.messages} publish() calls made in ${seconds(started).toFixed(1)} s; waiting for flush()\n`,
  );
  await client.flush();
  emit({
    event: 'buffered',
    seconds: seconds(started),
    rssBeforeKb,
    rssAfterKb: rssKb(),
    accepted: spec.messages - delivered.failures,
  }); // offline, a settled publish was refused
  await waitForLine('drain');
  const drainStarted = process.hrtime.bigint();
  await client.connect({ cleanSession: true, maxInflight: spec.maxInflight });
  await delivered.reach(spec.messages);
  emit({ event: 'drained', seconds: seconds(drainStarted), failures: delivered.failures });
  await client.disconnect({ timeout: 1000 });
  await client.close();
}

/** The outbox slot: client.enqueue() resolves once durable, 'delivered' carries its id. */
interface OutboxClient {
  enqueue(topic: string, payload: Buffer, options: { qos: 1 }): Promise<{ id: unknown }>;
}

async function asyncClientEnqueue(spec: ContenderSpec, dir: string): Promise<void> {
  const rssBeforeKb = rssKb();
  const client = await AsyncClient.create({
    serverURI: spec.serverURI,
    clientId: spec.clientId,
    persistence: makeStore('redis-batched', spec.redisUrl, dir),
  });
  const outbox = client as unknown as OutboxClient;
  const delivered = new Settled();
  (client as unknown as NodeJS.EventEmitter).on('delivered', () => delivered.settle(false));
  const durable = new Settled();
  const started = process.hrtime.bigint();
  for (let i = 0; i < spec.messages; i++) {
    if (i - durable.count >= spec.window) await durable.reach(i - spec.window + 1);
    outbox.enqueue(spec.topic, numberedPayload(i, spec.payloadBytes), { qos: 1 }).then(
      () => durable.settle(false),
      () => durable.settle(true),
    );
  }
  await durable.reach(spec.messages);
  emit({ event: 'buffered', seconds: seconds(started), rssBeforeKb, rssAfterKb: rssKb(), accepted: spec.messages });
  await waitForLine('drain');
  const drainStarted = process.hrtime.bigint();
  await client.connect({ cleanSession: true, maxInflight: spec.maxInflight });
  await delivered.reach(spec.messages);
  emit({ event: 'drained', seconds: seconds(drainStarted), failures: durable.failures });
  await client.disconnect({ timeout: 1000 });
  await client.close();
}

/**
 * MQTT.js 5 offline: publish() while the first connect has failed (reconnectPeriod 0, so it does
 * not reconnect before the bench's subscriber is ready); QoS 1 packets go to the outgoing store
 * (cbStorePut once stored), then reconnect() sends them.
 */
async function mqttJs(spec: ContenderSpec, dir: string): Promise<void> {
  const { connect } = await import('mqtt');
  const rssBeforeKb = rssKb();
  const manager = spec.kind === 'mqttjs-level' ? (await import('mqtt-level-store')).default(dir) : undefined;
  const client = connect(spec.serverURI.replace(/^tcp:/, 'mqtt:'), {
    clientId: spec.clientId,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    ...(manager && { outgoingStore: manager.outgoing as never, incomingStore: manager.incoming as never }),
  });
  client.on('error', () => undefined); // refused while the broker is down: expected
  const stored = new Settled();
  const delivered = new Settled();
  const started = process.hrtime.bigint();
  for (let i = 0; i < spec.messages; i++)
    client.publish(
      spec.topic,
      numberedPayload(i, spec.payloadBytes),
      { qos: 1, cbStorePut: () => stored.settle(false) },
      (error) => delivered.settle(error !== undefined && error !== null),
    );
  await stored.reach(spec.messages);
  emit({ event: 'buffered', seconds: seconds(started), rssBeforeKb, rssAfterKb: rssKb(), accepted: spec.messages });
  await waitForLine('drain');
  const drainStarted = process.hrtime.bigint();
  // reconnect() without stores would replace them with empty ones (and lose the backlog).
  client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
  await delivered.reach(spec.messages);
  emit({ event: 'drained', seconds: seconds(drainStarted), failures: delivered.failures });
  await client.endAsync();
  if (manager) await new Promise<void>((resolve) => manager.close(() => resolve()));
}

function storeOf(kind: ContenderKind): 'none' | 'file' | 'redis-batched' {
  if (kind === 'async-none') return 'none';
  if (kind === 'async-file') return 'file';
  return 'redis-batched';
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as ContenderSpec;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-bench-backlog-'));
  try {
    if (spec.kind.startsWith('mqttjs')) await mqttJs(spec, path.join(tmp, 'level'));
    else if (spec.kind === 'async-enqueue') await asyncClientEnqueue(spec, tmp);
    else await asyncClientPublish(spec, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] !== undefined)
  main().catch((error: unknown) => {
    process.stderr.write(`contender failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
