// The outbox entry a publish moves into Paho (see docs/outbox.md). The
// command thread sets it around MQTTAsync_sendMessage; Paho puts the message's c-N record
// inside that call, on the same thread, and that put takes the entry id into its log op, so
// the store applies the c-N put and the entry's removal as one write that no batch boundary
// can split.
#pragma once

#include <string>

namespace paho_redis {

class OutboxHandoff {
 public:
  // Scope: the calling thread hands `entry_id` (not copied: it outlives the scope) to Paho.
  explicit OutboxHandoff(const std::string& entry_id);
  ~OutboxHandoff();
  OutboxHandoff(const OutboxHandoff&) = delete;
  OutboxHandoff& operator=(const OutboxHandoff&) = delete;

  // Whether a command put took the id (false: Paho put no c-N record in this scope).
  bool taken() const;
  // From a command put on this thread: the id to remove with it, once per scope; empty if none.
  static std::string TakeForCommandPut();
};

}  // namespace paho_redis
