/**
 * The bench's go-ahead to a child, one line on the child's stdin. The parent may write it at any
 * time, even before the child listens (the pipe holds it), and ends stdin after it. The child
 * stops reading once the line came: a readline interface left open on stdin keeps the child's
 * event loop alive after its work is done, so it would never exit (the parent waits for its exit).
 */
import type { Writable } from 'node:stream';
import * as readline from 'node:readline';

/** In the child: resolves on the first line of stdin; rejects if stdin ends without one. */
export function waitForLine(what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: process.stdin });
    let received = false;
    lines.once('line', () => {
      received = true;
      resolve();
      lines.close(); // emits 'close' at once, after `received` is set
    });
    lines.once('close', () => {
      process.stdin.destroy(); // nothing more is read: no handle left to keep the process alive
      if (!received) reject(new Error(`the bench closed stdin before the ${what} line`));
    });
  });
}

/** In the parent: the go-ahead line, and the end of the child's stdin. */
export function sendLine(stdin: Writable, line: string): void {
  stdin.end(`${line}\n`);
}
