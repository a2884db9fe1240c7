/**
 * Teardown while native threads are blocked inside a persistence callback (a store whose
 * `get` never settles, operationTimeoutMs 60000): process.exit(), an uncaught exception,
 * worker.terminate(), process.exit() inside a worker, and several workers at once. Each
 * case runs in a child process (test/fixtures/teardown-child.ts) so a hang or a crash is
 * measured from outside and can never take this test process down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'teardown-child.js');
const GIVE_UP_MS = 6000;

// The test driver runs its calls on a thread of its own, not on the libuv pool: Node joins
// that pool at process.exit() and drains it before a worker's cleanup hooks run, so pool
// work that waits on JS would hang every case below.

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child's Date.now() right before the timed end, if it printed one. */
  markAt?: number;
  /** This process's Date.now() when the child exited. */
  exitAt: number;
  /** True when the child had to be killed after GIVE_UP_MS. */
  killed: boolean;
  result?: Record<string, unknown>;
}

function runChild(mode: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      killed = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, GIVE_UP_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      const exitAt = Date.now();
      clearTimeout(timer);
      // Let the pipes drain before parsing.
      child.once('close', () => {
        const mark = /^MARK (\d+)$/m.exec(stdout);
        const result = /^RESULT (.*)$/m.exec(stdout);
        resolve({
          code,
          signal,
          stdout,
          stderr,
          exitAt,
          killed,
          markAt: mark ? Number(mark[1]) : undefined,
          result: result ? (JSON.parse(result[1]) as Record<string, unknown>) : undefined,
        });
      });
    });
  });
}

function describeRun(run: ChildRun): string {
  return (
    `code ${run.code}, signal ${run.signal}${run.killed ? `, KILLED after ${GIVE_UP_MS} ms (hung)` : ''}\n` +
    `stdout: ${run.stdout.trim()}\nstderr: ${run.stderr.trim().slice(0, 2000)}`
  );
}

function assertNoCrash(run: ChildRun): void {
  assert.equal(run.killed, false, `the child hung: ${describeRun(run)}`);
  assert.equal(run.signal, null, `the child died of a signal: ${describeRun(run)}`);
  assert.doesNotMatch(run.stderr, /Segmentation|Abort|terminate called|FATAL ERROR|core dumped/i, describeRun(run));
}

describe('teardown with C threads blocked in a persistence callback', () => {
  it('process.exit(0) exits within 1 s, cleanly', async () => {
    const run = await runChild('exit');
    assert.match(run.stdout, /^BLOCKED 4$/m, `the fixture did not block its threads: ${describeRun(run)}`);
    assertNoCrash(run);
    assert.equal(run.code, 0, describeRun(run));
    assert.ok(run.markAt !== undefined, describeRun(run));
    const ms = run.exitAt - run.markAt;
    assert.ok(ms < 1000, `exit took ${ms} ms after process.exit()`);
  });

  it('an uncaught exception exits with code 1 promptly, without a crash signal', async () => {
    const run = await runChild('throw');
    assert.match(run.stdout, /^BLOCKED 4$/m, `the fixture did not block its threads: ${describeRun(run)}`);
    assertNoCrash(run);
    assert.equal(run.code, 1, describeRun(run));
    assert.match(run.stderr, /uncaught on purpose/);
    const ms = run.exitAt - run.markAt!;
    assert.ok(ms < 1000, `exit took ${ms} ms after the throw`);
  });

  it('worker.terminate() resolves within 1 s and the parent stays healthy', async () => {
    const run = await runChild('worker-terminate');
    assertNoCrash(run);
    assert.equal(run.code, 0, describeRun(run));
    assert.ok(run.result, `no result: ${describeRun(run)}`);
    assert.equal(run.result.parked, 4);
    assert.equal(run.result.code, 1, 'terminate() resolves with exit code 1');
    assert.ok((run.result.ms as number) < 1000, `terminate() took ${String(run.result.ms)} ms`);
    assert.equal(run.result.roundTrip, true, 'the parent could not use the bridge afterwards');
  });

  it('a worker calling process.exit() itself ends within 1 s and the parent stays healthy', async () => {
    const run = await runChild('worker-exit');
    assertNoCrash(run);
    assert.equal(run.code, 0, describeRun(run));
    assert.ok(run.result, `no result: ${describeRun(run)}`);
    assert.equal(run.result.parked, 4);
    assert.equal(run.result.code, 3, "the worker's exit code");
    assert.ok((run.result.ms as number) < 1000, `the worker took ${String(run.result.ms)} ms to exit`);
    assert.equal(run.result.roundTrip, true);
  });

  it('3 workers, each with its own addon instance, run stress at the same time', async () => {
    const run = await runChild('workers-stress');
    assertNoCrash(run);
    assert.equal(run.code, 0, describeRun(run));
    const result = run.result as {
      results: Array<{ result: { calls: number; failures: number; problems: string[] }; failures: string[] }>;
      codes: number[];
    };
    assert.ok(result, `no result: ${describeRun(run)}`);
    assert.equal(result.results.length, 3);
    for (const [i, r] of result.results.entries()) {
      assert.equal(r.result.failures, 0, `worker ${i}: ${r.result.problems.join('; ')}`);
      assert.ok(r.result.calls >= 10_000, `worker ${i} made ${r.result.calls} calls`);
      assert.deepEqual(r.failures, [], `worker ${i} reported failures`);
    }
    assert.deepEqual(result.codes, [0, 0, 0]);
  });
});
