/**
 * What `npm pack` puts in the tarball: the prebuilt addons and what a source build needs, never build
 * outputs of this checkout (build/, build-cross/, build-cmake/, out/) or the tests. Checked on a scratch
 * tree laid out like the repository with this package.json, so the check holds even where no prebuild
 * has been built, and on the repository itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/load-addon';

const root = packageRoot();

/** Paths `npm pack --dry-run` would put in the tarball of the package in `dir` (no lifecycle scripts). */
function packedFiles(dir: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--silent'], {
    cwd: dir,
    encoding: 'utf8',
  });
  const [result] = JSON.parse(out) as { files: { path: string }[] }[];
  return result.files.map((f) => f.path).sort();
}

const SHIPPED = [
  'prebuilds/linux-x64/paho-mqtt-redis.glibc.napi.node',
  'prebuilds/linux-arm64/paho-mqtt-redis.glibc.napi.node',
  'prebuilds/linux-arm/paho-mqtt-redis.armv7.glibc.napi.node',
  'dist/index.js',
  'binding.gyp',
  'native/addon.cc',
  'native/persistence/operation_log.cc',
  'vendor/find-paho.js',
  'vendor/paho-mqtt-c.gypi',
  'CMakeLists.txt',
  'cmake/toolchain-aarch64-linux-gnu.cmake',
  'cmake/toolchain-arm-linux-gnueabihf.cmake',
];
const NOT_SHIPPED = [
  'build/Release/paho_mqtt_redis.node',
  'build-cross/linux-arm64/build/Release/paho_mqtt_redis.node',
  'build-cmake/host/Release/paho_mqtt_redis.node',
  'out/test/unit/package-contents.test.js',
  'out/src/index.js',
  'test/unit/package-contents.test.ts',
  '.cache/emulated/arm64/node/bin/node',
];
/** Folders whose content never belongs in the tarball. */
const NEVER = /^(build|build-cross|build-cmake|out|test|\.cache|node_modules)\//;

describe('npm pack contents', () => {
  it('a tree like this repository packs its prebuilds and sources, and none of its build outputs or tests', () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-pack-'));
    try {
      for (const file of ['package.json', '.npmignore', '.gitignore']) {
        if (fs.existsSync(path.join(root, file))) fs.copyFileSync(path.join(root, file), path.join(scratch, file));
      }
      for (const file of [...SHIPPED, ...NOT_SHIPPED]) {
        fs.mkdirSync(path.dirname(path.join(scratch, file)), { recursive: true });
        fs.writeFileSync(path.join(scratch, file), 'placeholder\n');
      }
      const packed = packedFiles(scratch);
      for (const file of SHIPPED) assert.ok(packed.includes(file), `${file} is missing from the tarball`);
      for (const file of NOT_SHIPPED) assert.ok(!packed.includes(file), `${file} must not be in the tarball`);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('this checkout packs every prebuild it holds and nothing from its build or test folders', () => {
    const packed = packedFiles(root);
    assert.deepEqual(
      packed.filter((file) => NEVER.test(file)),
      [],
    );
    const prebuilds = path.join(root, 'prebuilds');
    const held = fs.existsSync(prebuilds)
      ? fs
          .readdirSync(prebuilds, { recursive: true, encoding: 'utf8' })
          .filter((file) => file.endsWith('.node'))
          .map((file) => `prebuilds/${file.split(path.sep).join('/')}`)
      : [];
    for (const file of held) assert.ok(packed.includes(file), `${file} is missing from the tarball`);
    assert.ok(packed.includes('dist/index.js') || !fs.existsSync(path.join(root, 'dist', 'index.js')), 'dist/index.js');
  });
});
