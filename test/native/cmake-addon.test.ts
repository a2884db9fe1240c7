/**
 * The cmake-js build (CMakeLists.txt, the build system for CMake toolchains and SDKs) produces an addon
 * that works: built with `npm run build:cmake` into build-cmake/host/, loaded through
 * PAHO_MQTT_REDIS_ADDON in a child process, it publishes through Paho and a RedisPersistence store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/load-addon';
import { startMosquitto, startRedis, type MosquittoServer, type RedisServer } from '../helpers/servers';
import { runFixture, uid } from '../helpers/client-common';

const root = packageRoot();
const CMAKE_ADDON = path.join(root, 'build-cmake', 'host', 'Release', 'paho_mqtt_redis.node');

let broker: MosquittoServer;
let redis: RedisServer;
before(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
});
after(async () => {
  await Promise.all([broker?.stop(), redis?.stop()]);
});

describe('cmake-js build', () => {
  it('compiles the same sources with the same defines as binding.gyp', () => {
    const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
    const gypi = fs.readFileSync(path.join(root, 'native', 'addon.gypi'), 'utf8');
    const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
    const sources = (text: string): string[] =>
      [...new Set([...text.matchAll(/native\/[\w/-]+\.cc/g)].map((m) => m[0]))].sort();
    // The shipped addon: binding.gyp's sources but the test build's driver (native/test/).
    const shipped = (text: string): string[] => sources(text).filter((f) => !f.startsWith('native/test/'));
    assert.deepEqual(sources(cmake), shipped(gyp));
    // Every .cc under native/ is built (a file added to neither list would be dead code).
    const onDisk = fs
      .readdirSync(path.join(root, 'native'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.cc'))
      .map((f) => `native/${f.split(path.sep).join('/')}`)
      .sort();
    assert.deepEqual(sources(gyp), onDisk);
    const gypDefines = /'defines':\s*\[([^\]]*)\]/.exec(gypi)?.[1] ?? '';
    const cmakeDefines = /set\(ADDON_DEFINES\s+([^)]*)\)/.exec(cmake)?.[1] ?? '';
    assert.deepEqual(
      cmakeDefines.split(/\s+/).filter(Boolean).sort(),
      [...gypDefines.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort(),
    );
  });

  it('npm run build:cmake builds an addon that publishes through Paho and RedisPersistence', () => {
    // Incremental: a second run only checks the sources (cmake-js compile).
    const build = spawnSync('npm', ['run', '--silent', 'build:cmake'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build:cmake failed (needs cmake):\n${build.stdout}\n${build.stderr}`);
    assert.ok(fs.existsSync(CMAKE_ADDON), `${CMAKE_ADDON} was not built`);
  });

  it('the cmake-built addon publishes and receives a QoS 1 message through RedisPersistence', async () => {
    const topic = uid('cmake-topic');
    const child = runFixture('cmake-publish', { serverURI: broker.url, redisUrl: redis.url, topic }, undefined, {
      PAHO_MQTT_REDIS_ADDON: CMAKE_ADDON,
    });
    const exit = await child.exited;
    assert.equal(exit.code, 0, `child failed: ${child.stderr()}`);
    const report = JSON.parse(child.lines[0]) as { addon: string; paho: string; received: string; pending: number };
    assert.equal(report.addon, CMAKE_ADDON);
    assert.match(report.paho, /^1\.3\.\d+$/);
    assert.equal(report.received, 'through the cmake-built addon');
    assert.equal(report.pending, 0);
  });
});
