/** Help texts of the command line. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export const USAGE = `Usage: paho-mqtt-redis <command> [options]

Commands:
  inspect   decode the Paho records stored for one client (or --list the client hashes)
  clear     delete the hash holding one client's records
  migrate   copy one client's records between Paho's file store and Redis
  demo      run the demo

Options:
  -h, --help     show this help
  -V, --version  print the version

Run 'paho-mqtt-redis <command> --help' for the options of a command.
`;

export const CONNECTION_HELP = `Connection:
  --url URL                 Redis URL (default ${DEFAULT_REDIS_URL}, or $PAHO_MQTT_REDIS_URL)
  --key-prefix P            prefix of the hash names (default: none, like RedisPersistence)
Target (one of):
  --client-id ID --server-uri URI   the hash \${prefix}\${clientId}:\${serverURI}; the URI as given to
                                    AsyncClient (tcp://host:1883) or as Paho names it (host:1883)
  --hash NAME                       a hash name, used as given (e.g. sensor-7:127.0.0.1:1883)
`;

export const INSPECT_HELP = `Usage: paho-mqtt-redis inspect (--client-id ID --server-uri URI | --hash NAME) [options]
       paho-mqtt-redis inspect --list [--url URL] [--key-prefix P] [--json]

Decodes every record in a client's hash: queued commands (c-), sent PUBLISH (s-) and
PUBREL (sc-), received QoS 2 PUBLISH (r-) and undelivered inbound messages (q-); then how
many messages wait in the client's outbox (client.enqueue()).

${CONNECTION_HELP}Options:
  --json                    print a JSON array instead of a table
  --payload                 show a preview of each payload (text, or hex when not printable),
                            and the first 10 entries of the outbox
  --list                    list the hashes matching \${prefix}*:* with their entry counts
  --encryption-key-file F   key for encrypted values: 32 raw bytes, 64 hex digits or base64
  --key-id K                the keyId of that key (required with --encryption-key-file)
  -h, --help                show this help
`;

export const CLEAR_HELP = `Usage: paho-mqtt-redis clear (--client-id ID --server-uri URI | --hash NAME) [options]

Deletes the hash holding a client's persisted records and its outbox (queued, enqueued and
in-flight messages are lost). Refuses while that client is running (its store's lease is held by a live process).
Asks for confirmation on a terminal; without a terminal, --yes is required.

${CONNECTION_HELP}Options:
  -y, --yes                 do not ask for confirmation
      --force               clear even while the client's lease is held
  -h, --help                show this help
`;

export const MIGRATE_HELP = `Usage: paho-mqtt-redis migrate --from-dir DIR --client-id ID --server-uri URI [options]
       paho-mqtt-redis migrate --to-dir DIR --client-id ID --server-uri URI [options]

Copies one client's records between Paho's file store (persistence: { dir: DIR }, the
directory DIR/<clientId>-<host>-<port>, one <key>.msg file per record) and its Redis hash
\${prefix}\${clientId}:\${serverURI}, byte for byte, all or nothing. Stop the client first:
the copy refuses while the client's lease is held, and holds the lease while it runs.

- A target that holds records already is refused (two backlogs do not merge: their packet
  ids and sequence numbers would collide); one that holds exactly the source's records counts
  as copied, so running the command again after a crash is safe.
- A copy into Redis leaves the marker {<hash>}:migrated: once the hash is empty again (its
  messages delivered), copying files into it again is refused unless --force.
- --to-dir refuses while the client's outbox holds enqueued messages (not Paho records).
- The source stays unless --remove-source.
- A client created with the outbox option moves the copied queued publishes beyond its
  window into its outbox at its first create().

Connection:
  --url URL                 Redis URL (default ${DEFAULT_REDIS_URL}, or $PAHO_MQTT_REDIS_URL)
  --key-prefix P            prefix of the hash names (default: none, like RedisPersistence)
  --client-id ID --server-uri URI   the client; the URI as given to AsyncClient (tcp://host:1883)
Options:
  --from-dir DIR            copy from the file store under DIR into Redis
  --to-dir DIR              copy from Redis into a file store under DIR
  --remove-source           delete the source once the copy is confirmed (the files, or the hash)
  --dry-run                 show what would be copied; change nothing
  --force                   with --from-dir: copy although the client was migrated before
  --encryption-key-file F   the client's encryption key (RedisPersistence option encryption):
                            values are encrypted into Redis and decrypted out of it
  --key-id K                the keyId of that key (required with --encryption-key-file)
  -h, --help                show this help
`;

export const DEMO_HELP = `Usage: paho-mqtt-redis demo [options]

Runs the crash-and-recover demo: a publisher with RedisPersistence is killed mid-stream and
restarted; the demo counts what Redis kept and what arrived.
`;
