/**
 * The plain Paho C rows: bench/paho-publish.c, built here with gcc against Debian's
 * libpaho-mqtt3as (/usr/include headers), the library the addon links.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrialResult } from './trial';

const REPO = path.resolve(__dirname, '..', '..', '..');
/**
 * Builds out/bench/<name> from bench/<source> when it is missing or older than its source or
 * bench/paho-common.h;
 * returns its path. Both Paho C benches (publish, offline backlog) build through it.
 */
export function buildPahoProgram(source: string, name: string): string {
  const sourcePath = path.join(REPO, 'bench', source);
  const binary = path.join(REPO, 'out', 'bench', name);
  const sources = [sourcePath, path.join(REPO, 'bench', 'paho-common.h')];
  const stale =
    !fs.existsSync(binary) || sources.some((file) => fs.statSync(binary).mtimeMs < fs.statSync(file).mtimeMs);
  if (stale) {
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', binary, sourcePath, '-lpaho-mqtt3as', '-lpthread'], {
      stdio: 'inherit',
    });
  }
  return binary;
}

/** out/bench/paho-publish, built from bench/paho-publish.c. */
export const buildPahoPublisher = (): string => buildPahoProgram('paho-publish.c', 'paho-publish');

export interface PahoTrialSpec {
  serverURI: string;
  qos: 1 | 2;
  messages: number;
  warmup: number;
  window: number;
  payloadBytes: number;
  maxInflight: number;
  /** Paho's file store in this directory; undefined: no persistence. */
  fileStoreDir?: string;
}

export function runPahoC(spec: PahoTrialSpec): Promise<TrialResult> {
  const args = [
    spec.serverURI,
    `bench-c-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    String(spec.qos),
    String(spec.messages),
    String(spec.warmup),
    String(spec.window),
    String(spec.payloadBytes),
    String(spec.maxInflight),
    spec.fileStoreDir ?? 'none',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(buildPahoPublisher(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`paho-publish exited with ${code ?? signal}: ${err.trim()}`));
        return;
      }
      const r = JSON.parse(out) as { messages: number; seconds: number; msgPerSec: number; maxRssKb: number };
      resolve({ messages: r.messages, seconds: r.seconds, msgPerSec: r.msgPerSec, maxRssKb: r.maxRssKb });
    });
  });
}
