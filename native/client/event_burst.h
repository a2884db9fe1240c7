// The events of one client on their way to JS, in order. Paho's threads append under a lock;
// only the append that finds the queue empty rings the thread-safe function, and the JS thread
// takes everything queued at once: one wake-up and one JS call per burst, not per event. The
// frequent plain events (a publish completed, a delivery) are entries without a ClientEvent.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "client/client_event.h"

namespace paho_redis {

class EventBurst {
 public:
  // The order is the addon's clientEventKinds, read by src/native.ts.
  enum class Kind : uint8_t { kEvent, kPublished, kDeliveryComplete, kProgressed, kCount };
  static const char* KindName(Kind kind);

  struct Entry {
    Kind kind = Kind::kEvent;
    uint64_t request = 0;                // kPublished: the publish's request
    int token = 0;                       // kPublished, kDeliveryComplete: the token; kProgressed: deliveries
    std::unique_ptr<ClientEvent> event;  // kEvent only
  };

  // Any thread. Queues `entry`; when the queue was empty, calls `ring` (under the lock, so rings
  // follow appends in order), and if it fails leaves `entry` untouched and answers false. False
  // too once closed.
  template <typename Ring>
  bool Append(Entry& entry, Ring ring) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    if (queue_.empty() && !ring()) return false;
    if (unreported_deliveries_ > 0) queue_.push_back(ProgressedLocked());
    queue_.push_back(std::move(entry));
    return true;
  }
  // Any thread: a delivery completed that is not sent as an event. Reported as one kProgressed
  // entry before the next event (or at the end of the next burst), never on its own.
  void CountDelivery();
  // JS thread: moves everything queued, oldest first, into `out` (cleared first; its capacity
  // is reused for the next burst).
  void TakeAll(std::vector<Entry>* out);
  // Any thread, idempotent: no more appends. What is queued stays for TakeAll.
  void Close();
  // Any thread: drops what is queued, never to be delivered (the environment is gone): the
  // threads waiting on received messages' gates go on.
  void DropAll();

 private:
  Entry ProgressedLocked();

  std::mutex mutex_;
  bool closed_ = false;
  std::vector<Entry> queue_;
  int unreported_deliveries_ = 0;
};

}  // namespace paho_redis
