/**
 * The bench scripts' flags: --help prints every flag with its default and exits 0; an unknown flag
 * exits 2 with the reason and the same text, before anything is started.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const benchDir = path.join(__dirname, '..', '..', 'bench');
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(benchDir, script), ...args], { encoding: 'utf8', timeout: 30_000 });

describe('bench flags', () => {
  for (const script of ['publish.bench.js', 'backlog.bench.js', 'instructions.js', 'encryption.bench.js', 'soak.js']) {
    it(`${script} --help lists its flags and exits 0`, () => {
      const { status, stdout } = run(script, ['--help']);
      assert.equal(status, 0);
      assert.match(stdout, /^usage: node .*\[flags\]$/m);
      assert.match(stdout, /^ {2}--help +this text$/m);
      assert.ok(stdout.split('\n').filter((line) => line.startsWith('  --')).length >= 3, stdout);
    });
  }

  it('an unknown flag exits 2 with the reason and the usage, and starts nothing', () => {
    const { status, stderr, stdout } = run('publish.bench.js', ['--mesages', '10']);
    assert.equal(status, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /Unknown option '--mesages'/);
    assert.match(stderr, /--messages <value> +messages per trial/);
  });

  it('shows the defaults', () => {
    const { stdout } = run('publish.bench.js', ['--help']);
    assert.match(stdout, /--qos <value> +QoS levels to run, comma-separated \(default: 1,2\)/);
    assert.doesNotMatch(stdout, /\(default: \)/);
  });
});
