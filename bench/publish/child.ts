/** Runs one trial.ts child (a TrialSpec) and returns the last JSON line it printed. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { TrialSpec } from './trial';

export function runTrial<T>(spec: TrialSpec): Promise<T> {
  const script = path.join(__dirname, 'trial.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (spec.kind === 'soak') process.stderr.write(d); // its progress
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0)
        reject(new Error(`trial ${spec.kind} ${spec.store} exited with ${code ?? signal}: ${err.trim()}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
    });
  });
}
