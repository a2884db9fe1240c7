#include "persistence/key_ledger.h"

#include <cstring>

#include "persistence/paho_keys.h"

namespace paho_redis {

namespace {

// A persisted command starts: int type, int token; a PUBLISH (type 3) goes on with the
// topic and its NUL, int payload length, the payload, int qos (MQTTAsync_persistCommand).
bool IsQosPublish(const std::vector<uint8_t>& body) {
  auto read_int = [&body](size_t at, int* out) {
    if (at + sizeof(int) > body.size()) return false;
    memcpy(out, body.data() + at, sizeof(int));
    return true;
  };
  int type = 0, payload_length = 0, qos = 0;
  if (!read_int(0, &type) || type != 3) return false;
  const uint8_t* topic_end =
      static_cast<const uint8_t*>(memchr(body.data() + 8, 0, body.size() > 8 ? body.size() - 8 : 0));
  if (topic_end == nullptr) return false;
  size_t at = static_cast<size_t>(topic_end - body.data()) + 1;
  if (!read_int(at, &payload_length) || payload_length < 0) return false;
  return read_int(at + sizeof(int) + static_cast<size_t>(payload_length), &qos) && qos > 0;
}

}  // namespace

void KeyLedger::SetComplete(bool complete) {
  complete_ = complete;
  complete_hint_.store(complete, std::memory_order_release);
}

void KeyLedger::Reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  SetComplete(false);
  keys_.clear();
  families_.store(0, std::memory_order_release);
  values_.clear();
  deferred_.clear();
  deferred_count_.store(0, std::memory_order_release);
}

uint64_t KeyLedger::ListingEpoch() {
  std::lock_guard<std::mutex> lock(mutex_);
  // A remove not yet in the log would not be drained before the listing: it may be listed.
  return removes_in_progress_ > 0 ? kNoEpoch : removals_;
}

void KeyLedger::Learn(const std::vector<std::string>& keys, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch != removals_) return;
  // Keys put meanwhile stay: a put may race with the listing.
  uint32_t families = 0;
  for (const std::string& key : keys) families |= FamilyBit(FamilyOf(key.c_str()));
  families_.fetch_or(families, std::memory_order_acq_rel);
  keys_.insert(keys.begin(), keys.end());
  SetComplete(true);
}

void KeyLedger::AddedLocked(const std::string& key, const Bytes& data) {
  families_.fetch_or(FamilyBit(FamilyOf(key.c_str())), std::memory_order_acq_rel);
  keys_.insert(key);
  values_[key] = data;
}

void KeyLedger::Added(const std::string& key, const Bytes& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddedLocked(key, data);
}

void KeyLedger::AddedAndRemoved(const std::string& key, const Bytes& data, const std::string* removed) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddedLocked(key, data);
  if (removed != nullptr) RemovedLocked(*removed);
}

bool KeyLedger::KnownAbsentByFamily(const char* key) {
  KeyFamily family = FamilyOf(key);
  if (family == KeyFamily::kOther || family == KeyFamily::kReceivedV5) return false;
  // Acquire pairs with the release of whatever callback wrote the family or deferred a remove
  // before this one (Paho orders its callbacks with its own mutexes).
  if (deferred_count_.load(std::memory_order_acquire) > 0) return false;
  if (!complete_hint_.load(std::memory_order_acquire)) return false;
  if ((families_.load(std::memory_order_acquire) & FamilyBit(family)) != 0) return false;
  skipped_by_family_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

KeyLedger::RemoveAction KeyLedger::DecideRemove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (complete_ && keys_.count(key) == 0) {
    ++stats_.skipped_removes;
    return RemoveAction::kAbsent;
  }
  if (DeferRemoveLocked(key)) return RemoveAction::kDeferred;
  RemovedLocked(key);
  return RemoveAction::kDue;
}

void KeyLedger::Removed(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  RemovedLocked(key);
}

void KeyLedger::RemovedLocked(const std::string& key) {
  ++removes_in_progress_;
  ++removals_;
  values_.erase(key);
  keys_.erase(key);
}

void KeyLedger::RemoveAppended() {
  std::lock_guard<std::mutex> lock(mutex_);
  --removes_in_progress_;
  ++removals_;
}

void KeyLedger::Invalidate() {
  std::lock_guard<std::mutex> lock(mutex_);
  SetComplete(false);
}

bool KeyLedger::complete() {
  std::lock_guard<std::mutex> lock(mutex_);
  return complete_;
}

bool KeyLedger::Holds(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.answered_from_memory;
  return keys_.count(key) > 0;
}

bool KeyLedger::KnownPresent(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  return complete_ && keys_.count(key) > 0;
}

std::vector<std::string> KeyLedger::Keys() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.answered_from_memory;
  return std::vector<std::string>(keys_.begin(), keys_.end());
}

int KeyLedger::CommandCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!complete_) return -1;
  int count = 0;
  for (const std::string& key : keys_) count += IsCommandKey(key);
  return count;
}

void KeyLedger::Cleared() {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_.clear();
  families_.store(0, std::memory_order_release);
  values_.clear();
  deferred_.clear();
  deferred_count_.store(0, std::memory_order_release);
}

Bytes KeyLedger::Value(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = values_.find(key);
  if (found == values_.end()) return nullptr;
  ++stats_.cached_gets;
  return found->second;
}

void KeyLedger::Fetched(const std::string& key, const Bytes& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  values_[key] = data;
}

bool KeyLedger::DeferRemoveLocked(const std::string& key) {
  if (!IsCommandKey(key)) return false;
  auto found = values_.find(key);
  if (found == values_.end() || !IsQosPublish(*found->second)) return false;
  deferred_[std::this_thread::get_id()] = key;
  deferred_count_.store(deferred_.size(), std::memory_order_release);
  ++stats_.deferred_removes;
  return true;
}

std::optional<std::string> KeyLedger::TakeDeferred() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = deferred_.find(std::this_thread::get_id());
  if (found == deferred_.end()) return std::nullopt;
  std::string key = std::move(found->second);
  deferred_.erase(found);
  deferred_count_.store(deferred_.size(), std::memory_order_release);
  return key;
}

std::vector<std::string> KeyLedger::TakeAllDeferred() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> keys;
  for (auto& entry : deferred_) keys.push_back(std::move(entry.second));
  deferred_.clear();
  deferred_count_.store(0, std::memory_order_release);
  return keys;
}

KeyLedger::Stats KeyLedger::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats stats = stats_;
  stats.skipped_removes += skipped_by_family_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace paho_redis
