// Wakes Paho's send thread. That thread (one per process, shared by every client) sleeps up
// to a second when the next command of each client is blocked by its inflight window, and an
// acknowledgement does not wake it: only a new command does (MQTTAsync_addCommand signals it)
// or the timeout. Publishes this package holds back in its PublishWindow wake it as they are
// handed over, but commands Paho already holds (restored at create, buffered while offline)
// then drain at one window per second. So on each completed delivery the client queues a
// command on a second Paho client that never connects: Paho buffers it (QoS 0, dropping the
// older one: at most one is kept), nothing reaches the network or a store, and the send
// thread wakes and sends what now fits in the window.
#pragma once

#include <MQTTAsync.h>

namespace paho_redis {

class PahoWaker {
 public:
  PahoWaker() = default;
  PahoWaker(const PahoWaker&) = delete;
  PahoWaker& operator=(const PahoWaker&) = delete;
  // Does not destroy the Paho client: that is Destroy's job, on the command thread (never on
  // the JS thread). If the owner's handle is leaked on purpose (teardown with Paho stuck),
  // this one is too.
  ~PahoWaker() = default;

  // Command thread, before the first Wake. False (and waking does nothing) if Paho refused.
  bool Create();
  // Any Paho thread (callbacks included): wakes the send thread.
  void Wake();
  // Command thread, after the owner's handle is destroyed (no callback can Wake any more).
  void Destroy();

 private:
  MQTTAsync handle_ = nullptr;
};

}  // namespace paho_redis
