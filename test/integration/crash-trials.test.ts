/**
 * kill -9 at random points, in both durability modes, against this file's own
 * mosquitto and Redis. Publishers (QoS 1: nothing lost, duplicates counted; QoS 2: nothing
 * lost or duplicated): a kill anywhere from process start to the end of the stream; a kill
 * mid-stream and a second one inside connect(); a kill inside create() while it restores a
 * hash of thousands of records; with cleanSession true, a kill at a random point (each restart
 * sends the discarded in-flight messages again: QoS 2 at least once there). Subscribers
 * (cleanSession false, RedisPersistence): a kill at a random point, nothing lost (received
 * messages are at least once: duplicates counted); and a kill inside a 'message' listener that
 * works 20 ms per message (MQTT 3.1.1 and 5, QoS 1 and 2): the interrupted message comes again
 * after the restart.
 * The runner and the cases are shared with `npm run soak` (test/helpers/crash-*.ts). First,
 * the precondition of every count: a killed fixture's lines all reach this process.
 *
 * CRASH_TRIALS (default 10): trials of each random-point publisher case.
 * CRASH_SPECIAL_TRIALS (default 2): trials of each connect, restore, clean-session and subscriber case.
 * CRASH_LISTENER_TRIALS (default 20): trials of the MQTT 5 QoS 2 batched subscriber killed inside a slow
 * listener (the other slow-listener cases run CRASH_SPECIAL_TRIALS).
 * CRASH_TOTAL (default 2000): numbers per random-point publisher stream; CRASH_SHORT_TOTAL
 * (default 500): per connect and subscriber stream. CRASH_SEED replays the kill plans
 * (printed at the end; where a kill lands still depends on timing).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runFixture } from '../helpers/client-common';
import { crashCases } from '../helpers/crash-cases';
import { Summary, violation } from '../helpers/crash-tally';
import { seededRandom } from '../helpers/seeded-random';
import { startCrashEnv, stopCrashEnv, type CrashEnv } from '../helpers/crash-trials';

const TRIALS = Number(process.env.CRASH_TRIALS ?? 10);
const SPECIAL_TRIALS = Number(process.env.CRASH_SPECIAL_TRIALS ?? 2);
const TOTAL = Number(process.env.CRASH_TOTAL ?? 2000);
const LISTENER_TRIALS = Number(process.env.CRASH_LISTENER_TRIALS ?? 20);
const SHORT_TOTAL = Number(process.env.CRASH_SHORT_TOTAL ?? 500);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

let env: CrashEnv;
const summary = new Summary();
const random = seededRandom(SEED);

before(async () => {
  env = await startCrashEnv();
});
after(async () => {
  await stopCrashEnv(env);
  console.log(`CRASH_SEED=${SEED} CRASH_TOTAL=${TOTAL}\n${summary.table()}`);
});

describe('the fixtures report every line they wrote before a SIGKILL', () => {
  it('a child whose parent falls behind: no line written is lost', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-lines-')), 'written');
    let received = 0;
    const child = runFixture('line-writer', { file, blocking: true }, (line) => {
      assert.equal(line, `line ${received + 1}`);
      received += 1;
    });
    await child.line(/^line 1$/);
    const end = Date.now() + 300;
    while (Date.now() < end); // the parent reads nothing for 300 ms while the child writes on
    child.kill('SIGKILL');
    await child.exited;
    const written = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(written > 0 && received >= written, `written ${written}, received ${received}`);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

describe('kill -9 at random points', () => {
  for (const crashCase of crashCases({ total: TOTAL, shortTotal: SHORT_TOTAL, restoreRecords: 2000 })) {
    const focus =
      crashCase.kind === 'listener' &&
      crashCase.mqttVersion === 5 &&
      crashCase.qos === 2 &&
      crashCase.durability === 'batched';
    const trials = crashCase.kind === 'random' ? TRIALS : focus ? LISTENER_TRIALS : SPECIAL_TRIALS;
    it(`${crashCase.name} (${trials} trials)`, async (t) => {
      const phases = new Map<string, number>();
      for (let i = 0; i < trials; i++) {
        const outcome = await crashCase.trial(env, random);
        const broken = violation(outcome, crashCase.exactlyOnce) ?? crashCase.check?.(outcome);
        summary.add(outcome, broken !== undefined);
        for (const phase of outcome.phases) phases.set(phase, (phases.get(phase) ?? 0) + 1);
        assert.equal(broken, undefined, `trial ${i + 1} (CRASH_SEED=${SEED}): ${broken}\n${outcome.evidence}`);
        assert.deepEqual(outcome.leftover, [], `trial ${i + 1}: records left in the hash\n${outcome.evidence}`);
        t.diagnostic(
          `trial ${i + 1}: kills in ${outcome.phases.join(', ')}; republished ${outcome.republished}, ` +
            `duplicated ${outcome.duplicated}, ${outcome.seconds.toFixed(1)} s`,
        );
      }
      // The second kill of these cases aims inside connect() / create(): at least half must land there.
      const aimed = crashCase.kind === 'connect' ? 'connect' : crashCase.kind === 'restore' ? 'restore' : undefined;
      if (aimed)
        assert.ok(
          (phases.get(aimed) ?? 0) >= trials / 2,
          `kills inside ${aimed}: ${phases.get(aimed) ?? 0} of ${trials}`,
        );
    });
  }
});
