/*
 * User persistence for plain Paho C, for bench/paho-publish.c only: what the same publish costs
 * when Paho's own persistence callbacks keep the records in C, in memory or in Redis directly,
 * with no Node.js in between. Three modes:
 *
 *   memory         every write kept in memory only: what Paho's persistence path costs Paho itself
 *                  (its copies, reads back and removes), with no store behind it
 *   redis-sync     every put and remove is one HSET/HDEL that the calling Paho thread waits for
 *                  (a store written the obvious way in C, as the Rust crate paho-mqtt-redis is)
 *   redis-barrier  only the `sc-`/`sc5-` put (PUBREC received, PUBREL not yet sent: the write a
 *                  crash-safe QoS 2 store must hold PUBREL for) goes to Redis and is waited for;
 *                  every other write stays in memory. A ceiling, not a store: every other write
 *                  costs nothing here, so a store that keeps the QoS 2 barrier against the same
 *                  Redis on the same machine can hardly publish QoS 2 faster.
 *
 * Each run uses a hash of its own (`paho-c-bench:<clientId>`, deleted at open and at close),
 * so keys() answers none. Paho's send thread reads each queued command (`c-N`) back before it
 * sends it: every put is also kept in memory, and get() answers from there (as the addon's
 * operation log does). One blocking socket, RESP by hand (the replies are one line each), under
 * a mutex: Paho calls from several threads.
 */
#ifndef PAHO_USER_STORE_H
#define PAHO_USER_STORE_H

#include <MQTTAsync.h>
#include <MQTTClientPersistence.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STORE_BUCKETS 4096

struct stored_record {
  struct stored_record *next;
  char key[16]; /* Paho's keys are at most 10 characters */
  size_t len;
  char value[];
};

enum store_mode { STORE_MEMORY, STORE_REDIS_SYNC, STORE_REDIS_BARRIER };

struct user_store {
  int fd;
  enum store_mode mode;
  char hash[256];
  pthread_mutex_t mutex; /* guards the socket, the records and the counts */
  long hsets, hdels; /* commands sent, all waited for: one round trip each */
  struct stored_record *records[STORE_BUCKETS];
};

static struct user_store the_store = {-1, STORE_MEMORY, "", PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}};

static struct stored_record **record_slot(struct user_store *store, const char *key) {
  unsigned hash = 5381;
  for (const char *c = key; *c; c++) hash = hash * 33 + (unsigned char)*c;
  struct stored_record **slot = &store->records[hash % STORE_BUCKETS];
  while (*slot != NULL && strcmp((*slot)->key, key) != 0) slot = &(*slot)->next;
  return slot;
}

/* Caller holds the mutex. `record` NULL: forget the key. */
static void record_replace(struct user_store *store, const char *key, struct stored_record *record) {
  struct stored_record **slot = record_slot(store, key);
  struct stored_record *old = *slot;
  if (record != NULL) {
    record->next = old != NULL ? old->next : NULL;
    *slot = record;
  } else if (old != NULL) {
    *slot = old->next;
  }
  free(old);
}

static int redis_write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Sends one command (argc byte strings) and reads its one-line reply; 0 unless Redis failed it. */
static int redis_command(struct user_store *store, int argc, const char **argv, const size_t *lens) {
  char head[64];
  size_t total = 0;
  for (int i = 0; i < argc; i++) total += lens[i] + 32;
  char *buf = malloc(total + 32);
  size_t at = (size_t)snprintf(buf, total + 32, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++) {
    int n = snprintf(head, sizeof head, "$%zu\r\n", lens[i]);
    memcpy(buf + at, head, (size_t)n);
    at += (size_t)n;
    memcpy(buf + at, argv[i], lens[i]);
    at += lens[i];
    memcpy(buf + at, "\r\n", 2);
    at += 2;
  }
  pthread_mutex_lock(&store->mutex);
  int rc = redis_write_all(store->fd, buf, at);
  char reply[512];
  size_t got = 0;
  while (rc == 0 && (got < 2 || memcmp(reply + got - 2, "\r\n", 2) != 0)) {
    ssize_t n = read(store->fd, reply + got, sizeof reply - 1 - got);
    if (n <= 0) rc = -1;
    else got += (size_t)n;
  }
  if (strcmp(argv[0], "HSET") == 0) store->hsets++;
  if (strcmp(argv[0], "HDEL") == 0) store->hdels++;
  pthread_mutex_unlock(&store->mutex);
  free(buf);
  if (rc == 0 && reply[0] == '-') {
    reply[got - 2] = '\0';
    fprintf(stderr, "paho-publish: Redis refused a command: %s\n", reply);
    rc = -1;
  }
  return rc == 0 ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

static int store_clear(void *handle) {
  struct user_store *store = handle;
  if (store->mode == STORE_MEMORY) return 0;
  const char *argv[] = {"DEL", store->hash};
  const size_t lens[] = {3, strlen(store->hash)};
  return redis_command(store, 2, argv, lens);
}

static int store_open(void **handle, const char *client_id, const char *server_uri, void *context) {
  (void)server_uri;
  struct user_store *store = context;
  snprintf(store->hash, sizeof store->hash, "paho-c-bench:%s", client_id);
  *handle = store;
  return store_clear(store);
}

static int store_close(void *handle) {
  return store_clear(handle); /* the barrier-only mode never removes its sc- records */
}

static int store_put(void *handle, char *key, int bufcount, char *buffers[], int buflens[]) {
  struct user_store *store = handle;
  size_t len = 0;
  for (int i = 0; i < bufcount; i++) len += (size_t)buflens[i];
  if (strlen(key) >= sizeof ((struct stored_record *)0)->key) return MQTTCLIENT_PERSISTENCE_ERROR;
  struct stored_record *record = malloc(sizeof *record + len);
  strcpy(record->key, key);
  record->len = len;
  size_t at = 0;
  for (int i = 0; i < bufcount; i++) {
    memcpy(record->value + at, buffers[i], (size_t)buflens[i]);
    at += (size_t)buflens[i];
  }
  int rc = 0;
  int barrier = strncmp(key, "sc-", 3) == 0 || strncmp(key, "sc5-", 4) == 0;
  if (store->mode == STORE_REDIS_SYNC || (store->mode == STORE_REDIS_BARRIER && barrier)) {
    const char *argv[] = {"HSET", store->hash, key, record->value};
    const size_t lens[] = {4, strlen(store->hash), strlen(key), len};
    rc = redis_command(store, 4, argv, lens);
  }
  pthread_mutex_lock(&store->mutex);
  record_replace(store, key, rc == 0 ? record : NULL);
  pthread_mutex_unlock(&store->mutex);
  if (rc != 0) free(record);
  return rc;
}

static int store_remove(void *handle, char *key) {
  struct user_store *store = handle;
  pthread_mutex_lock(&store->mutex);
  record_replace(store, key, NULL);
  pthread_mutex_unlock(&store->mutex);
  if (store->mode != STORE_REDIS_SYNC) return 0;
  const char *argv[] = {"HDEL", store->hash, key};
  const size_t lens[] = {4, strlen(store->hash), strlen(key)};
  return redis_command(store, 3, argv, lens);
}

static int store_get(void *handle, char *key, char **buffer, int *buflen) {
  struct user_store *store = handle;
  pthread_mutex_lock(&store->mutex);
  struct stored_record *record = *record_slot(store, key);
  if (record != NULL) {
    *buffer = MQTTAsync_malloc(record->len > 0 ? record->len : 1); /* Paho frees it */
    memcpy(*buffer, record->value, record->len);
    *buflen = (int)record->len;
  }
  pthread_mutex_unlock(&store->mutex);
  return record != NULL ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

static int store_keys(void *handle, char ***keys, int *nkeys) {
  (void)handle;
  *keys = NULL;
  *nkeys = 0;
  return 0;
}

static int store_containskey(void *handle, char *key) {
  (void)handle;
  (void)key;
  return MQTTCLIENT_PERSISTENCE_ERROR; /* not found */
}

static void fill_persistence(MQTTClient_persistence *persistence) {
  persistence->context = &the_store;
  persistence->popen = store_open;
  persistence->pclose = store_close;
  persistence->pput = store_put;
  persistence->pget = store_get;
  persistence->premove = store_remove;
  persistence->pkeys = store_keys;
  persistence->pclear = store_clear;
  persistence->pcontainskey = store_containskey;
}

/* `spec`: "memory", "redis-sync:HOST:PORT" or "redis-barrier:HOST:PORT". 0 and `persistence` filled, or -1. */
static int user_store_create(const char *spec, MQTTClient_persistence *persistence) {
  const char *rest;
  if (strcmp(spec, "memory") == 0) {
    the_store.mode = STORE_MEMORY;
    fill_persistence(persistence);
    return 0;
  } else if (strncmp(spec, "redis-sync:", 11) == 0) {
    rest = spec + 11;
    the_store.mode = STORE_REDIS_SYNC;
  } else if (strncmp(spec, "redis-barrier:", 14) == 0) {
    rest = spec + 14;
    the_store.mode = STORE_REDIS_BARRIER;
  } else {
    return -1;
  }
  char host[128];
  const char *colon = strrchr(rest, ':');
  if (colon == NULL || (size_t)(colon - rest) >= sizeof host) return -1;
  memcpy(host, rest, (size_t)(colon - rest));
  host[colon - rest] = '\0';
  struct addrinfo hints = {0}, *found = NULL;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &found) != 0) return -1;
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  int ok = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!ok) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  the_store.fd = fd;
  fill_persistence(persistence);
  return 0;
}

#endif
