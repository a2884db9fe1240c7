/** Builds bench/backlog/paho-offline.c with gcc against Debian's libpaho-mqtt3as (what the addon links). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..', '..');
const SOURCE = path.join(REPO, 'bench', 'backlog', 'paho-offline.c');
const BINARY = path.join(REPO, 'out', 'bench', 'paho-offline');

/** Builds out/bench/paho-offline when it is missing or older than its source; returns its path. */
export function buildPahoOffline(): string {
  const stale = !fs.existsSync(BINARY) || fs.statSync(BINARY).mtimeMs < fs.statSync(SOURCE).mtimeMs;
  if (stale) {
    fs.mkdirSync(path.dirname(BINARY), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', BINARY, SOURCE, '-lpaho-mqtt3as', '-lpthread'], {
      stdio: 'inherit',
    });
  }
  return BINARY;
}
