/**
 * A user's app built from the package as npm ships it: a clean clone of HEAD is packed (its
 * `prepare` script builds dist/), and the tarball is installed into a scratch folder.
 *
 * Three ways to resolve the package's dependencies:
 * - `'locked'`: the versions package-lock.json holds (the blocking tests: reproducible);
 * - `'lowest'`: the lowest versions package.json's ranges allow (still reproducible);
 * - `'newest'`: whatever a user's `npm install` gets today (the drift check: not reproducible).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const STEP_TIMEOUT_MS = 10 * 60_000;

type LockEntry = { version: string; dev?: boolean; dependencies?: Record<string, string> };
type Manifest = { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };

export const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
const lockPackages = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  }
).packages;

/** The tools a TypeScript user adds next to the package; their versions come from the lockfile. */
const USER_TOOLS = ['typescript', '@types/node'];

/** npm builds offline against the installed Node headers. */
export const npmEnv = {
  ...process.env,
  npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

export function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = npmEnv,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** Clones HEAD into `work/clone` and packs it there; returns the tarball's path. */
export async function packHead(work: string): Promise<string> {
  const clone = path.join(work, 'clone');
  const head = (await run('git', ['rev-parse', 'HEAD'], ROOT)).stdout.trim();
  await run('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone], work);
  await run('git', ['checkout', '--quiet', head], clone);
  // Dependencies only: `npm pack` itself must build dist/ (the prepare script).
  await run('npm', ['ci', '--ignore-scripts', '--prefer-offline'], clone);
  assert.equal(fs.existsSync(path.join(clone, 'dist')), false, 'a clean clone has no dist/');
  return packIn(clone, work);
}

/** `npm pack` in `dir`, the tarball written to `dest`. */
export async function packIn(dir: string, dest: string): Promise<string> {
  const name = (await run('npm', ['pack', '--pack-destination', dest], dir)).stdout.trim().split('\n').at(-1)!;
  return path.join(dest, name);
}

/** The lockfile's version of every package `names` need (their dependencies included). */
function lockedClosure(names: string[]): Record<string, string> {
  const versions: Record<string, string> = {};
  const todo = [...names];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (versions[name]) continue;
    const entry = lockPackages[`node_modules/${name}`];
    assert.ok(entry, `package-lock.json holds ${name}`);
    versions[name] = entry.version;
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  return versions;
}

/** What the lockfile pins for a user's app: the package's dependencies (all levels) and the tools. */
export const lockedVersions = (): Record<string, string> =>
  lockedClosure([...Object.keys(manifest.dependencies), ...USER_TOOLS]);

/** The lowest version of each direct dependency that package.json's range allows. */
async function lowestVersions(cwd: string): Promise<Record<string, string>> {
  const lowest: Record<string, string> = {};
  for (const [name, range] of Object.entries(manifest.dependencies)) {
    const { stdout } = await run('npm', ['view', '--prefer-offline', `${name}@${range}`, 'version', '--json'], cwd);
    const matching = JSON.parse(stdout) as string | string[];
    lowest[name] = Array.isArray(matching) ? matching[0] : matching;
  }
  return lowest;
}

export type Resolution = 'locked' | 'lowest' | 'newest';

/**
 * Installs `tarball` into a new app folder `dir` with typescript and @types/node beside it.
 * `ignoreScripts` skips the addon build (enough for type checks).
 */
export async function installApp(
  dir: string,
  tarball: string,
  resolution: Resolution,
  { ignoreScripts = false, env = npmEnv }: { ignoreScripts?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const locked = lockedVersions();
  const tools = Object.fromEntries(
    USER_TOOLS.map((name) => [name, resolution === 'newest' ? manifest.devDependencies[name] : locked[name]]),
  );
  // npm refuses an override of the app's own direct dependencies: those are pinned above.
  const overrides =
    resolution === 'locked'
      ? Object.fromEntries(Object.entries(locked).filter(([name]) => !USER_TOOLS.includes(name)))
      : resolution === 'lowest'
        ? await lowestVersions(dir)
        : undefined;
  const app = {
    name: path.basename(dir),
    private: true,
    dependencies: { 'paho-mqtt-redis': `file:${tarball}`, ...tools },
    ...(overrides && { overrides }),
  };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(app, null, 2));
  const args = ['install', ...(ignoreScripts ? ['--ignore-scripts'] : [])];
  // Pinned versions come from npm's cache; 'newest' must ask the registry what is newest.
  if (resolution !== 'newest') args.push('--prefer-offline');
  await run('npm', args, dir, env);
}

/** Installed versions in `app` that differ from the lockfile's, as "name locked -> installed". */
export function movedDependencies(app: string): string[] {
  const installed = (
    JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    }
  ).packages;
  const locked = lockedVersions();
  const moved: string[] = [];
  for (const [where, entry] of Object.entries(installed)) {
    const name = where.replace(/^.*node_modules\//, '');
    if (!where || where.endsWith('node_modules/paho-mqtt-redis')) continue;
    if (locked[name] !== entry.version)
      moved.push(`${name} ${locked[name] ?? '(not in the lockfile)'} -> ${entry.version}`);
  }
  return moved.sort();
}

/** A use of the public types a TypeScript user writes; compiled ESM and CJS with `strict`. */
const TYPED_USE = `
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

/** `tsc --strict` (no skipLibCheck) over the typed use, as ESM and as CJS, in `app`. */
export async function compileStrict(app: string): Promise<void> {
  fs.writeFileSync(path.join(app, 'use-esm.mts'), TYPED_USE);
  fs.writeFileSync(path.join(app, 'use-cjs.cts'), TYPED_USE);
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
      files: ['use-esm.mts', 'use-cjs.cts'],
    }),
  );
  await run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
}

/** The first ```ts block after `heading` in `readmePath`, its server URLs replaced by `urls`. */
export function readmeBlock(readmePath: string, heading: string, urls: { broker: string; redis: string }): string {
  const readme = fs.readFileSync(readmePath, 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has a '${heading}' section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `README's '${heading}' section has a ts block`);
  return block[1].replaceAll('tcp://127.0.0.1:1883', urls.broker).replaceAll('redis://127.0.0.1:6379', urls.redis);
}

/** Compiles the README block under `heading` strictly in `app`; returns the .mjs file to run. */
export async function compileReadmeBlock(
  app: string,
  heading: string,
  name: string,
  urls: { broker: string; redis: string },
): Promise<string> {
  const readme = path.join(app, 'node_modules', 'paho-mqtt-redis', 'README.md');
  fs.writeFileSync(path.join(app, `${name}.mts`), readmeBlock(readme, heading, urls));
  const tsc = path.join(app, 'node_modules', '.bin', 'tsc');
  await run(tsc, ['--strict', '--module', 'nodenext', '--target', 'es2022', '--types', 'node', `${name}.mts`], app);
  return `${name}.mjs`;
}
