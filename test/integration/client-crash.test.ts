/**
 * Crash recovery at controlled points, in both durability modes, through the shared trial
 * runner (test/helpers/crash-trials.ts; random points are in crash-trials.test.ts): a
 * publisher process with RedisPersistence is SIGKILLed while exactly WINDOW messages are in
 * flight and started again with the same client id (Paho restores and resends what Redis
 * holds); a QoS 1 or 2 subscriber with RedisPersistence and a persistent session is SIGKILLed
 * mid-stream and started again (nothing is lost). Also automatic reconnection across a
 * broker restart.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncClient, type Durability, type QoS } from '../../src';
import { startMosquitto } from '../helpers/servers';
import { Inbox, closeAll, hashKeys, sleep, uid, waitFor } from '../helpers/client-common';
import { subscriberTrial } from '../helpers/crash-subscriber-trial';
import { publisherTrial, killAfterAcks, startCrashEnv, stopCrashEnv, type CrashEnv } from '../helpers/crash-trials';

const TOTAL = 300;
const KILL_AFTER_ACKS = 100;
const WINDOW = 10;

let env: CrashEnv;
const clients = new Set<AsyncClient>();

before(async () => {
  env = await startCrashEnv();
});
after(async () => {
  await closeAll(clients);
  await stopCrashEnv(env);
});

async function killAndRestart(qos: QoS, durability: Durability): Promise<void> {
  let inFlight: string[] = [];
  const outcome = await publisherTrial(env, {
    name: `publisher q${qos} ${durability}, ${WINDOW} in flight`,
    qos,
    durability,
    total: TOTAL,
    window: WINDOW,
    runs: [
      {
        // Kill while WINDOW messages are in flight. The broker is stopped first so the kill
        // lands after Paho has turned every queued command (c-N) into an in-flight record
        // (s-N/sc-N), and no publish is left that a kill could catch before its record is stored.
        kill: async (run) => {
          await killAfterAcks(KILL_AFTER_ACKS)(run);
          process.kill(env.broker.pid, 'SIGSTOP');
          // Acknowledgements already in the socket when the broker stopped are still processed
          // (a PUBREC adds sc-N): the snapshot counts once the hash holds still for 250 ms.
          const settled = (keys: string[]): boolean =>
            // s-N: PUBLISH sent; sc-N (QoS 2): PUBREL sent; c-N: still a queued command.
            keys.filter((k) => /^s-\d+$/.test(k)).length === WINDOW && keys.every((k) => /^sc?-\d+$/.test(k));
          await waitFor(async () => {
            const before = await hashKeys(env.redis.port, run.hash);
            if (!settled(before)) return false;
            await sleep(250);
            inFlight = await hashKeys(env.redis.port, run.hash);
            return inFlight.join() === before.join();
          }, `${WINDOW} PUBLISH records (s-N), no queued command (c-N), unchanged for 250 ms, in ${run.hash}`).catch(
            (e: Error) => {
              throw new Error(`${e.message}; keys: ${inFlight.join(',')}`);
            },
          );
        },
        afterKill: () => process.kill(env.broker.pid, 'SIGCONT'),
      },
      {},
    ],
  });
  const evidence = outcome.evidence;
  assert.deepEqual(outcome.phases, ['stream'], evidence);
  assert.deepEqual(outcome.runKeys, [inFlight], `the kill left the records in Redis\n${evidence}`);
  assert.equal(outcome.republished, 0, `every handed-over message was stored or acknowledged\n${evidence}`);
  assert.equal(outcome.restored?.[1], WINDOW, `restored count\n${evidence}`);
  assert.deepEqual(outcome.lost, [], evidence);
  if (qos === 2) assert.equal(outcome.duplicated, 0, `QoS 2 duplicates\n${evidence}`);
  assert.deepEqual(outcome.leftover, [], `the Redis hash is empty at the end\n${evidence}`);
}

for (const durability of ['batched', 'sync'] as const) {
  describe(`kill -9 of a publisher mid-stream, then restart with the same client id (${durability})`, () => {
    it('QoS 1: every number arrives at least once', () => killAndRestart(1, durability));
    it('QoS 2: every number arrives exactly once', () => killAndRestart(2, durability));
  });

  describe(`kill -9 of a subscriber mid-stream, then restart (${durability})`, () => {
    for (const qos of [1, 2] as const)
      it(`QoS ${qos}, cleanSession false and RedisPersistence: no message is lost`, async (t) => {
        const outcome = await subscriberTrial(env, {
          name: `subscriber q${qos} ${durability}`,
          qos,
          durability,
          total: TOTAL,
          killAfter: KILL_AFTER_ACKS,
        });
        assert.deepEqual(outcome.phases, ['stream'], `killed mid-stream\n${outcome.evidence}`);
        assert.deepEqual(outcome.lost, [], outcome.evidence);
        // Received messages are at least once, QoS 2 included (docs/persistence.md).
        t.diagnostic(`duplicated ${outcome.duplicated}`);
      });
  });
}

describe('broker restart with automaticReconnect', () => {
  it("emits 'connectionLost' then 'connected', and publishing works again", async () => {
    const own = await startMosquitto();
    try {
      const client = await AsyncClient.create({ serverURI: own.url, clientId: uid('reconnect') });
      clients.add(client);
      await client.connect({
        cleanSession: true,
        automaticReconnect: { minRetryInterval: 1, maxRetryInterval: 2 },
        keepAliveInterval: 5,
      });
      const events: string[] = [];
      client.on('connectionLost', () => events.push('connectionLost'));
      client.on('connected', () => events.push('connected'));
      // connect() emits its own 'connected' before it resolves: only the restart's events are seen.
      await own.restart();
      await waitFor(() => events.includes('connected'), "'connected' after the restart", 15_000);
      assert.equal(events[0], 'connectionLost');
      assert.equal(events.indexOf('connectionLost') < events.lastIndexOf('connected'), true, events.join(','));
      assert.equal(await client.isConnected(), true);
      // The broker lost every session (no persistence): subscribe again, then round trip.
      const topic = uid('after-restart');
      const mine = new Inbox(client);
      await client.subscribe(topic, { qos: 1 });
      await client.publish(topic, Buffer.from('again'), { qos: 1 });
      assert.equal((await mine.count(1))[0].payload.toString(), 'again');
      await client.disconnect({ timeout: 1000 });
      await client.close();
    } finally {
      await own.stop();
    }
  });
});
