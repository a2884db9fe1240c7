/**
 * Dependency drift: the packed package installed as a user's `npm install` does it today, with
 * the newest versions package.json's ranges allow (no lockfile), then the strict type check and
 * the README's usage example. Not part of `npm test` (the registry moves under it); `.ci/run`
 * runs it as a loud warning, `npm run test:drift` alone fails on it. Each failure names the
 * dependencies that moved from package-lock.json; when this passes, bump the lockfile.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import {
  STEP_TIMEOUT_MS,
  compileReadmeBlock,
  compileStrict,
  installApp,
  movedDependencies,
  packHead,
  run,
} from '../helpers/scratch-app';

let work: string;
let app: string;
let moved: string[] = [];
let broker: MosquittoServer;
let redis: RedisServer;

/** Runs `step`; a failure names what moved since the lockfile. */
async function withDrift(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (err) {
    const what = moved.length ? `moved since package-lock.json: ${moved.join(', ')}` : 'nothing moved';
    throw new Error(`${(err as Error).message}\n(dependency drift: ${what})`, { cause: err });
  }
}

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-drift-'));
  app = path.join(work, 'app');
  await installApp(app, await packHead(work), 'newest');
  moved = movedDependencies(app);
});

after(async () => {
  await Promise.all([broker?.stop(), redis?.stop()]);
  if (work && !process.env.PMR_KEEP_TMP) fs.rmSync(work, { recursive: true, force: true });
});

test('the newest allowed versions are reported against the lockfile', { timeout: 60_000 }, (t) => {
  const installed = JSON.parse(
    fs.readFileSync(path.join(app, 'node_modules', 'paho-mqtt-redis', 'package.json'), 'utf8'),
  ) as { name: string };
  assert.equal(installed.name, 'paho-mqtt-redis');
  t.diagnostic(moved.length ? `moved since package-lock.json: ${moved.join(', ')}` : 'nothing moved');
});

test('TypeScript strict compiles against the shipped types with the newest versions', { timeout: 120_000 }, () =>
  withDrift(() => compileStrict(app)),
);

test("the README's usage example runs with the newest versions", { timeout: STEP_TIMEOUT_MS }, () =>
  withDrift(async () => {
    const usage = await compileReadmeBlock(app, '## Usage', 'usage', { broker: broker.url, redis: redis.url });
    const { stdout } = await run(process.execPath, [usage], app);
    assert.match(stdout, /a\/b/, 'the example received its own message');
  }),
);
