/**
 * LeakSanitizer on the ways a process ends with live native state: process.exit() with threads
 * parked in a store call, an uncaught exception, process.exit() with QoS 1 publishes in flight
 * over Redis, and a natural exit of an unref'd connected client. Each runs in a child process
 * with the sanitizer's leak detection on; none may leave a leak whose allocation site is in the
 * addon. Runs under `npm run test:asan` (which sets PMR_LSAN=1 and loads the ASan build); a
 * first child loses memory on purpose to show the check sees this addon's leaks.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLeakReports, type Leak } from '../helpers/leak-report';
import { useFileServers } from '../helpers/file-servers';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const enabled = process.env.PMR_LSAN === '1';
const GIVE_UP_MS = 60_000;

interface Ended {
  code: number | null;
  stdout: string;
  leaks: Leak[];
}

/** Runs `args` under LeakSanitizer; resolves with the leaks it reported. */
function runWithLeakCheck(args: string[]): Promise<Ended> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-lsan-'));
  const asanOptions =
    `detect_leaks=1:exitcode=0:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1:` +
    `log_path=${path.join(dir, 'report')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: asanOptions },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new Error(`child ${args.join(' ')} ended by ${signal}; stderr: ${stderr}`));
      try {
        resolve({ code, stdout, leaks: readLeakReports(dir) });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

function assertNoLeakOfOurs(t: TestContext, ended: Ended): void {
  const bytes = ended.leaks.reduce((sum, leak) => sum + leak.bytes, 0);
  t.diagnostic(`LeakSanitizer listed ${ended.leaks.length} leaks (${bytes} bytes) of Node, V8 and Paho`);
  const ours = ended.leaks.filter((leak) => leak.ours);
  assert.deepEqual(
    ours.map((leak) => `${leak.kind} ${leak.bytes} B at ${leak.site}`),
    [],
    `the addon leaked (of ${ended.leaks.length} leaks LeakSanitizer listed)`,
  );
}

describe('LeakSanitizer at process end', { skip: enabled ? false : 'runs under npm run test:asan' }, () => {
  const servers = useFileServers();

  it('sees a leak of this addon (a child loses 4099 bytes on purpose)', async () => {
    const driver = path.join(__dirname, '..', 'helpers', 'test-driver.js');
    const ended = await runWithLeakCheck(['-e', `require(${JSON.stringify(driver)}).testDriver.leakForTest(4099)`]);
    const ours = ended.leaks.filter((leak) => leak.ours);
    assert.ok(
      ours.some((leak) => leak.kind === 'Direct' && leak.bytes === 4099),
      `expected the 4099-byte leak among ${JSON.stringify(ended.leaks.slice(0, 5))}`,
    );
  });

  for (const mode of ['exit', 'throw']) {
    it(`process ${mode === 'exit' ? 'exit()' : 'uncaught exception'} with native threads parked in a store call`, async (t) => {
      const ended = await runWithLeakCheck([path.join(FIXTURES, 'teardown-child.js'), mode]);
      assert.match(ended.stdout, /BLOCKED \d+/, 'the child parked its threads before it ended');
      assertNoLeakOfOurs(t, ended);
    });
  }

  it('process.exit() with QoS 1 publishes in flight over Redis', async (t) => {
    const config = { mode: 'exit', serverURI: servers.broker.url, redisUrl: servers.redis.url };
    const ended = await runWithLeakCheck([path.join(FIXTURES, 'client-teardown.js'), JSON.stringify(config)]);
    assert.match(ended.stdout, /exiting/);
    assertNoLeakOfOurs(t, ended);
  });

  it('a connected, subscribed client unref()ed: the process ends by itself', async (t) => {
    const config = { mode: 'unref', serverURI: servers.broker.url, redisUrl: servers.redis.url };
    const ended = await runWithLeakCheck([path.join(FIXTURES, 'client-teardown.js'), JSON.stringify(config)]);
    assert.match(ended.stdout, /ready/);
    assert.equal(ended.code, 0);
    assertNoLeakOfOurs(t, ended);
  });
});
