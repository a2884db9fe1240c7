/**
 * The CLI's commands but inspect: help and version, argument errors, clear (asking, refusing
 * while a client holds the lease), password masking, and the bin as a process. inspect is in
 * cli-inspect.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { redactUrl } from '../../src/persistence/redis/redaction';
import { companionKeyName } from '../../src/persistence/redis/options';
import { HASH, PAHO_URI, PASSWORD, PREFIX, RECORDS, useCliStore } from '../helpers/cli-store';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const cli = useCliStore();
const { run, conn, fill } = cli;

test('--help for every command, and the global help', async () => {
  for (const cmd of ['inspect', 'clear', 'demo']) {
    const r = await run([cmd, '--help']);
    assert.equal(r.code, 0, cmd);
    assert.match(r.out, new RegExp(`^Usage: paho-mqtt-redis ${cmd}`));
    assert.equal(r.err, '');
    const short = await run([cmd, '-h']);
    assert.equal(short.out, r.out);
  }
  const h = await run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Commands:\n\s+inspect[\s\S]+clear[\s\S]+demo/);
  assert.match((await run(['help', 'clear'])).out, /--yes/);
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.equal(none.out, '');
  assert.match(none.err, /^paho-mqtt-redis: no command given.*\nRun 'paho-mqtt-redis --help' for usage\.\n$/);
});

test('--version prints the package version on stdout', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    assert.deepEqual(r, { code: 0, out: `${pkg.version}\n`, err: '' });
  }
});

test('unknown command, bad flags and missing targets: exit 2, one message and a pointer to --help on stderr', async () => {
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.err, "paho-mqtt-redis: unknown command 'frobnicate'\nRun 'paho-mqtt-redis --help' for usage.\n");
  const cases: Array<[string[], RegExp]> = [
    [['inspect', '--bogus'], /Unknown option '--bogus'/],
    [['inspect', '--url', cli.url], /give --client-id and --server-uri, or --hash/],
    [['inspect', '--url', cli.url, '--client-id', 'x'], /give --client-id and --server-uri, or --hash/],
    [['inspect', '--url', cli.url, '--hash', 'h', '--client-id', 'x'], /--hash cannot be combined/],
    [['inspect', '--url', cli.url, '--hash', 'h', 'extra'], /Unexpected argument 'extra'/],
    [['inspect', '--url', cli.url, '--hash', 'h', '--key-id', 'k'], /--encryption-key-file and --key-id go together/],
    [['inspect', '--url', cli.url, '--list', '--hash', 'h'], /--list cannot be combined with --hash/],
    [
      ['inspect', '--url', `http://user:${PASSWORD}@h`, '--hash', 'h'],
      /must be a redis:\/\/ or rediss:\/\/ URL, got http:\/\/.*\*\*\*@h/,
    ],
    [['clear', '--url', cli.url, '--hash', 'h', '--yes', 'no'], /Unexpected argument/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, re);
    // Help is not mixed into the error: the message, then where the help is.
    assert.match(
      r.err,
      new RegExp(`^paho-mqtt-redis ${argv[0]}: [^\n]+\nRun 'paho-mqtt-redis ${argv[0]} --help' for usage\\.\n$`),
    );
    assert.equal(r.out, '');
  }
});

test('clear without --yes and without a terminal refuses (exit 2) and removes nothing', async () => {
  await fill();
  const r = await run(['clear', ...conn()]);
  assert.equal(r.code, 2);
  assert.match(r.out, /holds 6 entries/);
  assert.match(r.err, /stdin is not a terminal; pass --yes/);
  assert.equal(await cli.redis.hlen(HASH), 6);
});

test('clear on a terminal asks: "n" keeps the hash, "y" deletes it', async () => {
  await fill();
  const no = Object.assign(new PassThrough(), { isTTY: true });
  no.end('n\n');
  const r1 = await run(['clear', ...conn()], no);
  assert.equal(r1.code, 1);
  assert.match(r1.out, /Remove all 6 entries\? \[y\/N\] not removed/);
  assert.equal(await cli.redis.hlen(HASH), 6);
  const yes = Object.assign(new PassThrough(), { isTTY: true });
  yes.end('yes\n');
  const r2 = await run(['clear', ...conn()], yes);
  assert.equal(r2.code, 0, r2.err);
  assert.match(r2.out, /removed 6 entries/);
  assert.equal(await cli.redis.exists(HASH), 0);
});

test('clear --yes removes the hash; a second clear has nothing to do', async () => {
  await fill();
  await fill(`${PREFIX}keep:${PAHO_URI}`, { 'c-1': RECORDS['c-10'] });
  const r = await run(['clear', ...conn(), '--yes']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /removed 6 entries \(hash clitest:sensor-1:127\.0\.0\.1:1883 deleted\)/);
  assert.equal(await cli.redis.exists(HASH), 0);
  assert.equal(await cli.redis.hlen(`${PREFIX}keep:${PAHO_URI}`), 1, 'other hashes untouched');
  const again = await run(['clear', ...conn(), '-y']);
  assert.equal(again.code, 0);
  assert.match(again.out, /^nothing to remove: hash clitest:sensor-1:127.0.0.1:1883 does not exist/);
});

test("clear refuses while a running client holds the store's lease; --force clears anyway", async () => {
  await fill();
  const lease = companionKeyName(HASH, 'lease');
  const token = JSON.stringify({ host: 'gateway-b', pid: 4242, since: '2026-01-01T00:00:00.000Z', id: 'x' });
  await cli.redis.set(lease, token, 'PX', 60_000);
  try {
    const refused = await run(['clear', ...conn(), '--yes']);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /the client is running, its lease is held by pid 4242 on host 'gateway-b'.*--force/);
    assert.equal(await cli.redis.hlen(HASH), 6, 'nothing removed');
    const forced = await run(['clear', ...conn(), '--yes', '--force']);
    assert.equal(forced.code, 0, forced.err);
    assert.equal(await cli.redis.exists(HASH), 0);
  } finally {
    await cli.redis.del(lease);
  }
});

test('Redis passwords are never echoed: wrong password, unreachable server', async () => {
  const wrong = cli.url.replace(PASSWORD, `${PASSWORD}-wrong`);
  const r = await run(['inspect', '--url', wrong, '--hash', HASH]);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot connect to Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+.*WRONGPASS|invalid/i);
  const closed = await run(['clear', '--url', `redis://admin:${PASSWORD}@127.0.0.1:1`, '--hash', 'h', '--yes']);
  assert.equal(closed.code, 1);
  assert.match(closed.err, /cannot connect to Redis at .*ECONNREFUSED/);
  assert.equal(redactUrl(`rediss://u:${PASSWORD}@h:1/0`), 'rediss://u:***@h:1/0');
  assert.equal(redactUrl('redis://h:1'), 'redis://h:1');
  assert.equal(redactUrl('redis://token-only@h:1'), 'redis://***@h:1');
  assert.equal(redactUrl('not a url redis://u:pw@h'), 'not a url redis://***@h');
});

test('the bin runs as a process: shebang, help, non-TTY clear refusal', async () => {
  assert.match(fs.readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const exec = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
      });
    });
  const help = await exec(['inspect', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: paho-mqtt-redis inspect/);
  await fill();
  const clear = await exec(['clear', ...conn()]);
  assert.equal(clear.code, 2);
  assert.ok(!clear.stderr.includes(PASSWORD) && !clear.stdout.includes(PASSWORD));
  assert.equal(await cli.redis.hlen(HASH), 6);
  const bad = await exec(['nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'nope'/);
  assert.equal(bad.stdout, '');
  const version = await exec(['--version']);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});
