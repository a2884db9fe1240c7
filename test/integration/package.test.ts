/**
 * The package as a user gets it: a clean clone of this repository (committed HEAD) is packed,
 * the tarball is installed into a scratch app with the dependency versions package-lock.json
 * pins (building the addon there), and from that app the package is required (CJS), imported
 * (ESM), type-checked (TypeScript strict, no skipLibCheck, also with the lowest dependency
 * versions package.json allows), the README's usage example and graceful shutdown recipe run,
 * and `npx paho-mqtt-redis --version` answers. The newest versions are the drift check's
 * (test/drift/), which does not block.
 *
 * Slow (one native build, npm installs from the local cache): one file, one generous deadline.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';
import {
  STEP_TIMEOUT_MS,
  compileReadmeBlock,
  compileStrict,
  installApp,
  manifest,
  npmEnv as env,
  packHead,
  packIn,
  run,
} from '../helpers/scratch-app';

let work: string;
let tarball: string;
let app: string;
let broker: MosquittoServer;
let redis: RedisServer;

const urls = () => ({ broker: broker.url, redis: redis.url });

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-package-'));
  tarball = await packHead(work);
  app = path.join(work, 'app');
  await installApp(app, tarball, 'locked');
});

after(async () => {
  await Promise.all([broker?.stop(), redis?.stop()]);
  if (work && !process.env.PMR_KEEP_TMP) fs.rmSync(work, { recursive: true, force: true });
});

test('the tarball ships what a user needs, and nothing of the repository tooling', { timeout: 60_000 }, () => {
  const installed = path.join(app, 'node_modules', 'paho-mqtt-redis');
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'LICENSE', 'README.md', 'docs'])
    assert.ok(fs.existsSync(path.join(installed, file)), `${file} is in the package`);
  for (const file of ['scripts', 'tsconfig.json', 'test', 'bench', 'out'])
    assert.equal(fs.existsSync(path.join(installed, file)), false, `${file} is not in the package`);
});

test('CJS require and ESM import both give the API; the addon loads', { timeout: 60_000 }, async () => {
  const cjs = await run(
    process.execPath,
    ['-e', "const m = require('paho-mqtt-redis'); console.log(typeof m.AsyncClient, m.pahoVersion().Version)"],
    app,
  );
  assert.match(cjs.stdout, /^function \d+\.\d+\.\d+/);
  const esm = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import { AsyncClient, RedisPersistence, pahoVersion } from 'paho-mqtt-redis'; console.log(typeof AsyncClient, typeof RedisPersistence, pahoVersion().Version)",
    ],
    app,
  );
  assert.match(esm.stdout, /^function function \d+\.\d+\.\d+/);
});

test('TypeScript strict compiles against the shipped types (ESM and CJS)', { timeout: 120_000 }, async () => {
  await compileStrict(app);
});

test(
  'TypeScript strict compiles with the lowest dependency versions package.json allows',
  { timeout: STEP_TIMEOUT_MS },
  async () => {
    const lowest = path.join(work, 'lowest-app');
    await installApp(lowest, tarball, 'lowest', { ignoreScripts: true });
    await compileStrict(lowest);
  },
);

test("the README's usage example runs as written (against test servers)", { timeout: 120_000 }, async () => {
  const usage = await compileReadmeBlock(app, '## Usage', 'usage', urls());
  const { stdout } = await run(process.execPath, [usage], app);
  assert.match(stdout, /a\/b/, 'the example received its own message');
});

test("the README's graceful shutdown recipe ends the process cleanly on SIGTERM", { timeout: 120_000 }, async () => {
  const shutdown = await compileReadmeBlock(app, '### Graceful shutdown', 'shutdown', urls());
  const child = spawn(process.execPath, [shutdown], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('connected'), "the recipe's 'connected' line", 30_000);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.match(out, /shutting down/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('npx paho-mqtt-redis --version answers from the installed package', { timeout: 60_000 }, async () => {
  const { stdout } = await run('npx', ['--no-install', 'paho-mqtt-redis', '--version'], app);
  assert.equal(stdout.trim(), manifest.version);
});

test(
  'with a matching prebuild in the tarball, npm install compiles nothing',
  { timeout: STEP_TIMEOUT_MS },
  async () => {
    // The addon the first install built stands in for `npm run build:prebuilds` (same platform).
    const clone = path.join(work, 'clone');
    const built = path.join(app, 'node_modules', 'paho-mqtt-redis', 'build', 'Release', 'paho_mqtt_redis.node');
    const tags = process.arch === 'arm' ? 'armv7.glibc.napi' : 'glibc.napi';
    const prebuilds = path.join(clone, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.mkdirSync(prebuilds, { recursive: true });
    fs.copyFileSync(built, path.join(prebuilds, `paho-mqtt-redis.${tags}.node`));
    const dest = path.join(work, 'with-prebuild');
    fs.mkdirSync(dest);
    const packed = await packIn(clone, dest);
    const device = path.join(work, 'device-app');
    // No compiler and no Node headers: a source build would fail the install.
    const noToolchain = { ...env, CC: 'false', CXX: 'false', npm_config_nodedir: path.join(work, 'no-headers') };
    await installApp(device, packed, 'locked', { env: noToolchain });
    const installed = path.join(device, 'node_modules', 'paho-mqtt-redis');
    assert.equal(fs.existsSync(path.join(installed, 'build')), false, 'nothing was built');
    assert.ok(
      fs.existsSync(path.join(installed, 'prebuilds', `${process.platform}-${process.arch}`)),
      'the prebuild shipped',
    );
    const { stdout } = await run(
      process.execPath,
      ['-e', "console.log(require('paho-mqtt-redis').pahoVersion().Version)"],
      device,
    );
    assert.match(stdout, /^\d+\.\d+\.\d+/);
  },
);
