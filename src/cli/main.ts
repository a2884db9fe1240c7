#!/usr/bin/env node
/**
 * paho-mqtt-redis command line: inspect and clear the Redis hashes RedisPersistence writes,
 * and run the demo. Exit codes: 0 success, 1 failure (Redis, I/O, declined), 2 usage error.
 */
import { maskUrlCredentials, SecretRedactor } from '../persistence/redis/redaction';
import { clearCommand } from './clear';
import { type CliIO, UsageError, secretsOf } from './common';
import { demoUsage, runDemo } from './demo/demo';
import { CLEAR_HELP, DEMO_HELP, INSPECT_HELP, USAGE } from './help';
import { inspectCommand } from './inspect';

export type { CliIO } from './common';

async function demoCommand(args: string[], io: CliIO): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${DEMO_HELP}\n${demoUsage.trimEnd()}\n`);
    return 0;
  }
  return runDemo(args, io);
}

const HELP: Record<string, string> = { inspect: INSPECT_HELP, clear: CLEAR_HELP, demo: DEMO_HELP };

const COMMANDS: Record<string, (args: string[], io: CliIO) => Promise<number>> = {
  inspect: inspectCommand,
  clear: clearCommand,
  demo: demoCommand,
};

export async function main(
  argv: string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
): Promise<number> {
  const [command, ...rest] = argv;
  const secrets = argv.flatMap((a) => secretsOf(a.startsWith('--url=') ? a.slice(6) : a));
  const redactor = new SecretRedactor(secrets);
  const safe = (s: string): string => redactor.redact(maskUrlCredentials(s));
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const sub = command === 'help' ? rest[0] : undefined;
    if (sub !== undefined && COMMANDS[sub]) return COMMANDS[sub](['--help'], io);
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    io.stderr.write(safe(`paho-mqtt-redis: unknown command '${command}'\n\n`) + USAGE);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(safe(`paho-mqtt-redis ${command}: ${err.message}\n\n`) + HELP[command]);
      return 2;
    }
    io.stderr.write(safe(`paho-mqtt-redis ${command}: ${err instanceof Error ? err.message : String(err)}\n`));
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${maskUrlCredentials(String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
