/**
 * For the migrate tests (not a test file): a client's names and paths, and hand-built queued
 * PUBLISH records in Paho's file store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clientDirName } from '../../src/cli/file-store';
import { hashName, pahoServerURI } from '../../src/persistence/redis/options';
import { uid } from './client-common';
import { NO_PROPS, publishCommand } from './paho-record-builders';

export interface MigrateClient {
  clientId: string;
  /** The URI it connects to (names its directory and hash). */
  serverUri: string;
  /** The file store's directory (`persistence: { dir }`). */
  dir: string;
  hash: string;
  /** Where Paho keeps this client's records under `dir`. */
  clientDir: string;
  /** The CLI's arguments naming it: --url, --client-id, --server-uri. */
  args: string[];
}

/** A client of its own, its directory under `tmp`. */
export function migrateClient(tag: string, where: { tmp: string; redisUrl: string; serverUri: string }): MigrateClient {
  const clientId = uid(tag);
  const { serverUri } = where;
  const dir = path.join(where.tmp, tag);
  fs.mkdirSync(dir, { recursive: true });
  return {
    clientId,
    serverUri,
    dir,
    hash: hashName('', clientId, pahoServerURI(serverUri)),
    clientDir: path.join(dir, clientDirName(clientId, serverUri)),
    args: ['--url', where.redisUrl, '--client-id', clientId, '--server-uri', serverUri],
  };
}

/** A queued PUBLISH command as Paho 1.3 writes it: `c-N` under MQTT 3.1.1, `c5-N` under MQTT 5. */
export function command(
  mqttVersion: 4 | 5,
  token: number,
  topic: string,
  payload: string,
  qos: number,
): [string, Buffer] {
  const props = mqttVersion === 5 ? NO_PROPS : undefined;
  const data = publishCommand({ token, topic, payload: Buffer.from(payload), qos, retained: 0, props });
  return [`${mqttVersion === 5 ? 'c5-' : 'c-'}${token}`, data];
}

export function writeFiles(clientDir: string, records: Record<string, Buffer>): void {
  fs.mkdirSync(clientDir, { recursive: true });
  for (const [key, data] of Object.entries(records)) fs.writeFileSync(path.join(clientDir, `${key}.msg`), data);
}

/** Three queued publishes, tokens 1 to 3. */
export const someRecords = (mqttVersion: 4 | 5 = 4): Record<string, Buffer> =>
  Object.fromEntries([
    command(mqttVersion, 1, 'm/a', 'one', 1),
    command(mqttVersion, 2, 'm/a', 'two', 2),
    command(mqttVersion, 3, 'm/b', 'three', 1),
  ]);
