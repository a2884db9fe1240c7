/**
 * The demo's publisher process: publishes a numbered QoS stream with RedisPersistence and
 * reports on stdout, one JSON object a line. The demo kills it with SIGKILL mid-stream and
 * starts it again with --resume; Paho then restores and resends what Redis still holds.
 */
import { parseArgs } from 'node:util';
import { AsyncClient } from '../../client/async-client';
import { RedisPersistence } from '../../persistence/redis/redis-persistence';

function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      broker: { type: 'string' },
      redis: { type: 'string' },
      'client-id': { type: 'string' },
      topic: { type: 'string' },
      from: { type: 'string', default: '1' },
      to: { type: 'string' },
      qos: { type: 'string', default: '1' },
      window: { type: 'string', default: '20' },
      resume: { type: 'boolean', default: false },
    },
  });
  const from = Number(values.from);
  const to = Number(values.to);
  const qos = Number(values.qos) as 1 | 2;
  const window = Number(values.window);
  const client = await AsyncClient.create({
    serverURI: values.broker!,
    clientId: values['client-id']!,
    persistence: new RedisPersistence({ url: values.redis }),
  });
  client.on('persistenceError', (error) =>
    report({ event: 'persistenceError', code: error.code, message: error.message }),
  );
  // Tokens pending right after create are the messages Paho restored from Redis.
  const restored = new Set(await client.getPendingTokens());
  let redelivered = 0;
  client.on('deliveryComplete', (token) => {
    if (restored.delete(token)) redelivered++;
  });
  report({ event: 'started', resume: values.resume, restored: restored.size });
  await client.connect({
    cleanSession: false,
    keepAliveInterval: 20,
    automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 5 },
  });

  // What counts as accepted is what Redis holds: flush() resolves once every record logged
  // before it is stored, so everything published before the call survives a crash from then on.
  let published = from - 1;
  let publishing = true;
  const persisting = (async () => {
    while (publishing) {
      const upTo = published;
      await client.flush();
      if (upTo >= from) report({ event: 'persisted', upTo });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const inFlight = new Set<Promise<unknown>>();
  for (let n = from; n <= to; n++) {
    const sent = client.publish(values.topic!, Buffer.from(String(n)), { qos }).then(() => report({ event: 'ack', n }));
    published = n;
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  publishing = false;
  await persisting;
  // Restored messages complete on their own; wait for them (bounded).
  const deadline = Date.now() + 15_000;
  while ((await client.getPendingTokens()).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  report({ event: 'done', redelivered, stillPending: (await client.getPendingTokens()).length });
  await client.disconnect({ timeout: 1000 });
  await client.close();
}

main().catch((error: Error & { code?: string }) => {
  report({ event: 'error', code: error.code, message: error.message });
  process.exit(1);
});
