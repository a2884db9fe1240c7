/**
 * The MQTT.js 5 rows: its default in-memory store, or mqtt-level-store 3 (LevelDB), the
 * persistent store a Node user would pick. MQTT.js has no outgoing inflight limit for MQTT 3.1.1:
 * the bench's window (outstanding publishes) is its only bound.
 */
import { connectAsync, type IClientOptions, type IStore } from 'mqtt';
import levelStore from 'mqtt-level-store';
import type { TrialResult, TrialSpec } from './trial';
import { publishWindowed } from './stores';

export async function runMqttJs(spec: TrialSpec, payload: Buffer, levelDir: string): Promise<TrialResult> {
  if (spec.clients !== 1) throw new Error('MQTT.js rows run one client');
  const manager = spec.store === 'level' ? levelStore(levelDir) : undefined;
  const options: IClientOptions = {
    clientId: `bench-mqttjs-${process.pid}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    ...(manager && { outgoingStore: manager.outgoing as IStore, incomingStore: manager.incoming as IStore }),
  };
  const client = await connectAsync(spec.serverURI.replace(/^tcp:/, 'mqtt:'), options);
  const publishOne = (): Promise<unknown> => client.publishAsync('bench/publish', payload, { qos: spec.qos });
  await publishWindowed(spec.warmup, spec.window, publishOne);
  const started = process.hrtime.bigint();
  await publishWindowed(spec.messages, spec.window, publishOne);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await client.endAsync();
  if (manager) await new Promise<void>((resolve) => manager.close(() => resolve()));
  return {
    messages: spec.messages,
    seconds,
    msgPerSec: spec.messages / seconds,
    maxRssKb: process.resourceUsage().maxRSS,
  };
}
