/** bench/backlog/paho-offline.c, built with gcc against Debian's libpaho-mqtt3as (what the addon links). */
import { buildPahoProgram } from '../publish/paho-c';

/** out/bench/paho-offline, built when missing or older than its source; returns its path. */
export const buildPahoOffline = (): string => buildPahoProgram('backlog/paho-offline.c', 'paho-offline');
