/*
 * What both plain Paho C benches share (bench/paho-publish.c, bench/backlog/paho-offline.c): the
 * completion counters under one lock, the connect and send callbacks, and a monotonic clock.
 * Each program defines PROGRAM (its name in messages) before including this file.
 */
#ifndef PAHO_COMMON_H
#define PAHO_COMMON_H

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int outstanding = 0; /* sent and not yet complete */
static long completed = 0;
static long failures = 0;
static int connect_state = 0; /* 0 pending, 1 connected, -1 failed */

static void set_connect_state(int state) {
  pthread_mutex_lock(&lock);
  connect_state = state;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

static void on_connect(void *context, MQTTAsync_successData *response) {
  (void)context;
  (void)response;
  set_connect_state(1);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response) {
  (void)context;
  fprintf(stderr, PROGRAM ": connect failed: %d\n", response ? response->code : -1);
  set_connect_state(-1);
}

static void count_completion(int failed) {
  pthread_mutex_lock(&lock);
  outstanding--;
  completed++;
  failures += failed;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

static void on_sent(void *context, MQTTAsync_successData *response) {
  (void)context;
  (void)response;
  count_completion(0);
}

static void on_send_failure(void *context, MQTTAsync_failureData *response) {
  (void)context;
  (void)response;
  count_completion(1);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message) {
  (void)context;
  (void)topic_len;
  MQTTAsync_freeMessage(&message);
  MQTTAsync_free(topic);
  return 1;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
