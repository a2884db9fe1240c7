// PahoPersistence, part four: the MQTT 5 received QoS 2 records (r5-N) held back until their
// message was handled.
//
// MQTT 5: Paho puts r5-N as it reads an inbound QoS 2 PUBLISH, then delivers the message
// (messageArrived), then sends PUBREC. After a restart, a stored r5-N makes Paho take the
// broker's resent PUBLISH as already received, and MQTT 5 does not deliver at PUBREL: stored
// before the listeners returned, it would lose a message a crash interrupted. So the put is
// held until then (StoreHeldReceived), unless the record exists already (a resent PUBLISH
// that Paho will not deliver again). IsReceivedV5Key (paho_keys.h) picks those puts.
#include <thread>

#include "persistence/paho_persistence.h"
#include "persistence/store_bridge.h"

namespace paho_redis {

void PahoPersistence::Hold(const std::string& key, Bytes bytes) {
  std::lock_guard<std::mutex> lock(held_mutex_);
  auto& mine = held_[std::this_thread::get_id()];
  for (auto& held : mine) {
    if (held.first == key) {
      held.second = std::move(bytes);
      return;
    }
  }
  mine.emplace_back(key, std::move(bytes));
  ++held_records_;
}

std::vector<LogOp> PahoPersistence::TakeHeld() {
  // None held: this thread's own Hold would be seen (same thread), others' are not taken here.
  if (held_records_.load() == 0) return {};
  std::vector<std::pair<std::string, Bytes>> taken;
  {
    std::lock_guard<std::mutex> lock(held_mutex_);
    auto mine = held_.find(std::this_thread::get_id());
    if (mine == held_.end()) return {};
    taken.swap(mine->second);
    held_.erase(mine);
    held_records_ -= taken.size();
  }
  std::vector<LogOp> ops;
  for (auto& held : taken) {
    ledger_.Added(held.first, held.second);
    ops.push_back(LogOp{0, held.first, std::move(held.second), false, true});
  }
  return ops;
}

void PahoPersistence::DropHeld(const std::string& key) {
  if (held_records_.load() == 0) return;
  std::lock_guard<std::mutex> lock(held_mutex_);
  for (auto& thread : held_) {
    auto& records = thread.second;
    for (auto it = records.begin(); it != records.end(); ++it) {
      if (it->first == key) {
        records.erase(it);
        --held_records_;
        break;
      }
    }
  }
}

LogOutcome PahoPersistence::StoreHeld() {
  std::vector<LogOp> ops = TakeHeld();
  if (ops.empty()) return {};
  // Stored before Paho acknowledges the message (PUBREC): with onStoreUnavailable 'disconnect'
  // the wait holds through an outage.
  return bridge_->Write(std::move(ops), true, nullptr, true);
}

// A failed write was reported (Write, or the failed batch): Paho sends PUBREC either way.
LogOutcome PahoPersistence::StoreHeldReceived() { return StoreHeld(); }

}  // namespace paho_redis
