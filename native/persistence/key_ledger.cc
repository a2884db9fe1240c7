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

void KeyLedger::Reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  complete_ = false;
  keys_.clear();
  values_.clear();
  deferred_.clear();
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
  keys_.insert(keys.begin(), keys.end());
  complete_ = true;
}

void KeyLedger::Added(const std::string& key, const Bytes& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_.insert(key);
  values_[key] = data;
}

bool KeyLedger::MayExist(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!complete_ || keys_.count(key) > 0) return true;
  ++stats_.skipped_removes;
  return false;
}

void KeyLedger::Removed(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
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
  complete_ = false;
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
  values_.clear();
  deferred_.clear();
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

bool KeyLedger::DeferRemove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = values_.find(key);
  if (found == values_.end() || !IsQosPublish(*found->second)) return false;
  deferred_[std::this_thread::get_id()] = key;
  ++stats_.deferred_removes;
  return true;
}

std::optional<std::string> KeyLedger::TakeDeferred() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = deferred_.find(std::this_thread::get_id());
  if (found == deferred_.end()) return std::nullopt;
  std::string key = std::move(found->second);
  deferred_.erase(found);
  return key;
}

std::vector<std::string> KeyLedger::TakeAllDeferred() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> keys;
  for (auto& entry : deferred_) keys.push_back(std::move(entry.second));
  deferred_.clear();
  return keys;
}

KeyLedger::Stats KeyLedger::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace paho_redis
