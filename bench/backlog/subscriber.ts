/**
 * The bench's witness: an MQTT.js subscriber (QoS 1) on the trial's topic that counts every
 * numbered message once, and notes duplicates and first arrivals out of order.
 */
import { connectAsync, type MqttClient } from 'mqtt';

export interface Delivery {
  /** Distinct messages received. */
  delivered: number;
  duplicates: number;
  /** First arrivals whose index was not the next one expected (a gap or a reordering). */
  outOfOrder: number;
  /** process.hrtime.bigint() of the first and last first arrival. */
  firstAt?: bigint;
  lastAt?: bigint;
  /** Date.now() of the first arrival, to compare with another process's clock. */
  firstWallMs?: number;
}

export class OrderedSubscriber {
  private readonly seen: Uint8Array;
  private next = 0;
  readonly delivery: Delivery = { delivered: 0, duplicates: 0, outOfOrder: 0 };
  private lastProgress = process.hrtime.bigint();

  private constructor(
    private readonly client: MqttClient,
    readonly expected: number,
  ) {
    this.seen = new Uint8Array(expected);
  }

  static async start(brokerUrl: string, topic: string, expected: number): Promise<OrderedSubscriber> {
    const client = await connectAsync(brokerUrl.replace(/^tcp:/, 'mqtt:'), {
      clientId: `bench-backlog-sub-${process.pid}-${Date.now()}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
    });
    const subscriber = new OrderedSubscriber(client, expected);
    client.on('message', (_topic, payload) => subscriber.receive(payload));
    await client.subscribeAsync(topic, { qos: 1 });
    return subscriber;
  }

  private receive(payload: Buffer): void {
    const index = payload.readUInt32BE(0);
    const d = this.delivery;
    if (index >= this.expected || this.seen[index] === 1) {
      d.duplicates++;
      return;
    }
    this.seen[index] = 1;
    const now = process.hrtime.bigint();
    if (d.delivered === 0) {
      d.firstAt = now;
      d.firstWallMs = Date.now();
    }
    d.delivered++;
    d.lastAt = now;
    this.lastProgress = now;
    if (index !== this.next) d.outOfOrder++;
    this.next = index + 1;
  }

  /** Resolves when every message arrived, or nothing new arrived for `idleMs`, or at `deadline`. */
  async settle(idleMs: number, deadline: bigint): Promise<Delivery> {
    this.lastProgress = process.hrtime.bigint();
    for (;;) {
      const now = process.hrtime.bigint();
      if (this.delivery.delivered >= this.expected) return this.delivery;
      if (now > deadline || Number(now - this.lastProgress) / 1e6 > idleMs) return this.delivery;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
  }
}
