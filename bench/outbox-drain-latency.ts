/**
 * The outbox drain over a link with latency (not a test): a backlog enqueued before connect,
 * then drained through a proxy that delays every chunk 25 ms each way (50 ms round trip; netem
 * is not available here), once per window, with maxInflight = the window. The drain is bounded
 * by window / round trip; the same drain over the direct link shows the link is the bound.
 *   npm run build:test && node out/bench/outbox-drain-latency.js [windows=10,100] [seconds=5]
 * DELAY_MS=25 sets the one-way delay; each backlog is window / RTT x seconds messages (QoS 1, 256 B).
 * MAX_INFLIGHT=20 connects with that maxInflight instead of the window's (the bound is then the smaller).
 */
import { AsyncClient, RedisPersistence } from '../src';
import { startMosquitto, startRedis } from '../test/helpers/servers';
import { startLatencyProxy } from '../test/helpers/latency-proxy';

const DELAY_MS = Number(process.env.DELAY_MS ?? 25);
const RTT_S = (2 * DELAY_MS) / 1000;
const MAX_INFLIGHT = process.env.MAX_INFLIGHT === undefined ? undefined : Number(process.env.MAX_INFLIGHT);
/** BROKER_NODELAY=1: mosquitto's set_tcp_nodelay (off by default: Nagle holds its PUBACKs). */
const BROKER_CONFIG = `max_queued_messages 0\nset_tcp_nodelay ${process.env.BROKER_NODELAY === '1'}`;

interface Drain {
  messages: number;
  seconds: number;
  rate: number;
}

/** Enqueues `messages` before connect, then connects to `serverURI` and times the 'delivered' events. */
async function drain(redisUrl: string, serverURI: string, window: number, messages: number): Promise<Drain> {
  const client = await AsyncClient.create({
    serverURI,
    clientId: `drain-latency-${window}-${process.pid}-${Date.now()}`,
    persistence: new RedisPersistence({ url: redisUrl }),
    maxBufferedMessages: Math.max(100, 2 * window),
    outbox: { window },
  });
  const payload = Buffer.alloc(256, 7);
  for (let queued = 0; queued < messages;) {
    const group: Promise<unknown>[] = [];
    for (let i = 0; i < 2000 && queued < messages; i++, queued++)
      group.push(client.enqueue('bench/drain-latency', payload, { qos: 1 }));
    await Promise.all(group);
  }
  const times: number[] = [];
  const done = new Promise<void>((resolve) =>
    client.on('delivered', () => {
      times.push(performance.now());
      if (times.length === messages) resolve();
    }),
  );
  await client.connect({ maxInflight: MAX_INFLIGHT ?? window, cleanSession: true });
  await done;
  await client.close();
  const seconds = (times[times.length - 1] - times[0]) / 1000;
  return { messages, seconds, rate: (messages - 1) / seconds };
}

async function main(): Promise<void> {
  const windows = (process.argv[2] ?? '10,100').split(',').map(Number);
  const seconds = Number(process.argv[3] ?? 5);
  const [redis, broker] = await Promise.all([startRedis(), startMosquitto({ extraConfig: BROKER_CONFIG })]);
  const proxy = await startLatencyProxy(broker.port, DELAY_MS);
  try {
    console.log(`round trip through the proxy: ${(RTT_S * 1000).toFixed(0)} ms (${DELAY_MS} ms each way)`);
    for (const window of windows) {
      const bound = Math.min(window, MAX_INFLIGHT ?? window) / RTT_S;
      const messages = Math.round(bound * seconds);
      const slow = await drain(redis.url, proxy.url, window, messages);
      const direct = await drain(redis.url, broker.url, window, messages);
      console.log(
        `window ${window}${MAX_INFLIGHT === undefined ? '' : `, maxInflight ${MAX_INFLIGHT}`}: ${messages} messages, ${slow.rate.toFixed(0)} msg/s over 50 ms RTT ` +
          `(${slow.seconds.toFixed(2)} s; bound ${bound.toFixed(0)}, ratio ${(slow.rate / bound).toFixed(2)}); ` +
          `direct link ${direct.rate.toFixed(0)} msg/s`,
      );
    }
  } finally {
    await proxy.close();
    await Promise.all([redis.stop(), broker.stop()]);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
