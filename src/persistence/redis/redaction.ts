/**
 * Keeps Redis credentials out of what RedisPersistence reports: error messages, the `cause` it
 * attaches, and the address it names.
 */

/** Commands whose arguments carry credentials. */
const SECRET_ARG_COMMANDS = new Set(['auth', 'hello', 'migrate', 'config', 'acl']);

export class SecretRedactor {
  /** @param secrets Strings that must never appear in an error message (passwords). */
  constructor(private readonly secrets: readonly string[]) {}

  /** The message of `err` (or its name, or its string form), with every secret masked. */
  describe(err: unknown): string {
    const msg = err instanceof Error ? err.message || err.name : String(err);
    return this.redact(msg);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (s) out = out.split(s).join('***');
    return out;
  }

  /**
   * The original error, or a copy without secrets: no password in its message or stack, and no
   * AUTH/HELLO arguments in the `command` ioredis attaches to reply errors.
   */
  sanitize(err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    const command = (err as { command?: { name?: unknown; args?: unknown } }).command;
    const clean = this.redact(err.message);
    if (clean === err.message && command === undefined) return err;
    const copy = new Error(clean) as Error & { command?: unknown };
    copy.name = err.name;
    copy.stack = this.redact(err.stack ?? clean);
    if (command !== undefined && command !== null && typeof command === 'object') {
      const name = typeof command.name === 'string' ? command.name : String(command.name);
      const args: unknown[] = Array.isArray(command.args) ? command.args : [];
      copy.command = {
        name,
        args: SECRET_ARG_COMMANDS.has(name.toLowerCase())
          ? args.map(() => '***')
          : args.map((a) => (typeof a === 'string' ? this.redact(a) : a)),
      };
    }
    return copy;
  }
}

/** Masks the credentials of every URL in a text (`scheme://user:pass@` -> `scheme://***@`). */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
}

/** The url with its password (or a lone user name, which may be a token) replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    else if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return maskUrlCredentials(url);
  }
}
