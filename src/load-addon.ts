/**
 * Finds and loads the native addon. Order: PAHO_MQTT_REDIS_ADDON (a file named outright, e.g. a
 * cmake-js build), then the prebuild for this platform, CPU and libc in prebuilds/<platform>-<arch>/
 * (matched by node-gyp-build's rules, so `npm install` and this loader agree on what fits), then a
 * local source build in build/Release or build/Debug. When none loads, the error names every place
 * tried and why each failed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PahoMqttRedisError } from './errors';

const PACKAGE_NAME = 'paho-mqtt-redis';
const LOCAL_BUILDS = [
  path.join('build', 'Release', 'paho_mqtt_redis.node'),
  path.join('build', 'Debug', 'paho_mqtt_redis.node'),
];

interface PrebuildTags {
  file: string;
}
/** The parts of node-gyp-build this loader uses (it ships no types). */
interface NodeGypBuild {
  parseTuple(name: string): { name: string } | undefined;
  matchTuple(platform: string, arch: string): (tuple: { name: string } | undefined) => boolean;
  compareTuples(a: { name: string }, b: { name: string }): number;
  parseTags(file: string): PrebuildTags | undefined;
  matchTags(runtime: string, abi: string): (tags: PrebuildTags | undefined) => boolean;
  compareTags(runtime: string): (a: PrebuildTags, b: PrebuildTags) => number;
}

let loadedFrom: string | undefined;

/** The file the addon was loaded from (undefined before the first load). */
export function loadedAddonPath(): string | undefined {
  return loadedFrom;
}

/**
 * The package's root: the nearest folder at or above `from` whose package.json is this package's.
 * Compiled code sits at different depths (dist/ for the library, another folder for the tests).
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json is not ours: keep walking up.
      }
    }
    if (path.dirname(dir) === dir) {
      throw new PahoMqttRedisError(
        'ERR_ADDON_NOT_LOADED',
        `paho-mqtt-redis: no package.json named '${PACKAGE_NAME}' at or above ${from}`,
      );
    }
  }
}

/** The best prebuild for this process in root/prebuilds/, or undefined when none fits. */
export function findPrebuild(root: string): string | undefined {
  const ngb = require('node-gyp-build') as NodeGypBuild;
  const prebuilds = path.join(root, 'prebuilds');
  const tuple = readdir(prebuilds)
    .map((name) => ngb.parseTuple(name))
    .filter(ngb.matchTuple(process.platform, process.arch))
    .sort((a, b) => ngb.compareTuples(a!, b!))[0];
  if (!tuple) return undefined;
  const dir = path.join(prebuilds, tuple.name);
  const best = readdir(dir)
    .map((file) => ngb.parseTags(file))
    .filter(ngb.matchTags('node', process.versions.modules))
    .sort((a, b) => ngb.compareTags('node')(a!, b!))[0];
  return best ? path.join(dir, best.file) : undefined;
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Loads the addon (see the module comment for the order); throws ERR_ADDON_NOT_LOADED naming each place tried. */
export function loadAddon<T>(root: string = packageRoot()): T {
  const override = process.env.PAHO_MQTT_REDIS_ADDON;
  const prebuild = findPrebuild(root);
  const candidates = override
    ? [override]
    : [...(prebuild ? [prebuild] : []), ...LOCAL_BUILDS.map((file) => path.join(root, file))];
  const tried: string[] = [];
  if (!override && !prebuild) {
    tried.push(
      `${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)}${path.sep}: no prebuild for this platform`,
    );
  }
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate}: not built`);
      continue;
    }
    try {
      const addon = require(candidate) as T;
      loadedFrom = candidate;
      return addon;
    } catch (error) {
      // A prebuild that does not load here (an older glibc, a missing libssl3) leaves the local build.
      tried.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new PahoMqttRedisError(
    'ERR_ADDON_NOT_LOADED',
    `paho-mqtt-redis: the native addon did not load for ${process.platform}-${process.arch} (Node ${process.version}). Tried:\n` +
      tried.map((line) => `  - ${line}`).join('\n') +
      '\nTo build it from source (needs Paho C, libpaho-mqtt-dev on Debian, and a C++ toolchain): in an app, ' +
      "`npm rebuild paho-mqtt-redis` (npm versions that hold back dependencies' install scripts want " +
      '`npm install-scripts approve paho-mqtt-redis` first); in a checkout of this package, `npm run build:native`.',
  );
}
