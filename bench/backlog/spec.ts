/** What bench/backlog.bench.ts runs: the contenders, one trial's spec, the numbered payload. */

export type ContenderKind =
  | 'paho-c-none'
  | 'paho-c-file'
  | 'async-none'
  | 'async-file'
  | 'async-redis'
  | 'mqttjs-memory'
  | 'mqttjs-level'
  | 'async-enqueue';

export interface Contender {
  kind: ContenderKind;
  label: string;
  /** Uses the run's Redis (its used_memory per message is reported). */
  redis: boolean;
}

export const CONTENDERS: Contender[] = [
  { kind: 'paho-c-none', label: 'Paho C, no persistence', redis: false },
  { kind: 'paho-c-file', label: 'Paho C, file store', redis: false },
  { kind: 'async-none', label: "AsyncClient publish(), 'none'", redis: false },
  { kind: 'async-file', label: 'AsyncClient publish(), { dir }', redis: false },
  { kind: 'async-redis', label: "AsyncClient publish(), Redis 'batched'", redis: true },
  { kind: 'mqttjs-memory', label: 'MQTT.js 5, in-memory store', redis: false },
  { kind: 'mqttjs-level', label: 'MQTT.js 5 + mqtt-level-store', redis: false },
  { kind: 'async-enqueue', label: "AsyncClient enqueue(), Redis 'batched'", redis: true },
];

export interface ContenderSpec {
  kind: ContenderKind;
  serverURI: string;
  redisUrl: string;
  clientId: string;
  topic: string;
  messages: number;
  payloadBytes: number;
  /** Paho's maxInflight for the drain (MQTT.js has no outgoing limit on MQTT 3.1.1). */
  maxInflight: number;
  /** enqueue(): at most this many not yet durable (no JS object per queued message). */
  window: number;
}

/** `bytes` bytes starting with `index` as a big-endian uint32: the subscriber checks order. */
export function numberedPayload(index: number, bytes: number): Buffer {
  const payload = Buffer.alloc(bytes, 0x61);
  payload.writeUInt32BE(index, 0);
  return payload;
}
