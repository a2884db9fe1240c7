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
 * the headers it includes;
 * returns its path. Both Paho C benches (publish, offline backlog) build through it.
 */
export function buildPahoProgram(source: string, name: string): string {
  const sourcePath = path.join(REPO, 'bench', source);
  const binary = path.join(REPO, 'out', 'bench', name);
  const sources = [sourcePath, ...['paho-common.h', 'paho-user-store.h'].map((h) => path.join(REPO, 'bench', h))];
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
  /** Paho's file store in this directory; undefined: no persistence (or `userStore`). */
  fileStoreDir?: string;
  /**
   * A store of bench/paho-user-store.h: records in memory only, or also in this Redis ('redis-sync' waits
   * for every write, 'redis-barrier' only for the QoS 2 `sc-` put).
   */
  userStore?: { mode: 'memory' } | { mode: 'redis-sync' | 'redis-barrier'; redisUrl: string };
}

function storeArgument(spec: PahoTrialSpec): string {
  const store = spec.userStore;
  if (store === undefined) return spec.fileStoreDir ?? 'none';
  if (store.mode === 'memory') return 'memory';
  const url = new URL(store.redisUrl);
  return `${store.mode}:${url.hostname}:${url.port || '6379'}`;
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
    storeArgument(spec),
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
      const r = JSON.parse(out) as TrialResult & { redisCommands?: Record<string, number> };
      const commands = r.redisCommands ? Object.values(r.redisCommands).reduce((a, b) => a + b, 0) : 0;
      resolve({
        messages: r.messages,
        seconds: r.seconds,
        msgPerSec: r.msgPerSec,
        maxRssKb: r.maxRssKb,
        // Every command of this store is one waited round trip.
        redis: r.redisCommands && { commands, roundTrips: commands, byCommand: r.redisCommands },
      });
    });
  });
}
