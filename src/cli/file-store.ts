/**
 * Paho's default file store (MQTTPersistenceDefault.c, `persistence: { dir }`), as `migrate` reads
 * and writes it: one directory per client, `<dir>/<clientId>-<serverURI with every ':' as '-'>`
 * (the URI without its scheme, as Paho names it), holding one file `<key>.msg` per record whose
 * bytes are the record as Paho passes it to a store. Paho lists every regular file of that
 * directory as a key (the name cut at ".msg"), so a stray file there reaches Paho's restore.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseKey } from '../persistence/records/paho-records';
import { pahoServerURI } from '../persistence/redis/options';
import { UsageError, printable } from './common';

export const RECORD_EXTENSION = '.msg';
/** Paho's mkdir mode for a client directory (S_IRWXU | S_IRGRP). */
const CLIENT_DIR_MODE = 0o740;

export interface FileRecord {
  key: string;
  data: Buffer;
}

/** The name of a client's directory, as Paho's pstopen builds it. */
export function clientDirName(clientId: string, serverUri: string): string {
  return `${clientId}-${pahoServerURI(serverUri).replace(/:/g, '-')}`;
}

/** A record's key from a file name, or undefined for a file that is not one of Paho's records. */
export function recordKeyOf(fileName: string): string | undefined {
  if (!fileName.endsWith(RECORD_EXTENSION)) return undefined;
  const key = fileName.slice(0, -RECORD_EXTENSION.length);
  const { kind, number } = parseKey(key);
  return kind === 'unknown' || number === null ? undefined : key;
}

/** The client directories under `baseDir` (for the message that names the ones that exist). */
export function listClientDirs(baseDir: string): string[] {
  try {
    return fs
      .readdirSync(baseDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.endsWith(STAGING_SUFFIX))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * The keys of one client's records (the files are read in chunks, see readRecords). Refuses
 * (UsageError, naming what exists instead) when the base or the client's directory is missing,
 * and when the directory holds other files: Paho would list those as keys too, so what they
 * are is for the user to decide.
 */
export function listClientRecords(baseDir: string, clientId: string, serverUri: string): string[] {
  const clientDir = path.join(baseDir, clientDirName(clientId, serverUri));
  if (!fs.existsSync(baseDir)) throw new UsageError(`--from-dir ${printable(baseDir)} does not exist`);
  if (!fs.statSync(baseDir).isDirectory()) throw new UsageError(`--from-dir ${printable(baseDir)} is not a directory`);
  if (!fs.existsSync(clientDir)) throw new UsageError(missingClientDir(baseDir, clientDir));
  const keys: string[] = [];
  const strays: string[] = [];
  for (const entry of fs.readdirSync(clientDir, { withFileTypes: true })) {
    const key = entry.isFile() ? recordKeyOf(entry.name) : undefined;
    if (key === undefined) strays.push(entry.name);
    else keys.push(key);
  }
  if (strays.length > 0) {
    throw new UsageError(
      `${printable(clientDir)} holds ${strays.length} file(s) that are not Paho records (<key>${RECORD_EXTENSION}): ` +
        `${strays.slice(0, 10).map(printable).join(', ')}${strays.length > 10 ? ', ...' : ''}; Paho would list them as keys too: move them away first`,
    );
  }
  return keys;
}

/** The records of the given keys, read from a client's directory. */
export function readRecords(clientDir: string, keys: readonly string[]): FileRecord[] {
  return keys.map((key) => ({ key, data: fs.readFileSync(path.join(clientDir, `${key}${RECORD_EXTENSION}`)) }));
}

function missingClientDir(baseDir: string, clientDir: string): string {
  const found = listClientDirs(baseDir);
  const holdsRecords = fs.readdirSync(baseDir).some((name) => recordKeyOf(name) !== undefined);
  const where = holdsRecords
    ? ` (${printable(baseDir)} itself holds Paho records: it is a client's directory, give its parent as --from-dir)`
    : found.length === 0
      ? ` (${printable(baseDir)} holds no client directories)`
      : `; the client directories there are: ${found.slice(0, 20).map(printable).join(', ')}${found.length > 20 ? ', ...' : ''}` +
        " (named '<clientId>-<host>-<port>': check --client-id and --server-uri)";
  return `no file store for this client: ${printable(clientDir)} does not exist${where}`;
}

const STAGING_SUFFIX = '.migrating';

/**
 * Writes a client's store so that Paho sees all of it or none: the files go into a staging
 * directory beside it (`<client dir>.migrating`, which Paho never lists), each synced, then the
 * staging directory is renamed into place. A staging directory a crashed run left is replaced.
 * Refuses when the client's directory holds files already.
 */
export function writeClientStore(baseDir: string, clientId: string, serverUri: string, records: FileRecord[]): string {
  const clientDir = path.join(baseDir, clientDirName(clientId, serverUri));
  if (fs.existsSync(clientDir) && fs.readdirSync(clientDir).length > 0)
    throw new Error(`${printable(clientDir)} is not empty: a file store for this client exists already`);
  const staging = `${clientDir}${STAGING_SUFFIX}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true, mode: CLIENT_DIR_MODE });
  for (const { key, data } of records) {
    const fd = fs.openSync(path.join(staging, `${key}${RECORD_EXTENSION}`), 'wx');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  syncDir(staging);
  // Renaming onto an empty directory replaces it (POSIX), so an empty one Paho left is no obstacle.
  fs.renameSync(staging, clientDir);
  syncDir(path.dirname(clientDir));
  return clientDir;
}

/** Deletes the files of the given records, then the client's directory if that left it empty (as Paho's close does). */
export function removeClientRecords(baseDir: string, clientId: string, serverUri: string, keys: string[]): void {
  const clientDir = path.join(baseDir, clientDirName(clientId, serverUri));
  for (const key of keys) fs.rmSync(path.join(clientDir, `${key}${RECORD_EXTENSION}`), { force: true });
  try {
    fs.rmdirSync(clientDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
