/**
 * The addon loader's rules, on scratch package trees holding files that are not addons (so nothing is
 * really loaded): where it looks, in which order, which prebuilds fit this process, and what the error
 * says when nothing loads.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findPrebuild, loadAddon, packageRoot } from '../../src/load-addon';
import { PahoMqttRedisError } from '../../src/errors';

const scratches: string[] = [];
afterEach(() => {
  for (const dir of scratches.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A folder with this package's name in package.json and the given files (each holding text, not ELF). */
function scratchPackage(files: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-loader-'));
  scratches.push(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'paho-mqtt-redis' }));
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), 'not an addon\n');
  }
  return dir;
}

const here = `${process.platform}-${process.arch}`;

function loadError(root: string): PahoMqttRedisError {
  try {
    loadAddon(root);
  } catch (error) {
    assert.ok(error instanceof PahoMqttRedisError, String(error));
    return error;
  }
  assert.fail('loadAddon loaded a file that is not an addon');
}

describe('addon loader', () => {
  it('finds the package root by walking up from a nested folder, past package.json files of other packages', () => {
    const root = scratchPackage([]);
    const nested = path.join(root, 'out', 'src');
    fs.mkdirSync(nested, { recursive: true });
    fs.writeFileSync(path.join(root, 'out', 'package.json'), JSON.stringify({ name: 'something-else' }));
    assert.equal(packageRoot(nested), root);
  });

  it('with nothing built, throws ERR_ADDON_NOT_LOADED naming the prebuild folder and the local builds', () => {
    const root = scratchPackage([]);
    const error = loadError(root);
    assert.equal(error.code, 'ERR_ADDON_NOT_LOADED');
    assert.ok(error.message.includes(path.join(root, 'prebuilds', here)), error.message);
    assert.ok(error.message.includes(path.join(root, 'build', 'Release', 'paho_mqtt_redis.node')), error.message);
    assert.match(error.message, /npm rebuild paho-mqtt-redis/);
    assert.match(error.message, /npm run build:native/);
  });

  it('tries the matching prebuild first, then the local build, and reports why each failed', () => {
    const prebuild = `prebuilds/${here}/paho-mqtt-redis.glibc.napi.node`;
    const root = scratchPackage([prebuild, 'build/Release/paho_mqtt_redis.node']);
    const error = loadError(root);
    const tried = error.message.split('\n').filter((line) => line.startsWith('  - '));
    assert.equal(tried.length, 3, error.message);
    assert.ok(tried[0].includes(path.join(root, prebuild)), tried[0]);
    assert.ok(tried[1].includes(path.join(root, 'build', 'Release')), tried[1]);
    assert.match(tried[2], /build[/\\]Debug.*not built/);
    // The reasons are the loader's own (not an ELF file), not a bare "not found".
    assert.doesNotMatch(tried[0], /not built/);
  });

  it('picks only prebuilds whose tags fit this process (libc, platform, CPU)', () => {
    const otherLibc = process.platform === 'linux' ? 'musl' : 'glibc';
    assert.equal(findPrebuild(scratchPackage([`prebuilds/${here}/paho-mqtt-redis.${otherLibc}.napi.node`])), undefined);
    const otherArch = process.arch === 'arm64' ? 'x64' : 'arm64';
    assert.equal(
      findPrebuild(scratchPackage([`prebuilds/${process.platform}-${otherArch}/paho-mqtt-redis.napi.node`])),
      undefined,
    );
    if (process.platform === 'linux') {
      const root = scratchPackage([
        `prebuilds/${here}/paho-mqtt-redis.napi.node`,
        `prebuilds/${here}/paho-mqtt-redis.glibc.napi.node`,
      ]);
      // The more specific file wins.
      assert.equal(findPrebuild(root), path.join(root, 'prebuilds', here, 'paho-mqtt-redis.glibc.napi.node'));
    }
  });

  it('PAHO_MQTT_REDIS_ADDON names the one file to load', () => {
    const root = scratchPackage([`prebuilds/${here}/paho-mqtt-redis.glibc.napi.node`]);
    const chosen = path.join(root, 'elsewhere.node');
    const saved = process.env.PAHO_MQTT_REDIS_ADDON;
    process.env.PAHO_MQTT_REDIS_ADDON = chosen;
    try {
      const error = loadError(root);
      assert.ok(error.message.includes(`${chosen}: not built`), error.message);
      assert.ok(!error.message.includes('prebuilds'), error.message);
    } finally {
      if (saved === undefined) delete process.env.PAHO_MQTT_REDIS_ADDON;
      else process.env.PAHO_MQTT_REDIS_ADDON = saved;
    }
  });
});
