/**
 * A client in a worker that is terminated is freed, whatever it was doing: with publishes held
 * in its publish window (the held jobs must not own the client), and with Paho's receive thread
 * parked in a delivery gate while the worker's JS thread is busy in a listener (teardown opens
 * the gates; the receive thread holds Paho's process-wide mutex, so the other clients of the
 * process must go on too). Counted with the test addon's counts of live native clients and of
 * command threads left detached.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { AsyncClient } from '../../src';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';
import { testDriver } from '../helpers/test-driver';
import { sleep, waitFor } from '../helpers/wait';
import { fixture, uid } from '../helpers/client-common';

let broker: MosquittoServer;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
});

/** Starts the worker and waits for its 'connected'; `next` waits for its next message. */
async function startWorker(mode: 'full-window' | 'blocked-listener', topic: string) {
  const worker = new Worker(fixture('teardown-leak-worker'), { workerData: { mode, serverURI: broker.url, topic } });
  const inbox: unknown[] = [];
  let failed: unknown;
  worker.on('message', (m: unknown) => inbox.push(m));
  worker.on('error', (error) => (failed = error));
  const next = async (what: string): Promise<void> => {
    await waitFor(() => inbox.length > 0 || failed !== undefined, `the worker's '${what}'`, 30_000);
    assert.equal(failed, undefined);
    assert.deepEqual(inbox.shift(), what);
  };
  await next('connected');
  return { worker, next };
}

/**
 * Terminates the worker. Its command thread must end within teardown's bound (not be left
 * detached inside Paho), and its native client must be freed.
 */
async function terminateAndCount(worker: Worker, liveBefore: number): Promise<void> {
  const detachedBefore = testDriver.detachedCommandThreads();
  await worker.terminate();
  assert.equal(testDriver.detachedCommandThreads(), detachedBefore, 'teardown ended the command thread in time');
  // The gate's deadline and the operation timeout are 600 s: only teardown frees it this soon.
  await waitFor(() => testDriver.liveClients() === liveBefore, "the worker's native client to be freed", 20_000);
}

describe('a terminated worker frees its client', () => {
  it('with publishes held in its publish window (broker frozen)', { timeout: 60_000 }, async () => {
    const liveBefore = testDriver.liveClients();
    const { worker, next } = await startWorker('full-window', uid('leak/window'));
    assert.equal(testDriver.liveClients(), liveBefore + 1);
    process.kill(broker.pid, 'SIGSTOP');
    try {
      worker.postMessage('publish');
      await next('ready');
      await terminateAndCount(worker, liveBefore);
    } finally {
      process.kill(broker.pid, 'SIGCONT');
    }
  });

  it("with Paho's receive thread parked in a delivery gate; other clients go on", { timeout: 60_000 }, async () => {
    const other = await AsyncClient.create({ serverURI: broker.url, clientId: uid('leak-other') });
    try {
      await other.connect();
      const liveBefore = testDriver.liveClients();
      const topic = uid('leak/gate');
      const { worker, next } = await startWorker('blocked-listener', topic);
      await other.publish(topic, Buffer.from('one'), { qos: 1 });
      await next('in-listener');
      // The worker's JS thread is busy now: 'two' parks Paho's receive thread in its gate, and
      // with it every client of the process (so 'two' itself may not complete until teardown).
      const two = other.publish(topic, Buffer.from('two'), { qos: 1 });
      await sleep(1000); // deliberate: time for 'two' to reach the worker's gate
      await terminateAndCount(worker, liveBefore);
      // Paho's receive thread is free again: this client's QoS 1 flows complete.
      await two;
      await other.publish(uid('leak/after'), Buffer.from('after'), { qos: 1 });
    } finally {
      await other.close();
    }
  });
});
