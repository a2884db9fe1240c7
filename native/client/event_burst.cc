#include "client/event_burst.h"

namespace paho_redis {

const char* EventBurst::KindName(Kind kind) {
  switch (kind) {
    case Kind::kEvent:
      return "event";
    case Kind::kPublished:
      return "published";
    case Kind::kDeliveryComplete:
      return "deliveryComplete";
    case Kind::kProgressed:
      return "progressed";
    case Kind::kCount:
      break;
  }
  return "";
}

void EventBurst::CountDelivery() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++unreported_deliveries_;
}

void EventBurst::TakeAll(std::vector<Entry>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mutex_);
  out->swap(queue_);
  if (unreported_deliveries_ > 0) out->push_back(ProgressedLocked());
}

void EventBurst::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
}

void EventBurst::DropAll() {
  std::vector<Entry> dropped;
  TakeAll(&dropped);
  for (Entry& entry : dropped) {
    if (entry.event && entry.event->delivered) entry.event->delivered->Open();
  }
}

EventBurst::Entry EventBurst::ProgressedLocked() {
  Entry progressed;
  progressed.kind = Kind::kProgressed;
  progressed.token = unreported_deliveries_;
  unreported_deliveries_ = 0;
  return progressed;
}

}  // namespace paho_redis
