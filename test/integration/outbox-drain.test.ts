/**
 * How fast the outbox drains a backlog: outbox.drainRate caps the messages handed to Paho per
 * second (measured from 'delivered' times), and over a link with a 50 ms round trip (a delaying
 * proxy) the drain is bounded by window / round trip. Real Redis and mosquitto on free ports.
 * The speed of an unpaced drain is measured in bench/ (outbox-offline.ts, outbox-drain-latency.ts).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, MemoryPersistence, RedisPersistence } from '../../src';
import { closeAll, uid } from '../helpers/client-common';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { startLatencyProxy, type LatencyProxy } from '../helpers/latency-proxy';

const WINDOW = 50;
const ONE_WAY_DELAY_MS = 25;

let broker: MosquittoServer;
let redis: RedisServer;
let proxy: LatencyProxy;
const clients = new Set<AsyncClient>();

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto({ extraConfig: 'max_queued_messages 0' }), startRedis()]);
  proxy = await startLatencyProxy(broker.port, ONE_WAY_DELAY_MS);
});

after(async () => {
  await closeAll(clients);
  await proxy?.close();
  await Promise.all([broker?.stop(), redis?.stop()]);
});

interface DrainOptions {
  serverURI?: string;
  window?: number;
  drainRate?: number;
}

interface Drain {
  /** Messages per second between the first and the last 'delivered'. */
  rate: number;
  /**
   * The same from the delivery of the first fifth on: a start-up stall (the first acknowledgement
   * late while the pacer's clock runs) does not shorten the span.
   */
  steadyRate: number;
  /** The ids in 'delivered' order. */
  delivered: string[];
  enqueued: string[];
}

/** Enqueues `messages` QoS 1 messages before connect, then connects and drains them. */
async function drain(messages: number, options: DrainOptions = {}): Promise<Drain> {
  const window = options.window ?? WINDOW;
  const client = await AsyncClient.create({
    serverURI: options.serverURI ?? broker.url,
    clientId: uid('outbox-drain'),
    persistence: new RedisPersistence({ url: redis.url }),
    maxBufferedMessages: Math.max(100, 2 * window),
    outbox: { window, drainRate: options.drainRate },
  });
  clients.add(client);
  const enqueued = await Promise.all(
    Array.from({ length: messages }, (_, i) => client.enqueue('outbox/drain', Buffer.from(String(i)), { qos: 1 })),
  );
  const delivered: string[] = [];
  const times: number[] = [];
  const done = new Promise<void>((resolve) =>
    client.on('delivered', ({ id }) => {
      delivered.push(id);
      times.push(performance.now());
      if (delivered.length === messages) resolve();
    }),
  );
  await client.connect({ maxInflight: window });
  await done;
  await client.close();
  clients.delete(client);
  const last = messages - 1;
  const from = Math.floor(messages / 5);
  return {
    rate: (last * 1000) / (times[last] - times[0]),
    steadyRate: ((last - from) * 1000) / (times[last] - times[from]),
    delivered,
    enqueued: enqueued.map((e) => e.id),
  };
}

describe('outbox.drainRate', () => {
  for (const limit of [200, 1000]) {
    it(`${limit} msg/s over a 3 s drain: the rate after the first fifth within 10% of the limit, in order`, async (t) => {
      // Unpaced first: the lower bound holds only where the machine drains faster than the limit.
      const unpaced = await drain(limit);
      const paced = await drain(3 * limit, { drainRate: limit });
      const rate = paced.steadyRate.toFixed(0);
      t.diagnostic(
        `paced ${rate} msg/s (${paced.rate.toFixed(0)} from the first 'delivered'); unpaced ${unpaced.rate.toFixed(0)} msg/s`,
      );
      assert.deepEqual(paced.delivered, paced.enqueued, "every 'delivered', in enqueue order");
      assert.ok(paced.steadyRate <= limit * 1.1, `not above the limit by more than 10%: ${rate} msg/s`);
      if (unpaced.rate >= 1.5 * limit) {
        assert.ok(paced.steadyRate >= limit * 0.9, `not below it by more than 10%: ${rate} msg/s`);
      } else {
        t.diagnostic(
          `the machine is the bottleneck (unpaced ${unpaced.rate.toFixed(0)} msg/s): lower bound not checked`,
        );
      }
    });
  }

  it('must be a positive number: anything else is refused at create()', async () => {
    for (const drainRate of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100']) {
      await assert.rejects(
        AsyncClient.create({
          serverURI: broker.url,
          clientId: uid('outbox-drain-rate'),
          persistence: new MemoryPersistence(),
          outbox: { drainRate: drainRate as number },
        }),
        {
          code: 'ERR_INVALID_ARG',
          message: /outbox.drainRate must be a positive number of messages per second/,
        },
        `drainRate ${String(drainRate)}`,
      );
    }
  });
});

describe('a link with a 50 ms round trip (delaying proxy)', () => {
  it('the drain is bounded by window / round trip: window 10 stays under 200 msg/s, window 100 drains several times faster', async (t) => {
    const roundTripS = (2 * ONE_WAY_DELAY_MS) / 1000;
    const small = await drain(300, { serverURI: proxy.url, window: 10 });
    const large = await drain(3000, { serverURI: proxy.url, window: 100 });
    t.diagnostic(`window 10: ${small.rate.toFixed(0)} msg/s; window 100: ${large.rate.toFixed(0)} msg/s`);
    assert.deepEqual(small.delivered, small.enqueued, 'window 10: in order');
    assert.deepEqual(large.delivered, large.enqueued, 'window 100: in order');
    // At most one window per round trip can be in flight: a physical bound, not a timing guess.
    assert.ok(small.rate <= (10 / roundTripS) * 1.1, `window 10: ${small.rate.toFixed(0)} msg/s`);
    assert.ok(large.rate <= (100 / roundTripS) * 1.1, `window 100: ${large.rate.toFixed(0)} msg/s`);
    assert.ok(
      large.rate >= 3 * small.rate,
      `ten times the window drains at least 3x faster: ${large.rate.toFixed(0)} vs ${small.rate.toFixed(0)} msg/s`,
    );
  });
});
