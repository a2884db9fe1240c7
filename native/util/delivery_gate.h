// A one-shot gate a Paho thread waits on until JS has handled what it was handed (a
// received message): opened by the JS side, or when the event can no longer be delivered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace paho_redis {

class DeliveryGate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  // False when the deadline passed first.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return opened_.wait_until(lock, deadline, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

}  // namespace paho_redis
