// The delivery gates a client has handed out, so teardown can open them all at once: Paho has
// one receive thread for every client of the process, and while it is parked in a gate no
// client reads a packet. Without this, a gate whose message never reaches JS opens only when
// the event queue is drained, after the rest of teardown, or at its deadline.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "util/delivery_gate.h"

namespace paho_redis {

class DeliveryGateSet {
 public:
  // Paho's receive thread: a new gate, closed, or already open once OpenAll ran.
  std::shared_ptr<DeliveryGate> Make() {
    auto gate = std::make_shared<DeliveryGate>();
    std::lock_guard<std::mutex> lock(mutex_);
    if (opened_) {
      gate->Open();
      return gate;
    }
    // Gates live until JS handled their message; the inbound gate bounds how many do.
    gates_.erase(std::remove_if(gates_.begin(), gates_.end(),
                                [](const std::weak_ptr<DeliveryGate>& g) { return g.expired(); }),
                 gates_.end());
    gates_.push_back(gate);
    return gate;
  }
  // Any thread, idempotent: opens every gate handed out, and all later ones at once.
  void OpenAll() {
    std::vector<std::weak_ptr<DeliveryGate>> gates;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      opened_ = true;
      gates.swap(gates_);
    }
    for (auto& weak : gates) {
      if (auto gate = weak.lock()) gate->Open();
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::weak_ptr<DeliveryGate>> gates_;
  bool opened_ = false;
};

}  // namespace paho_redis
