/**
 * Reads LeakSanitizer reports (ASAN_OPTIONS log_path=...) and keeps the leaks this addon made.
 * A process that ends with process.exit() never frees V8's heap, Node's or Paho's state, so
 * LeakSanitizer lists many leaks that are not ours to judge; a leak is the addon's when the
 * first frame of its allocation stack outside the C/C++ runtime is in the addon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Leak {
  kind: 'Direct' | 'Indirect';
  bytes: number;
  /** The allocation site: the first frame outside the sanitizer and the C/C++ runtime. */
  site: string;
  /** True when that frame is in this addon (its module or its native/ sources). */
  ours: boolean;
}

const RUNTIME = /libasan|libstdc\+\+|libc\.so|libc-|asan_|sanitizer_common/;
const OUR_FRAME = /paho_mqtt_redis[^/\s]*\.node|\/native\//;

export function parseLeakReport(text: string): Leak[] {
  const leaks: Leak[] = [];
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/).slice(1)) {
    const head = /^(Direct|Indirect) leak of (\d+) byte/.exec(block);
    if (!head) continue;
    const frames = block.split('\n').filter((line) => /^\s+#\d+ /.test(line));
    const site = frames.find((frame) => !RUNTIME.test(frame)) ?? frames[0] ?? '';
    leaks.push({
      kind: head[1] as Leak['kind'],
      bytes: Number(head[2]),
      site: site.trim(),
      ours: OUR_FRAME.test(site),
    });
  }
  return leaks;
}

/** Every leak in the reports LeakSanitizer wrote under `dir` (files `<prefix>.<pid>`). */
export function readLeakReports(dir: string): Leak[] {
  return fs.readdirSync(dir).flatMap((name) => parseLeakReport(fs.readFileSync(path.join(dir, name), 'utf8')));
}
