#include "client/publish_window.h"

namespace paho_redis {

void PublishWindow::Submit(Item item) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Once anything waits, everything waits (QoS 0 too), so publishes keep their order.
  if (hold_all_ || (window_ > 0 && (!held_.empty() || (item.counted && inflight_ >= window_)))) {
    held_.push_back(std::move(item));
    return;
  }
  if (item.counted) ++inflight_;
  hand_on_(item);
}

void PublishWindow::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (inflight_ > 0) --inflight_;
  RunHeld();
}

void PublishWindow::SetWindow(int max_inflight) {
  std::lock_guard<std::mutex> lock(mutex_);
  window_ = max_inflight > 0 ? max_inflight : 0;
  RunHeld();
}

void PublishWindow::HoldAll(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  hold_all_ = on;
  RunHeld();
}

bool PublishWindow::Overcommitted() {
  std::lock_guard<std::mutex> lock(mutex_);
  return window_ > 0 && inflight_ > window_;
}

int PublishWindow::held() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(held_.size());
}

void PublishWindow::RunHeld() {
  while (!hold_all_ && !held_.empty()) {
    Item& next = held_.front();
    if (window_ > 0 && next.counted && inflight_ >= window_) break;
    if (next.counted) ++inflight_;
    Item item = std::move(next);
    held_.pop_front();
    hand_on_(item);
  }
}

}  // namespace paho_redis
