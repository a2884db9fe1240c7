/**
 * Paho reports a server name that does not resolve as a bare "Failure [rc -1]", the same as a
 * refused connection. After such a failure, the names are looked up here, so the error can say
 * which one does not exist.
 */
import * as dns from 'node:dns';
import * as net from 'node:net';
import { PahoError } from '../errors';
import { serverHost } from './options';

const LOOKUP_DEADLINE_MS = 2000;

/** The host names (not IP literals) of `uris`, once each. */
function hostNames(uris: readonly string[]): string[] {
  const names = new Set<string>();
  for (const uri of uris) {
    const host = serverHost(uri);
    if (host !== undefined && host !== '' && net.isIP(host) === 0) names.add(host);
  }
  return [...names];
}

/** Why `host` does not resolve (a getaddrinfo code), or undefined when it does or the lookup is slow. */
async function unresolved(host: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), LOOKUP_DEADLINE_MS)));
  try {
    return await Promise.race([
      dns.promises.lookup(host).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? e.code : undefined),
      ),
      slow,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The connect failure `error`, with the server names that do not resolve added to its message
 * (the same error when every name resolves, or the failure was not Paho's generic one).
 */
export async function withUnresolvedHosts(error: unknown, uris: readonly string[]): Promise<unknown> {
  if (!(error instanceof PahoError) || error.code !== 'ERR_PAHO_FAILURE') return error;
  const names = hostNames(uris);
  const found = await Promise.all(names.map(async (name) => [name, await unresolved(name)] as const));
  const missing = found.filter(([, why]) => why !== undefined).map(([name, why]) => `'${name}' (${why})`);
  if (missing.length === 0) return error;
  const what = missing.length === 1 ? 'host name does not resolve' : 'host names do not resolve';
  return new PahoError(error.code, error.pahoCode, `${error.message}; the ${what}: ${missing.join(', ')}`, {
    cause: error.cause,
  });
}
