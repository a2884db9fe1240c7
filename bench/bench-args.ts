/**
 * The flags of a bench script, parsed with node:util parseArgs: `--help` prints what the script
 * measures and its flags with their defaults; an unknown or malformed flag prints the same to
 * stderr with the reason and exits with 2 (instead of a stack trace).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';

type FlagSpec = { type: 'string' | 'boolean'; default?: string | boolean; short?: string };
type Flags = Record<string, FlagSpec>;
type FlagValues<F extends Flags> = {
  [K in keyof F]: F[K] extends { type: 'boolean' }
    ? boolean | (F[K] extends { default: boolean } ? never : undefined)
    : string | (F[K] extends { default: string } ? never : undefined);
};

/** One line per flag: the name, a value placeholder for string flags, the default and `about`. */
export function benchUsage(what: string, flags: Flags, about: Record<string, string>): string {
  const script = path.relative(process.cwd(), process.argv[1] ?? 'bench');
  const lines = Object.entries(flags).map(([name, spec]) => {
    const flag = `--${name}${spec.type === 'string' ? ' <value>' : ''}`;
    const fallback =
      spec.default === undefined || spec.default === false || spec.default === ''
        ? ''
        : ` (default: ${String(spec.default)})`;
    return `  ${flag.padEnd(28)} ${about[name] ?? ''}${fallback}`;
  });
  return [`${what}\n`, `usage: node ${script} [flags]\n`, ...lines, `  ${'--help'.padEnd(28)} this text`].join('\n');
}

export function benchArgs<F extends Flags>(what: string, flags: F, about: { [K in keyof F]: string }): FlagValues<F> {
  const usage = benchUsage(what, flags, about);
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ options: { ...flags, help: { type: 'boolean', default: false } }, strict: true }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}\n`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  delete values.help;
  return values as FlagValues<F>;
}
