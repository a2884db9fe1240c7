// Hands Paho at most its inflight window (maxInflight) of QoS 1/2 publishes while
// connected. Paho's send thread waits when its window is full, and a PUBACK does not wake it:
// queued publishes then wait for the next API call or a 1 s timeout. Publishes past the
// window wait here instead, in order, and go to Paho as earlier ones complete. While
// disconnected nothing is held: Paho buffers (and persists) offline publishes as before.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "client/mqtt_client_specs.h"

namespace paho_redis {

class PublishWindow {
 public:
  // A publish (QoS 1/2 ones `counted` against the window), or a flush: it waits behind every
  // publish submitted before it. A plain value: no allocation of its own per publish.
  struct Item {
    enum class Kind { kPublish, kFlush };
    Kind kind = Kind::kPublish;
    uint64_t request = 0;
    bool counted = false;
    PublishSpec spec;  // kPublish
  };
  // Hands an item on (queues it for Paho). Runs under the window's lock, so publishes reach the
  // command queue in the order they were submitted, from whichever thread.
  using HandOn = std::function<void(Item&)>;

  explicit PublishWindow(HandOn hand_on) : hand_on_(std::move(hand_on)) {}

  // Hands `item` on now if it fits, else keeps it for a later Release or SetWindow.
  void Submit(Item item);
  // A counted publish completed or was refused: runs what now fits, in order.
  void Release();
  // Connected with this window, or disconnected (window 0): runs what now fits.
  void SetWindow(int max_inflight);
  int held();
  // More counted publishes are with Paho than its window carries: Paho queues the rest.
  bool Overcommitted();
  // While on, every publish waits here, connected or not (messages Paho discarded with a lost
  // session go first); off runs what fits.
  void HoldAll(bool on);

 private:
  void RunHeld();  // lock held

  const HandOn hand_on_;
  std::mutex mutex_;
  int window_ = 0;  // 0: not connected, nothing is held
  bool hold_all_ = false;
  int inflight_ = 0;
  std::deque<Item> held_;
};

}  // namespace paho_redis
