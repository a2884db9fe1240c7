#!/usr/bin/env node
/**
 * paho-mqtt-redis command line: inspect and clear the Redis hashes RedisPersistence writes,
 * migrate a client's records between Paho's file store and Redis, and run the demo. Exit codes: 0 success, 1 failure (Redis, I/O, declined), 2 usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { maskUrlCredentials, SecretRedactor } from '../persistence/redis/redaction';
import { clearCommand } from './clear';
import { type CliIO, UsageError, secretsOf } from './common';
import { demoUsage, runDemo } from './demo/demo';
import { DEMO_HELP, USAGE } from './help';
import { inspectCommand } from './inspect';
import { migrateCommand } from './migrate';

export type { CliIO } from './common';

async function demoCommand(args: string[], io: CliIO): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${DEMO_HELP}\n${demoUsage.trimEnd()}\n`);
    return 0;
  }
  return runDemo(args, io);
}

const COMMANDS: Record<string, (args: string[], io: CliIO) => Promise<number>> = {
  inspect: inspectCommand,
  clear: clearCommand,
  migrate: migrateCommand,
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
  // Help goes to stdout when asked for; an error is one message on stderr and a pointer to the help.
  const usageError = (message: string, helpCommand: string): number => {
    io.stderr.write(safe(`${message}\n`) + `Run 'paho-mqtt-redis ${helpCommand}--help' for usage.\n`);
    return 2;
  };
  if (command === '--version' || command === '-V') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === undefined)
    return usageError('paho-mqtt-redis: no command given (inspect, clear, migrate or demo)', '');
  if (command === '--help' || command === '-h' || command === 'help') {
    const sub = command === 'help' ? rest[0] : undefined;
    if (sub !== undefined && COMMANDS[sub]) return COMMANDS[sub](['--help'], io);
    io.stdout.write(USAGE);
    return 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) return usageError(`paho-mqtt-redis: unknown command '${command}'`, '');
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) return usageError(`paho-mqtt-redis ${command}: ${err.message}`, `${command} `);
    io.stderr.write(safe(`paho-mqtt-redis ${command}: ${err instanceof Error ? err.message : String(err)}\n`));
    return 1;
  }
}

/** This package's version, from its package.json (found above dist/cli or out/src/cli). */
function packageVersion(): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'paho-mqtt-redis' && pkg.version) return pkg.version;
  }
  return 'unknown';
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
