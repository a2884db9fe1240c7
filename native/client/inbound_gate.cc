#include "client/inbound_gate.h"

namespace paho_redis {

void InboundGate::Configure(size_t max_messages, size_t max_bytes, std::chrono::milliseconds max_wait) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_messages_ = max_messages;
  max_bytes_ = max_bytes;
  max_wait_ = max_wait;
}

bool InboundGate::HasRoom(size_t bytes) const {
  if (closed_ || max_messages_ == 0 || messages_ == 0) return true;  // one message always fits
  return messages_ < max_messages_ && bytes_ + bytes <= max_bytes_;
}

void InboundGate::Admit(size_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!HasRoom(bytes)) {
    room_.wait_for(lock, max_wait_, [&] { return HasRoom(bytes); });
  }
  messages_ += 1;
  bytes_ += bytes;
}

void InboundGate::Release(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (messages_ > 0) messages_ -= 1;
    bytes_ = bytes_ > bytes ? bytes_ - bytes : 0;
  }
  room_.notify_all();
}

void InboundGate::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  room_.notify_all();
}

}  // namespace paho_redis
