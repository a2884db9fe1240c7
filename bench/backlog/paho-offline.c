/*
 * Plain Paho C (libpaho-mqtt3as) offline backlog: the reference rows of bench/backlog.bench.ts.
 * Created with sendWhileDisconnected (allowed before the first connect) and maxBufferedMessages =
 * MESSAGES, it queues MESSAGES QoS 1 publishes of PAYLOAD bytes while no broker is reachable, prints
 *   {"event":"buffered","seconds":S,"rssBeforeKb":K,"rssAfterKb":K,"accepted":N}
 * then waits for a line on stdin, connects, and prints once every publish completed
 *   {"event":"drained","seconds":S,"failures":F}
 * Each payload starts with its index (uint32, big endian) so that a subscriber can check order.
 *
 *   paho-offline URI CLIENT_ID TOPIC MESSAGES PAYLOAD MAX_INFLIGHT none|DIR
 *
 * DIR selects Paho's file store (MQTTCLIENT_PERSISTENCE_DEFAULT) in that directory.
 * Built by bench/backlog/paho-c.ts with gcc against Debian's libpaho-mqtt-dev.
 */
#define PROGRAM "paho-offline"
#include "../paho-common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Resident set size now (not the peak), from /proc/self/statm. */
static long rss_kb(void) {
  long pages_total = 0, pages_resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return -1;
  if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  fclose(f);
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s URI CLIENT_ID TOPIC MESSAGES PAYLOAD MAX_INFLIGHT none|DIR\n", argv[0]);
    return 2;
  }
  const char *uri = argv[1];
  const char *client_id = argv[2];
  const char *topic = argv[3];
  long messages = atol(argv[4]);
  int payload_len = atoi(argv[5]);
  int max_inflight = atoi(argv[6]);
  const char *store = argv[7];
  int file_store = strcmp(store, "none") != 0;
  if (messages <= 0 || messages > 2000000000L || payload_len < 4 || max_inflight <= 0) {
    fprintf(stderr, "paho-offline: bad arguments\n");
    return 2;
  }

  long rss_before = rss_kb();
  MQTTAsync_createOptions create_opts = MQTTAsync_createOptions_initializer;
  create_opts.sendWhileDisconnected = 1;
  create_opts.allowDisconnectedSendAtAnyTime = 1; /* queue before the first connect */
  create_opts.maxBufferedMessages = (int)messages;
  MQTTAsync client;
  int rc = MQTTAsync_createWithOptions(&client, uri, client_id,
                                       file_store ? MQTTCLIENT_PERSISTENCE_DEFAULT : MQTTCLIENT_PERSISTENCE_NONE,
                                       file_store ? (void *)store : NULL, &create_opts);
  if (rc != MQTTASYNC_SUCCESS) {
    fprintf(stderr, "paho-offline: MQTTAsync_createWithOptions returned %d\n", rc);
    return 1;
  }
  MQTTAsync_setCallbacks(client, NULL, NULL, on_message, NULL);

  unsigned char *payload = malloc((size_t)payload_len);
  memset(payload, 'a', (size_t)payload_len);
  long accepted = 0;
  double started = now_seconds();
  for (long i = 0; i < messages; i++) {
    payload[0] = (unsigned char)(i >> 24);
    payload[1] = (unsigned char)(i >> 16);
    payload[2] = (unsigned char)(i >> 8);
    payload[3] = (unsigned char)i;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.onSuccess = on_sent;
    opts.onFailure = on_send_failure;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = payload;
    msg.payloadlen = payload_len;
    msg.qos = 1;
    rc = MQTTAsync_sendMessage(client, topic, &msg, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
      fprintf(stderr, "paho-offline: MQTTAsync_sendMessage %ld returned %d\n", i, rc);
      break;
    }
    accepted++;
  }
  double buffered_seconds = now_seconds() - started;
  printf("{\"event\":\"buffered\",\"seconds\":%.6f,\"rssBeforeKb\":%ld,\"rssAfterKb\":%ld,\"accepted\":%ld}\n",
         buffered_seconds, rss_before, rss_kb(), accepted);
  fflush(stdout);

  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 1; /* the bench went away */

  MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
  conn.cleansession = 1;
  conn.keepAliveInterval = 60;
  conn.maxInflight = max_inflight;
  conn.onSuccess = on_connect;
  conn.onFailure = on_connect_failure;
  started = now_seconds();
  rc = MQTTAsync_connect(client, &conn);
  if (rc != MQTTASYNC_SUCCESS) {
    fprintf(stderr, "paho-offline: MQTTAsync_connect returned %d\n", rc);
    return 1;
  }
  pthread_mutex_lock(&lock);
  while (connect_state == 0) pthread_cond_wait(&changed, &lock);
  while (connect_state > 0 && completed < accepted) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  if (connect_state < 0) return 1;
  printf("{\"event\":\"drained\",\"seconds\":%.6f,\"failures\":%ld}\n", now_seconds() - started, failures);
  fflush(stdout);

  MQTTAsync_disconnectOptions disc = MQTTAsync_disconnectOptions_initializer;
  disc.timeout = 1000;
  MQTTAsync_disconnect(client, &disc);
  MQTTAsync_destroy(&client);
  free(payload);
  return failures > 0 ? 1 : 0;
}
