/*
 * Plain Paho C (libpaho-mqtt3as) publish throughput: the reference row of bench/publish.bench.ts.
 * Publishes `messages` QoS 1/2 messages of `payload` bytes with at most `window` outstanding
 * (sent and not yet complete), after a warm-up of `warmup` messages, and prints one JSON line:
 *   {"messages":N,"seconds":S,"msgPerSec":R,"maxRssKb":K,"failures":F}
 *
 *   paho-publish URI CLIENT_ID QOS MESSAGES WARMUP WINDOW PAYLOAD MAX_INFLIGHT STORE
 *
 * STORE: none; a directory (Paho's file store, MQTTCLIENT_PERSISTENCE_DEFAULT, in it); or one of
 * bench/paho-user-store.h: memory, redis-sync:HOST:PORT, redis-barrier:HOST:PORT (with Redis the
 * JSON line also has "redisCommands": {"hset":N,"hdel":M}, each one waited round trip).
 * Built by bench/publish/paho-c.ts with gcc against Debian's libpaho-mqtt-dev.
 */
#define PROGRAM "paho-publish"
#include "paho-common.h"
#include "paho-user-store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void on_connection_lost(void *context, char *cause) {
  (void)context;
  fprintf(stderr, "paho-publish: connection lost: %s\n", cause ? cause : "(no cause)");
  exit(3);
}

/* Publishes `count` messages, never more than `window` outstanding; returns when all completed. */
static int publish_all(MQTTAsync client, long count, int window, int qos, char *payload, int payload_len) {
  long target;
  pthread_mutex_lock(&lock);
  target = completed + count;
  pthread_mutex_unlock(&lock);
  for (long i = 0; i < count; i++) {
    pthread_mutex_lock(&lock);
    while (outstanding >= window) pthread_cond_wait(&changed, &lock);
    outstanding++;
    pthread_mutex_unlock(&lock);
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.onSuccess = on_sent;
    opts.onFailure = on_send_failure;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = payload;
    msg.payloadlen = payload_len;
    msg.qos = qos;
    int rc = MQTTAsync_sendMessage(client, "bench/publish", &msg, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
      fprintf(stderr, "paho-publish: MQTTAsync_sendMessage returned %d\n", rc);
      return rc;
    }
  }
  pthread_mutex_lock(&lock);
  while (completed < target) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  return MQTTASYNC_SUCCESS;
}

int main(int argc, char **argv) {
  if (argc != 10) {
    fprintf(stderr,
            "usage: %s URI CLIENT_ID QOS MESSAGES WARMUP WINDOW PAYLOAD MAX_INFLIGHT none|DIR|memory|redis-MODE:HOST:PORT\n", argv[0]);
    return 2;
  }
  const char *uri = argv[1];
  const char *client_id = argv[2];
  int qos = atoi(argv[3]);
  long messages = atol(argv[4]);
  long warmup = atol(argv[5]);
  int window = atoi(argv[6]);
  int payload_len = atoi(argv[7]);
  int max_inflight = atoi(argv[8]);
  const char *store = argv[9];
  int redis = strncmp(store, "redis-", 6) == 0;
  int user_store = redis || strcmp(store, "memory") == 0;
  int file_store = !user_store && strcmp(store, "none") != 0;
  if (qos < 0 || qos > 2 || messages <= 0 || warmup < 0 || window <= 0 || payload_len < 0 || max_inflight <= 0) {
    fprintf(stderr, "paho-publish: bad arguments\n");
    return 2;
  }

  // The trace level AsyncClient sets while no trace logger is installed: at Paho's default it
  // formats trace lines nobody reads (~30,000 instructions per message), so both pay the same.
  MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
  MQTTClient_persistence user_persistence;
  if (user_store && user_store_create(store, &user_persistence) != 0) {
    fprintf(stderr, "paho-publish: cannot reach Redis at '%s'\n", store);
    return 1;
  }
  MQTTAsync client;
  int rc = MQTTAsync_create(
      &client, uri, client_id,
      user_store ? MQTTCLIENT_PERSISTENCE_USER : file_store ? MQTTCLIENT_PERSISTENCE_DEFAULT : MQTTCLIENT_PERSISTENCE_NONE,
      user_store ? (void *)&user_persistence : file_store ? (void *)store : NULL);
  if (rc != MQTTASYNC_SUCCESS) {
    fprintf(stderr, "paho-publish: MQTTAsync_create returned %d\n", rc);
    return 1;
  }
  MQTTAsync_setCallbacks(client, NULL, on_connection_lost, on_message, NULL);

  MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
  conn.cleansession = 1;
  conn.keepAliveInterval = 60;
  conn.maxInflight = max_inflight;
  conn.onSuccess = on_connect;
  conn.onFailure = on_connect_failure;
  rc = MQTTAsync_connect(client, &conn);
  if (rc != MQTTASYNC_SUCCESS) {
    fprintf(stderr, "paho-publish: MQTTAsync_connect returned %d\n", rc);
    return 1;
  }
  pthread_mutex_lock(&lock);
  while (connect_state == 0) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  if (connect_state < 0) return 1;

  char *payload = malloc(payload_len > 0 ? (size_t)payload_len : 1);
  memset(payload, 'a', payload_len > 0 ? (size_t)payload_len : 1);
  if (warmup > 0 && publish_all(client, warmup, window, qos, payload, payload_len) != MQTTASYNC_SUCCESS) return 1;
  long failures_before = failures;
  long hsets_before = the_store.hsets, hdels_before = the_store.hdels;
  double started = now_seconds();
  if (publish_all(client, messages, window, qos, payload, payload_len) != MQTTASYNC_SUCCESS) return 1;
  double seconds = now_seconds() - started;
  long hsets = the_store.hsets - hsets_before, hdels = the_store.hdels - hdels_before;

  MQTTAsync_disconnectOptions disc = MQTTAsync_disconnectOptions_initializer;
  disc.timeout = 1000;
  MQTTAsync_disconnect(client, &disc);
  MQTTAsync_destroy(&client);
  free(payload);

  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("{\"messages\":%ld,\"seconds\":%.6f,\"msgPerSec\":%.1f,\"maxRssKb\":%ld,\"failures\":%ld", messages,
         seconds, (double)messages / seconds, usage.ru_maxrss, failures - failures_before);
  if (redis) printf(",\"redisCommands\":{\"hset\":%ld,\"hdel\":%ld}", hsets, hdels);
  printf("}\n");
  return failures > 0 ? 1 : 0;
}
