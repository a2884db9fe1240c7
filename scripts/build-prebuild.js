#!/usr/bin/env node
'use strict';
// Builds the addon for Linux x64, arm64 or arm (armhf) with node-gyp, Paho C linked statically, into
// prebuilds/linux-<arch>/ under the names node-gyp-build looks for. Cross builds use Debian's cross
// toolchains and multiarch libpaho-mqtt-dev:<arch> (scripts/install-cross.sh installs them).
//
//   node scripts/build-prebuild.js x64|arm64|arm ...
//
// Each architecture builds in its own folder, build-cross/linux-<arch>/, so build/ (the source build
// that `npm run build:native` makes for this machine) is left alone.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const ADDON = 'paho_mqtt_redis.node';

// tags: the file-name tags node-gyp-build matches against the running Node (armv7: not for ARMv6 boards).
const TARGETS = {
  x64: { triplet: 'x86_64-linux-gnu', machine: 'x86-64', tags: 'glibc.napi', tools: '' },
  arm64: { triplet: 'aarch64-linux-gnu', machine: 'ARM aarch64', tags: 'glibc.napi', tools: 'aarch64-linux-gnu-' },
  arm: {
    triplet: 'arm-linux-gnueabihf',
    machine: 'ARM, EABI5',
    tags: 'armv7.glibc.napi',
    tools: 'arm-linux-gnueabihf-',
  },
};

function fail(message) {
  process.stderr.write(`build-prebuild: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

function output(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0)
    fail(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
  return result.stdout;
}

function hostTriplet() {
  return process.arch === 'x64' ? 'x86_64-linux-gnu' : null;
}

// Offline builds take headers from the installed Node (as scripts/setup.sh does), never a download.
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  for (const dir of ['/usr', path.dirname(path.dirname(process.execPath))]) {
    if (fs.existsSync(path.join(dir, 'include/node/node_api.h'))) return dir;
  }
  fail('no Node headers found (include/node/node_api.h); set npm_config_nodedir');
}

// npm's own node-gyp (npm sets npm_config_node_gyp in scripts); `npx node-gyp` would try to download.
function nodeGyp() {
  const bundled = process.env.npm_config_node_gyp;
  if (bundled && fs.existsSync(bundled)) return [process.execPath, [bundled]];
  const npmBundled = path.join(
    path.dirname(process.execPath),
    '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  );
  if (fs.existsSync(npmBundled)) return [process.execPath, [npmBundled]];
  return ['node-gyp', []];
}

function compilerEnv(target) {
  const cross = target.triplet !== hostTriplet();
  if (!cross) return {};
  const cc = `${target.tools}gcc`;
  const cxx = `${target.tools}g++`;
  if (spawnSync(cxx, ['--version']).status !== 0) {
    fail(
      `${cxx} not found: run \`bash scripts/install-cross.sh ${target.triplet.startsWith('arm-') ? 'armhf' : 'arm64'}\``,
    );
  }
  const env = { CC: cc, CXX: cxx, LINK: cxx, AR: `${target.tools}ar`, STRIP: `${target.tools}strip` };
  // GCC's note that the ARM calling convention for some arguments changed in GCC 7.1: irrelevant here,
  // every object of the addon is built by one compiler.
  if (target.triplet.startsWith('arm-')) env.CXXFLAGS = `${process.env.CXXFLAGS ?? ''} -Wno-psabi`.trim();
  return env;
}

// A folder whose binding.gyp, native/, vendor/ and node_modules/ are the package's own.
function stagingDir(arch) {
  const dir = path.join(ROOT, 'build-cross', `linux-${arch}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of ['binding.gyp', 'native', 'vendor', 'node_modules', 'package.json']) {
    const link = path.join(dir, entry);
    fs.rmSync(link, { force: true, recursive: false });
    fs.symlinkSync(path.join(ROOT, entry), link);
  }
  return dir;
}

function build(arch) {
  const target = TARGETS[arch];
  if (!target) fail(`unknown architecture '${arch}' (one of ${Object.keys(TARGETS).join(', ')})`);
  const started = Date.now();
  const dir = stagingDir(arch);
  const env = {
    ...process.env,
    ...compilerEnv(target),
    PAHO_STATIC: '1',
    PAHO_SYSROOT: process.env.PAHO_SYSROOT || '/',
  };
  delete env.PAHO_MQTT_C_ROOT; // a host-only install prefix would be linked into a cross build
  const [command, prefix] = nodeGyp();
  run(command, [...prefix, 'rebuild', `--arch=${arch}`, `--nodedir=${nodeDir()}`, '--loglevel=warn'], {
    cwd: dir,
    env,
  });

  const built = path.join(dir, 'build', 'Release', ADDON);
  const outDir = path.join(ROOT, 'prebuilds', `linux-${arch}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const dest = path.join(outDir, `paho-mqtt-redis.${target.tags}.node`);
  fs.copyFileSync(built, dest);
  run(env.STRIP || 'strip', ['--strip-unneeded', dest]);
  verify(dest, target);
  process.stdout.write(
    `build-prebuild: ${path.relative(ROOT, dest)} (${fs.statSync(dest).size} bytes, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}

// The board must not need Paho: a NEEDED libpaho means the static link silently fell back.
function verify(file, target) {
  const kind = output('file', ['-b', file]);
  if (!kind.includes(target.machine)) fail(`${file} is "${kind.trim()}", expected ${target.machine}`);
  const needed = output('readelf', ['-d', file])
    .split('\n')
    .filter((line) => line.includes('(NEEDED)'));
  if (needed.some((line) => line.includes('libpaho'))) fail(`${file} still needs a shared Paho:\n${needed.join('\n')}`);
}

const arches = process.argv.slice(2);
if (arches.length === 0) fail('usage: build-prebuild.js x64|arm64|arm ...');
for (const arch of arches) build(arch);
