/**
 * Memcheck over the native bridge: the fixtures run under
 *   valgrind --error-exitcode=99 --leak-check=no --trace-children=no node <fixture>
 * and must exit 0 with "ERROR SUMMARY: 0 errors". Node 20 runs clean under memcheck here
 * (no suppressions needed); if a future Node/V8 reports false positives, add narrow
 * suppressions for node/V8 internals only to test/valgrind.supp (it is passed when present),
 * never for native/ code. Skipped only when valgrind is not installed.
 *
 * Run alone: npx tsc -p tsconfig.json && node --test out/test/native/valgrind.test.js
 * Runtime: about 15 s + 40 s on a 2-vCPU VM.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SUPPRESSIONS = path.join(ROOT, 'test', 'valgrind.supp');
const RUN_TIMEOUT_MS = 170_000;

function valgrindVersion(): string | undefined {
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function underValgrind(fixture: string, args: string[]): Promise<Run> {
  const vgArgs = ['--error-exitcode=99', '--leak-check=no', '--trace-children=no'];
  if (fs.existsSync(SUPPRESSIONS)) vgArgs.push(`--suppressions=${SUPPRESSIONS}`);
  vgArgs.push(process.execPath, path.join(__dirname, '..', 'fixtures', fixture), ...args);
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', vgArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, RUN_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The first memcheck error reports, for the assertion message. */
function errorBlocks(stderr: string): string {
  const lines = stderr.split('\n');
  const first = lines.findIndex((l) =>
    /^==\d+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument|Jump to|Process terminating)/.test(
      l,
    ),
  );
  return first < 0 ? stderr.slice(-3000) : lines.slice(first, first + 80).join('\n');
}

function assertClean(run: Run, marker: RegExp): void {
  assert.equal(run.timedOut, false, `valgrind run did not finish within ${RUN_TIMEOUT_MS} ms`);
  assert.match(
    run.stderr,
    /ERROR SUMMARY: 0 errors from 0 contexts/,
    `memcheck found errors:\n${errorBlocks(run.stderr)}`,
  );
  assert.equal(run.signal, null, `died of ${String(run.signal)}:\n${run.stderr.slice(-3000)}`);
  assert.equal(run.code, 0, `exit code ${String(run.code)} (99 = memcheck errors):\n${run.stderr.slice(-3000)}`);
  assert.match(run.stdout, marker, `the fixture did not finish its work:\n${run.stdout}\n${run.stderr.slice(-3000)}`);
}

describe('valgrind memcheck', () => {
  const version = valgrindVersion();

  it(
    'script, stress (2 x 500), failures and a timeout with MemoryPersistence: no memcheck errors',
    { timeout: RUN_TIMEOUT_MS + 10_000 },
    async (t) => {
      if (version === undefined) {
        t.skip('valgrind is not installed (apt-get install valgrind)');
        return;
      }
      const run = await underValgrind('valgrind-run.js', ['2', '500']);
      assertClean(run, /^VALGRIND-FIXTURE-OK /m);
    },
  );

  it(
    '3 worker threads, each loading the addon and running a stress, then exiting: no memcheck errors',
    { timeout: RUN_TIMEOUT_MS + 10_000 },
    async (t) => {
      if (version === undefined) {
        t.skip('valgrind is not installed (apt-get install valgrind)');
        return;
      }
      const run = await underValgrind('teardown-child.js', ['workers-stress']);
      assertClean(run, /^RESULT .*"codes":\[0,0,0\]/m);
      const result = JSON.parse(/^RESULT (.*)$/m.exec(run.stdout)![1]) as {
        results: Array<{ result: { failures: number } }>;
      };
      assert.deepEqual(
        result.results.map((r) => r.result.failures),
        [0, 0, 0],
        `stress failures per worker: ${JSON.stringify(result.results)}`,
      );
    },
  );
});
