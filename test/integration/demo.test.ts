/**
 * The README's main job: the crash-and-recover demo, run against servers started for the test.
 * It kills its publisher with SIGKILL mid-stream; nothing Paho accepted may be lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runDemo, type DemoSummary } from '../../src/cli/demo/demo';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';

describe('crash-and-recover demo', () => {
  let redis: RedisServer;
  let broker: MosquittoServer;
  before(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
  });
  after(async () => {
    await Promise.all([redis.stop(), broker.stop()]);
  });

  for (const qos of [1, 2]) {
    it(
      `QoS ${qos}: SIGKILL mid-stream, restart, nothing lost, Redis empty at the end`,
      { timeout: 120_000 },
      async () => {
        let out = '';
        let err = '';
        const code = await runDemo(
          [
            '--redis-url',
            redis.url,
            '--broker-url',
            broker.url,
            '--count',
            '600',
            '--kill-after',
            '200',
            '--qos',
            String(qos),
            '--json',
          ],
          { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
        );
        const summary = JSON.parse(out) as DemoSummary;
        assert.equal(code, 0, `demo failed: ${out}\n${err}`);
        assert.equal(summary.sent, 600);
        assert.ok(summary.ackedBeforeCrash >= 200, `killed after ${summary.ackedBeforeCrash} acks`);
        assert.equal(summary.lost, 0);
        assert.equal(summary.received, 600);
        if (qos === 2) assert.equal(summary.duplicates, 0, 'QoS 2 delivers once');
        assert.equal(summary.hashEntriesAtEnd, 0);
      },
    );
  }
});
