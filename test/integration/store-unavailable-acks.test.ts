/**
 * onStoreUnavailable: what an acknowledgement does while its record cannot be stored (Redis
 * frozen with SIGSTOP), for QoS 2 publishes, MQTT 3.1.1 and MQTT 5.
 *
 * - A publisher (child process, RedisPersistence, cleanSession false) is killed -9 while Redis
 *   is frozen, then started again with the same client id once Redis is back. With 'continue'
 *   PUBRELs left without their `sc-N`: the restarted process resends those messages from their
 *   stored `s-N`/`c-M`, and the broker, which had released their packet ids, delivers them a
 *   second time. With 'disconnect' no PUBREL left before its record was stored: 0 duplicates.
 * - In process, Redis frozen for longer than the broker's keepalive timeout: with 'disconnect'
 *   the acknowledgements wait, the broker drops the silent connection, the client reconnects
 *   once Redis is back, and every resolved publish arrives exactly once; with 'continue' the
 *   connection stays up throughout and the report says what a crash would cost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, PahoMqttRedisError, RedisPersistence } from '../../src';
import { useWatchedServers } from '../helpers/watched-servers';
import { runFixture, sleep, uid, waitFor } from '../helpers/client-common';
import type { PublisherConfig } from '../fixtures/client-publisher';
import type { SubscriberConfig } from '../fixtures/client-subscriber';

type Policy = 'continue' | 'disconnect';
const KEEPALIVE_S = 2;
/** Longer than the broker takes to drop a client silent for 1.5 keepalive intervals (mosquitto: about 6 s here). */
const FROZEN_MS = 9000;

const servers = useWatchedServers({
  subscriberId: 'acks-sub',
  mosquitto: { extraConfig: 'max_inflight_messages 0\nmax_queued_messages 0\n' },
});

async function quiet(topic: string, ms = 500): Promise<void> {
  let last = -1;
  await waitFor(
    async () => {
      const now = servers.inbox.on(topic).length;
      if (now === last) return true;
      last = now;
      await sleep(ms);
      return false;
    },
    'the subscriber quiet',
    30_000,
  );
}

describe('kill -9 of a QoS 2 publisher while Redis is frozen, restarted once it is back', () => {
  for (const mqttVersion of [4, 5] as const) {
    for (const policy of ['continue', 'disconnect'] as const) {
      const expect =
        policy === 'disconnect'
          ? 'no PUBREL before its record is stored: 0 duplicates'
          : 'the stream goes on, and says so';
      it(`MQTT ${mqttVersion === 4 ? '3.1.1' : '5'}, onStoreUnavailable '${policy}': ${expect}`, async (t) => {
        const topic = uid(`acks-q2-v${mqttVersion}-${policy}`);
        await servers.subscriber.subscribe(topic, { qos: 2 });
        const config: PublisherConfig = {
          serverURI: servers.broker.url,
          clientId: uid('acks-pub'),
          redisUrl: servers.redis.url,
          durability: 'batched',
          topic,
          qos: 2,
          from: 1,
          to: 100_000,
          window: 10,
          mqttVersion,
          keepAliveInterval: KEEPALIVE_S,
          operationTimeoutMs: 1000,
          onStoreUnavailable: policy,
        };
        const first = runFixture('client-publisher', config);
        let handed = 0;
        try {
          await first.line(/^ack 50$/);
          servers.redis.freeze();
          await sleep(1500);
          first.kill('SIGKILL');
          await first.exited;
        } finally {
          servers.redis.thaw();
        }
        for (const line of first.lines) if (line.startsWith('pub ')) handed = Math.max(handed, Number(line.slice(4)));
        const acked = first.lines.filter((l) => l.startsWith('ack ')).length;
        await quiet(topic);
        const before = servers.inbox.numbersOn(topic);
        // The same client id: Paho restores what Redis holds and completes it, then 5 more.
        const second = runFixture('client-publisher', { ...config, from: handed + 1, to: handed + 5 });
        await second.line(/^done$/, 30_000);
        await second.exited;
        await quiet(topic);
        const after = servers.inbox.numbersOn(topic);
        const restored = Number(
          /^restored (\d+)$/.exec(second.lines.find((l) => l.startsWith('restored ')) ?? '')?.[1],
        );
        const twice = [...after].filter(([, c]) => c > 1).map(([n]) => n);
        const resolvedTwice = twice.filter((n) => first.lines.includes(`ack ${n}`));
        t.diagnostic(
          `${policy}: ${acked} publishes resolved before the kill (${acked - 50} of them while Redis was frozen), ` +
            `${before.size} numbers delivered by then; restored ${restored}; delivered twice: ${twice.length} ` +
            `(${resolvedTwice.length} of them resolved publishes)`,
        );
        if (policy === 'disconnect') {
          assert.equal(acked - 50 <= 10, true, 'at most the window completed while Redis was frozen');
          assert.deepEqual(twice, [], 'QoS 2: delivered more than once');
        } else {
          assert.ok(acked - 50 > 10, "'continue': the stream went on while Redis was frozen");
          assert.match(first.stderr(), /can deliver a sent QoS 2 message twice/, "'continue' says what it costs");
        }
        for (let n = 1; n <= acked; n++) assert.ok(after.has(n) || !first.lines.includes(`ack ${n}`), `#${n} lost`);
      });
    }
  }
});

describe("Redis frozen longer than the broker's keepalive timeout (in process, QoS 2, automaticReconnect)", () => {
  for (const policy of ['continue', 'disconnect'] as const) {
    it(`onStoreUnavailable '${policy}': ${policy === 'disconnect' ? 'the broker drops the silent connection; after Redis returns every message arrives once' : 'the connection stays up'}`, async (t) => {
      const topic = uid(`acks-hold-${policy}`);
      await servers.subscriber.subscribe(topic, { qos: 2 });
      const publisher = await AsyncClient.create({
        serverURI: servers.broker.url,
        clientId: uid('acks-hold-pub'),
        persistence: new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: 1000 }),
        onStoreUnavailable: policy,
        sendWhileDisconnected: true,
        maxBufferedMessages: 1000,
      });
      servers.clients.add(publisher);
      let losses = 0;
      const reported: string[] = [];
      publisher.on('connectionLost', () => (losses += 1));
      publisher.on('persistenceError', (e) => reported.push(e.message));
      await publisher.connect({
        cleanSession: false,
        keepAliveInterval: KEEPALIVE_S,
        automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 2 },
      });
      const settled: Promise<unknown>[] = [];
      let n = 0;
      const timer = setInterval(() => {
        n += 1;
        settled.push(publisher.publish(topic, Buffer.from(`#${n}#`), { qos: 2 }).catch((e: Error) => e));
      }, 50);
      try {
        await sleep(500);
        servers.redis.freeze();
        await sleep(FROZEN_MS);
      } finally {
        servers.redis.thaw();
      }
      await sleep(500);
      clearInterval(timer);
      const outcomes = await Promise.all(settled);
      await quiet(topic);
      await publisher.close();
      servers.clients.delete(publisher);
      const seen = servers.inbox.numbersOn(topic);
      const twice = [...seen].filter(([, c]) => c > 1).map(([k]) => k);
      const rejected = outcomes.filter((o) => o instanceof Error).length;
      t.diagnostic(
        `${policy}: ${n} publishes, ${rejected} rejected, ${seen.size} delivered, ${twice.length} twice, ` +
          `${losses} connection losses; reports: ${reported.map((r) => r.slice(0, 120)).join(' | ') || 'none'}`,
      );
      assert.deepEqual(twice, [], 'QoS 2: delivered more than once');
      assert.equal(seen.size, n - rejected, 'every resolved publish delivered');
      if (policy === 'disconnect') {
        assert.ok(losses >= 1, 'the broker dropped the silent connection');
        assert.match(reported.join('\n'), /held back/);
      } else {
        assert.equal(losses, 0, 'the connection stayed up');
        assert.match(reported.join('\n'), /can deliver a sent QoS 2 message twice/);
      }
    });
  }
});

describe('kill -9 of a subscriber whose JS thread is busy (received messages, MQTT 3.1.1)', () => {
  for (const qos of [1, 2] as const) {
    for (const policy of ['continue', 'disconnect'] as const) {
      const expect =
        policy === 'disconnect'
          ? 'nothing acknowledged before its listener ran: 0 lost'
          : 'what was acknowledged early is lost';
      it(`QoS ${qos}, onStoreUnavailable '${policy}': ${expect}`, async (t) => {
        const topic = uid(`acks-in-q${qos}-${policy}`);
        const config: SubscriberConfig = {
          serverURI: servers.broker.url,
          clientId: uid('acks-in-sub'),
          redisUrl: servers.redis.url,
          topic,
          durability: 'batched',
          qos,
          operationTimeoutMs: 500,
          onStoreUnavailable: policy,
          blockOn: '#50#',
          blockMs: 4000,
        };
        const first = runFixture('client-subscriber', config);
        await first.line(/^ready$/);
        const publisher = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('acks-in-pub') });
        servers.clients.add(publisher);
        await publisher.connect();
        const total = 150;
        await Promise.all(
          Array.from({ length: total }, (_, i) => publisher.publish(topic, Buffer.from(`#${i + 1}#`), { qos })),
        );
        await first.line(/^msg #50#$/);
        await sleep(3000); // the listener of #50# keeps the JS thread busy for 4 s
        first.kill('SIGKILL');
        await first.exited;
        const second = runFixture('client-subscriber', { ...config, blockOn: undefined });
        const printed = (): Set<string> =>
          new Set([...first.lines, ...second.lines].filter((l) => l.startsWith('msg ')).map((l) => l.slice(4)));
        await waitFor(() => printed().size >= total, 'every number printed by one run or the other', 10_000).catch(
          () => undefined,
        );
        second.kill('SIGKILL');
        await second.exited;
        await publisher.close();
        servers.clients.delete(publisher);
        const lost = [];
        for (let n = 1; n <= total; n++) if (!printed().has(`#${n}#`)) lost.push(n);
        t.diagnostic(`QoS ${qos} ${policy}: ${lost.length} of ${total} lost (${lost.slice(0, 10).join(',')})`);
        if (policy === 'disconnect') assert.deepEqual(lost, [], 'lost');
        // 'continue' reports it, but the report reaches JS only once the thread is free again:
        // this process dies first. What a crash costs then, as documented:
        else assert.ok(lost.length > 0, "'continue': messages acknowledged before their listeners ran are lost");
      });
    }
  }
});

describe("a listener slower than the wait ('continue')", () => {
  it('is reported once JS is free: the message was acknowledged before its listeners ran', async () => {
    const topic = uid('acks-slow');
    const client = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('acks-slow-sub'),
      persistence: new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: 300 }),
    });
    servers.clients.add(client);
    const reported: string[] = [];
    client.on('persistenceError', (e) => reported.push(`${e.code}: ${e.message}`));
    client.on('message', () => {
      const until = Date.now() + 1000;
      while (Date.now() < until); // slower than the wait (operationTimeoutMs)
    });
    await client.connect({ cleanSession: false });
    await client.subscribe(topic, { qos: 1 });
    await servers.subscriber.publish(topic, Buffer.from('#1#'), { qos: 1 });
    await servers.subscriber.publish(topic, Buffer.from('#2#'), { qos: 1 });
    await waitFor(() => reported.length > 0, 'a report', 10_000);
    await client.close();
    servers.clients.delete(client);
    assert.match(
      reported[0],
      /^ERR_PERSISTENCE_TIMEOUT: a received message is acknowledged before its 'message' listeners ran/,
    );
  });
});

describe("close() while an acknowledgement is held ('disconnect', Redis frozen)", () => {
  it('resolves: the hold ends first, so that Paho can take the disconnect and destroy', async (t) => {
    const topic = uid('acks-close');
    const publisher = await AsyncClient.create({
      serverURI: servers.broker.url,
      clientId: uid('acks-close-pub'),
      persistence: new RedisPersistence({ url: servers.redis.url, operationTimeoutMs: 1000 }),
      onStoreUnavailable: 'disconnect',
    });
    servers.clients.add(publisher);
    await publisher.connect({ cleanSession: false, keepAliveInterval: KEEPALIVE_S });
    let n = 0;
    const timer = setInterval(() => {
      n += 1;
      publisher.publish(topic, Buffer.from(`#${n}#`), { qos: 2 }).catch(() => undefined);
    }, 50);
    let closeMs = Infinity;
    try {
      await sleep(300);
      servers.redis.freeze();
      await sleep(2000); // the outage is noticed after operationTimeoutMs; acknowledgements wait
      clearInterval(timer);
      const started = performance.now();
      const closed = publisher.close().then(() => (closeMs = performance.now() - started));
      await Promise.race([closed, sleep(10_000)]);
    } finally {
      clearInterval(timer);
      servers.redis.thaw();
    }
    await publisher.close();
    servers.clients.delete(publisher);
    t.diagnostic(`close() took ${closeMs === Infinity ? 'over 10 s' : `${Math.round(closeMs)} ms`}`);
    assert.ok(closeMs < 10_000, 'close() resolved while Redis was frozen');
  });
});

describe('onStoreUnavailable is checked', () => {
  it("rejects other values, and 'disconnect' without a store", async () => {
    const isInvalid = (pattern: RegExp) => (e: unknown) =>
      e instanceof PahoMqttRedisError && e.code === 'ERR_INVALID_ARG' && pattern.test(e.message);
    await assert.rejects(
      AsyncClient.create({
        serverURI: servers.broker.url,
        clientId: uid('acks-bad'),
        persistence: new RedisPersistence({ url: servers.redis.url }),
        onStoreUnavailable: 'drop' as Policy,
      }),
      isInvalid(/onStoreUnavailable must be 'continue' or 'disconnect', got "drop"/),
    );
    await assert.rejects(
      AsyncClient.create({
        serverURI: servers.broker.url,
        clientId: uid('acks-bad'),
        onStoreUnavailable: 'disconnect',
      }),
      isInvalid(/needs a ClientPersistence store/),
    );
  });
});
