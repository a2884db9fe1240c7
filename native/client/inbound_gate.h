// Bounds the messages on their way from Paho's receive thread to JavaScript. Paho hands
// every inbound message to messageArrived; returning 0 would not help: Paho has already
// acknowledged it (PUBACK, PUBREC), keeps it in its own unbounded queue (persisted as q-N),
// and retries only the head once per receive-loop pass (up to a second apart when the socket
// is idle). So the callback waits here for room instead: while it waits, Paho reads no more
// packets, TCP pushes back, and the broker holds the stream. The wait is bounded per message
// (max_wait): past it the message is admitted anyway, so a JS thread blocked for long costs at
// most one message per max_wait (and never stalls the other clients of Paho's one receive
// thread for longer). Nothing is dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace paho_redis {

class InboundGate {
 public:
  // Command thread, before Paho can deliver messages. 0 messages disables the bound.
  void Configure(size_t max_messages, size_t max_bytes, std::chrono::milliseconds max_wait);
  // Paho's receive thread: counts a message in, waiting first (bounded) while full.
  void Admit(size_t bytes);
  // Any thread: an admitted message reached JS or was dropped at teardown.
  void Release(size_t bytes);
  // Any thread, idempotent: waiters go on at once, and no one waits from now on.
  void Close();

 private:
  bool HasRoom(size_t bytes) const;

  std::mutex mutex_;
  std::condition_variable room_;
  size_t max_messages_ = 0, max_bytes_ = 0;
  std::chrono::milliseconds max_wait_{0};
  size_t messages_ = 0, bytes_ = 0;
  bool closed_ = false;
};

}  // namespace paho_redis
