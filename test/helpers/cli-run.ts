/** Runs the CLI's main() in this process with captured output (what a shell would show). */
import { PassThrough, Writable } from 'node:stream';
import { main, type CliIO } from '../../src/cli/main';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
}

/** `stdin`: what the command reads (a confirmation prompt); none by default. */
export async function runCli(argv: string[], stdin?: PassThrough & { isTTY?: boolean }): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { stdout: sink(out), stderr: sink(err), stdin: stdin ?? new PassThrough() };
  const code = await main(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}
