/**
 * Teardown with live clients: process.exit while connected, unref(), and worker threads
 * that are terminated or end on their own. Every case must end promptly and cleanly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { AsyncClient } from '../../src';
import { useFileServers } from '../helpers/file-servers';
import { Inbox, fixture, runFixture, uid } from '../helpers/client-common';

const servers = useFileServers();
const { clients } = servers;

/** A connected client of this process and a check that it still round-trips. */
async function roundTripper(): Promise<() => Promise<void>> {
  const client = await AsyncClient.create({ serverURI: servers.broker.url, clientId: uid('parent') });
  clients.add(client);
  await client.connect();
  const inbox = new Inbox(client);
  const topic = uid('parent-topic');
  await client.subscribe(topic, { qos: 1 });
  let sent = 0;
  return async () => {
    sent += 1;
    await client.publish(topic, Buffer.from(`n${sent}`), { qos: 1 });
    const got = await inbox.count(sent, 10_000);
    assert.equal(got[sent - 1].payload.toString(), `n${sent}`);
  };
}

function startWorker(mode: 'connected' | 'natural'): {
  worker: Worker;
  next: () => Promise<Record<string, unknown>>;
  exit: Promise<number>;
} {
  const worker = new Worker(fixture('client-worker'), { workerData: { mode, serverURI: servers.broker.url } });
  const messages: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  worker.on('message', (m: Record<string, unknown>) => {
    const w = waiting.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const exit = new Promise<number>((resolve, reject) => {
    worker.once('exit', resolve);
    worker.once('error', reject);
  });
  const next = (): Promise<Record<string, unknown>> => {
    const m = messages.shift();
    return m
      ? Promise.resolve(m)
      : Promise.race([
          new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve)),
          exit.then((code) => {
            throw new Error(`worker exited (${code}) before posting`);
          }),
        ]);
  };
  return { worker, next, exit };
}

describe('process exit with live clients', () => {
  it('process.exit(0) while connected with RedisPersistence and QoS 1 in flight: exits within 1 s, code 0', async () => {
    for (let run = 0; run < 3; run++) {
      const child = runFixture('client-teardown', {
        mode: 'exit',
        serverURI: servers.broker.url,
        redisUrl: servers.redis.url,
      });
      await child.line(/^exiting$/);
      const calledAt = Date.now();
      const exit = await child.exited;
      assert.equal(exit.signal, null, `run ${run}: died of ${exit.signal}; stderr: ${child.stderr()}`);
      assert.equal(exit.code, 0, `run ${run}: stderr: ${child.stderr()}`);
      assert.ok(exit.at - calledAt < 1000, `run ${run}: exit took ${exit.at - calledAt} ms after process.exit()`);
      assert.doesNotMatch(child.stderr(), /FATAL|Assertion|Segmentation|abort/i);
    }
  });

  async function unrefExits(redisUrl?: string): Promise<void> {
    const child = runFixture('client-teardown', { mode: 'unref', serverURI: servers.broker.url, redisUrl });
    await child.line(/^ready$/);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const exit = await child.exited;
    clearTimeout(timer);
    assert.equal(
      exit.signal,
      null,
      `the process did not exit by itself within 5 s (${exit.signal}); stderr: ${child.stderr()}`,
    );
    assert.equal(exit.code, 0, child.stderr());
  }

  it('a script that ends with a connected but unref()ed client exits by itself', () => unrefExits());

  it('... also when the client persists to Redis', () => unrefExits(servers.redis.url));
});

describe('worker threads', () => {
  it('terminate() of a worker with a connected, publishing client completes within 1 s; this process stays healthy', async () => {
    const check = await roundTripper();
    await check();
    for (let run = 0; run < 2; run++) {
      const { worker, next, exit } = startWorker('connected');
      assert.deepEqual(await next(), { ready: true });
      const t = Date.now();
      await worker.terminate();
      const code = await exit;
      assert.ok(Date.now() - t < 1000, `terminate took ${Date.now() - t} ms`);
      assert.equal(code, 1, 'terminated workers exit with code 1');
      await check(); // Paho's threads are shared by every client in the process
    }
  });

  it('a worker that closes its client ends naturally', async () => {
    const { next, exit } = startWorker('natural');
    assert.deepEqual(await next(), { closed: true, payload: 'from the worker' });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the worker did not end within 5 s after close()')), 5000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 0);
  });
});
