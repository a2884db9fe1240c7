/**
 * The package as a user gets it: a clean clone of this repository (committed HEAD) is packed,
 * the tarball is installed into a scratch app (building the addon there), and from that app the
 * package is required (CJS), imported (ESM), type-checked (TypeScript strict), the README's
 * usage example and graceful shutdown recipe run, and `npx paho-mqtt-redis --version` answers.
 *
 * Slow (one native build, npm installs from the local cache): one file, one generous deadline.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { waitFor } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const STEP_TIMEOUT_MS = 10 * 60_000;
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

let work: string;
let app: string;
let broker: MosquittoServer;
let redis: RedisServer;

/** npm builds offline against the installed Node headers, and reads packages from its cache first. */
const env = {
  ...process.env,
  npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

function run(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** The first ```ts block after `heading` in the README of the clone. */
function readmeBlock(heading: string): string {
  const readme = fs.readFileSync(path.join(work, 'clone', 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has a '${heading}' section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `README's '${heading}' section has a ts block`);
  return block[1].replaceAll('tcp://127.0.0.1:1883', broker.url).replaceAll('redis://127.0.0.1:6379', redis.url);
}

before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-package-'));
  const clone = path.join(work, 'clone');
  const head = (await run('git', ['rev-parse', 'HEAD'], ROOT)).stdout.trim();
  await run('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone], work);
  await run('git', ['checkout', '--quiet', head], clone);
  // Dependencies only: `npm pack` itself must build dist/ (the prepare script).
  await run('npm', ['ci', '--ignore-scripts'], clone);
  assert.equal(fs.existsSync(path.join(clone, 'dist')), false, 'a clean clone has no dist/');
  const packed = (await run('npm', ['pack', '--pack-destination', work], clone)).stdout.trim().split('\n').at(-1)!;
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true }));
  await run(
    'npm',
    [
      'install',
      path.join(work, packed),
      `typescript@${pkg.devDependencies.typescript}`,
      `@types/node@${pkg.devDependencies['@types/node']}`,
    ],
    app,
  );
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
  const use = `
import { AsyncClient, RedisPersistence, PahoMqttRedisError, type ClientStats, type Message } from 'paho-mqtt-redis';
export async function main(): Promise<ClientStats> {
  const client = await AsyncClient.create({
    serverURI: 'tcp://127.0.0.1:1883',
    clientId: 'typed',
    persistence: new RedisPersistence({ url: 'redis://127.0.0.1:6379' }),
  });
  client.on('message', (m: Message) => m.payload.byteLength);
  client.once('connected', (info) => info.sessionPresent);
  // @ts-expect-error - a 'message' listener gets a Message, not a string
  client.on('message', (m: string) => m);
  for await (const m of client.messages({ topicFilter: 'a/#' })) void m.topic;
  const error: unknown = undefined;
  if (error instanceof PahoMqttRedisError) void error.code;
  return client.stats();
}
`;
  fs.writeFileSync(path.join(app, 'use-esm.mts'), use);
  fs.writeFileSync(path.join(app, 'use-cjs.cts'), use);
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
      files: ['use-esm.mts', 'use-cjs.cts'],
    }),
  );
  await run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
});

test("the README's usage example runs as written (against test servers)", { timeout: 120_000 }, async () => {
  fs.writeFileSync(path.join(app, 'usage.mts'), readmeBlock('## Usage'));
  const tsc = path.join(app, 'node_modules', '.bin', 'tsc');
  await run(tsc, ['--strict', '--module', 'nodenext', '--target', 'es2022', '--types', 'node', 'usage.mts'], app);
  const { stdout } = await run(process.execPath, ['usage.mjs'], app);
  assert.match(stdout, /a\/b/, 'the example received its own message');
});

test("the README's graceful shutdown recipe ends the process cleanly on SIGTERM", { timeout: 120_000 }, async () => {
  fs.writeFileSync(path.join(app, 'shutdown.mts'), readmeBlock('### Graceful shutdown'));
  const tsc = path.join(app, 'node_modules', '.bin', 'tsc');
  await run(tsc, ['--strict', '--module', 'nodenext', '--target', 'es2022', '--types', 'node', 'shutdown.mts'], app);
  const child = spawn(process.execPath, ['shutdown.mjs'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  assert.equal(stdout.trim(), pkg.version);
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
    const packed = (await run('npm', ['pack', '--pack-destination', dest], clone)).stdout.trim().split('\n').at(-1)!;
    const device = path.join(work, 'device-app');
    fs.mkdirSync(device);
    fs.writeFileSync(path.join(device, 'package.json'), JSON.stringify({ name: 'device-app', private: true }));
    // No compiler and no Node headers: a source build would fail the install.
    const noToolchain = { ...env, CC: 'false', CXX: 'false', npm_config_nodedir: path.join(work, 'no-headers') };
    await new Promise<void>((resolve, reject) => {
      execFile(
        'npm',
        ['install', path.join(dest, packed)],
        { cwd: device, env: noToolchain, timeout: STEP_TIMEOUT_MS },
        (err, stdout, stderr) =>
          err ? reject(new Error(`npm install failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve(),
      );
    });
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
