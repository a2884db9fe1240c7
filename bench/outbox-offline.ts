/**
 * A quick look at the outbox offline (not a test, not the benchmark table): N messages of P bytes
 * enqueued with the broker unreachable, into a Redis of its own (AOF on, appendfsync everysec),
 * then Redis's memory per queued message. Then connects a broker and drains.
 *   npm run build:test && node --expose-gc out/bench/outbox-offline.js [N] [payload]   (OUTBOX_WINDOW=100)
 */
import { Redis } from 'ioredis';
import { AsyncClient, RedisPersistence } from '../src';
import { startMosquitto, startRedis } from '../test/helpers/servers';

const WINDOW = Number(process.env.OUTBOX_WINDOW ?? 100);

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 100_000);
  const size = Number(process.argv[3] ?? 256);
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
  const admin = new Redis(redis.port, '127.0.0.1');
  // Down while enqueueing; up again on the same port (the hash and outbox are per server URI).
  const broker = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  await broker.stop();
  const topic = 'bench/outbox/offline';
  const store = new RedisPersistence({ url: redis.url });
  const client = await AsyncClient.create({
    serverURI: broker.url,
    clientId: 'outbox-bench',
    persistence: store,
    sendWhileDisconnected: true,
    maxBufferedMessages: 1000,
    outbox: { window: WINDOW },
  });
  const payload = Buffer.alloc(size, 7);
  const before = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const slice = 10_000;
  let sliceStarted = started;
  for (let sent = 0; sent < total;) {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 2000 && sent < total; i++, sent++) pending.push(client.enqueue(topic, payload, { qos: 1 }));
    await Promise.all(pending);
    if (sent % slice === 0) {
      const now = process.hrtime.bigint();
      console.log(`${sent}: ${((slice / Number(now - sliceStarted)) * 1e9).toFixed(0)} msg/s in this slice`);
      sliceStarted = now;
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The pump's last hand-offs may still be on their way to the store.
  while (client.outboxStats()!.handed < WINDOW || (await store.outboxStats()).length > total - WINDOW)
    await new Promise((r) => setTimeout(r, 20));
  await client.flush();
  const after = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const queued = (await store.outboxStats()).length;
  const streamKey = `{${store.hashName}}:outbox`;
  const streamBytes = Number(await admin.call('memory', 'usage', streamKey, 'samples', '0'));
  console.log(
    `enqueued ${total} x ${size} B offline in ${seconds.toFixed(2)} s: ${(total / seconds).toFixed(0)} msg/s`,
  );
  console.log(`outbox ${queued} entries; Paho holds ${client.outboxStats()!.handed}`);
  console.log(
    `Redis used_memory +${after - before} B = ${((after - before) / total).toFixed(1)} B per message ` +
      `(payload ${size} + topic ${topic.length} + 64 = ${size + topic.length + 64}); ` +
      `stream MEMORY USAGE ${(streamBytes / queued).toFixed(1)} B per entry`,
  );
  (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc: garbage not yet collected does not count
  const memory = process.memoryUsage();
  console.log(
    `node RSS +${((memory.rss - rssBefore) / 1048576).toFixed(1)} MB, ` +
      `heapUsed +${((memory.heapUsed - heapBefore) / 1048576).toFixed(1)} MB`,
  );

  await broker.restart();
  await client.close();
  console.log('closed the offline client');
  const drainStore = new RedisPersistence({ url: redis.url });
  const createStarted = process.hrtime.bigint();
  const second = await AsyncClient.create({
    serverURI: broker.url,
    clientId: 'outbox-bench',
    persistence: drainStore,
    maxBufferedMessages: 1000,
    outbox: { window: WINDOW },
  });
  const createMs = Number(process.hrtime.bigint() - createStarted) / 1e6;
  console.log(`create() over ${queued} queued (+100 with Paho): ${createMs.toFixed(0)} ms`);
  const createdAt = process.hrtime.bigint();
  let delivered = 0;
  second.on('delivered', () => (delivered += 1));
  await second.connect({ maxInflight: Math.min(WINDOW, 65535) });
  // The 100 messages Paho restored carry no outbox id (docs/persistence.md): count them apart.
  while ((await drainStore.outboxStats()).length > 0 || second.outboxStats()!.handed > 0)
    await new Promise((r) => setTimeout(r, 20));
  while ((await second.getPendingTokens()).length > 0) await new Promise((r) => setTimeout(r, 20));
  const drainSeconds = Number(process.hrtime.bigint() - createdAt) / 1e9;
  console.log(
    `drained ${delivered} from the outbox (+100 Paho restored) in ${drainSeconds.toFixed(2)} s: ${(delivered / drainSeconds).toFixed(0)} msg/s`,
  );
  await second.close();
  admin.disconnect();
  await Promise.all([redis.stop(), broker.stop()]);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
