/**
 * kill -9 soak: the cases of test/integration/crash-trials.test.ts, many trials each,
 * against the run's own mosquitto and Redis:
 *   npm run soak [-- --trials 50] [-- --total 10000] [-- --short-total 2000]
 *                [-- --restore-records 3000] [-- --only <regexp on case names>] [-- --seed N]
 * Trials go round-robin over the cases, so a run cut short still covers every case. A failed
 * trial does not stop the run: its evidence is printed when it happens, the table at the end
 * counts it, and the exit code is 1. Ctrl-C prints the table so far.
 */
import { crashCases } from '../test/helpers/crash-cases';
import { Summary, violation } from '../test/helpers/crash-tally';
import { seededRandom } from '../test/helpers/seeded-random';
import { startCrashEnv, stopCrashEnv, type CrashEnv } from '../test/helpers/crash-trials';
import { benchArgs } from './bench-args';

const flags = benchArgs(
  'kill -9 soak: the crash-trial cases, many trials each, round-robin.',
  {
    trials: { type: 'string', default: '50' },
    total: { type: 'string', default: '10000' },
    'short-total': { type: 'string', default: '2000' },
    'restore-records': { type: 'string', default: '3000' },
    only: { type: 'string' },
    seed: { type: 'string' },
  },
  {
    trials: 'trials in all',
    total: 'messages per trial',
    'short-total': 'messages per trial of the short cases',
    'restore-records': 'records in the restore cases',
    only: 'a regular expression on case names',
    seed: 'the random seed (default: a new one, printed)',
  },
);

const trials = Number(flags.trials);
const seed = flags.seed !== undefined ? Number(flags.seed) : Math.floor(Math.random() * 2 ** 31);
const cases = crashCases({
  total: Number(flags.total),
  shortTotal: Number(flags['short-total']),
  restoreRecords: Number(flags['restore-records']),
}).filter((c) => flags.only === undefined || new RegExp(flags.only).test(c.name));
const summary = new Summary();
const started = Date.now();

function report(): void {
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(`\nseed ${seed}; ${JSON.stringify(flags)}; ${minutes} min\n${summary.table()}`);
}

async function main(): Promise<number> {
  let env: CrashEnv | undefined;
  let failures = 0;
  process.once('SIGINT', () => {
    report();
    process.exit(130);
  });
  try {
    env = await startCrashEnv();
    const random = seededRandom(seed);
    for (let trial = 1; trial <= trials; trial++) {
      for (const crashCase of cases) {
        let line: string;
        try {
          const outcome = await crashCase.trial(env, random);
          const broken =
            violation(outcome, crashCase.exactlyOnce) ??
            crashCase.check?.(outcome) ??
            (outcome.leftover.length > 0 ? `records left: ${outcome.leftover.join(',')}` : undefined);
          summary.add(outcome, broken !== undefined);
          line =
            `kills in ${outcome.phases.join(', ')}; republished ${outcome.republished}, ` +
            `lost ${outcome.lost.length}, duplicated ${outcome.duplicated}, ${outcome.seconds.toFixed(1)} s`;
          if (broken !== undefined) {
            failures += 1;
            line += `\nFAILED: ${broken}\n${outcome.evidence}`;
          }
        } catch (error) {
          failures += 1;
          summary.addError(crashCase.name);
          line = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
        }
        console.log(`[${trial}/${trials}] ${crashCase.name}: ${line}`);
      }
    }
  } finally {
    await stopCrashEnv(env);
  }
  report();
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
