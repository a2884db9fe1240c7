#include "key_ledger.h"

#include <cstring>

namespace paho_redis {

namespace {

bool IsCommandKey(const std::string& key) { return key.rfind("c-", 0) == 0 || key.rfind("c5-", 0) == 0; }

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
  commands_.clear();
  deferred_.clear();
}

void KeyLedger::Learn(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Keys put meanwhile stay: a put may race with the listing.
  keys_.insert(keys.begin(), keys.end());
  complete_ = true;
}

void KeyLedger::Added(const std::string& key, const Bytes& data) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_.insert(key);
  if (IsCommandKey(key)) commands_[key] = data;
}

bool KeyLedger::MayExist(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!complete_ || keys_.count(key) > 0) return true;
  ++stats_.skipped_removes;
  return false;
}

void KeyLedger::Removed(const std::string& key, bool succeeded) {
  std::lock_guard<std::mutex> lock(mutex_);
  commands_.erase(key);  // Paho has dropped the command either way
  if (succeeded) keys_.erase(key);
}

void KeyLedger::Cleared() {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_.clear();
  commands_.clear();
  deferred_.clear();
}

Bytes KeyLedger::CachedCommand(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = commands_.find(key);
  if (found == commands_.end()) return nullptr;
  ++stats_.cached_gets;
  return found->second;
}

void KeyLedger::Fetched(const std::string& key, const Bytes& data) {
  if (!IsCommandKey(key)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  commands_[key] = data;
}

bool KeyLedger::DeferRemove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = commands_.find(key);
  if (found == commands_.end() || !IsQosPublish(*found->second)) return false;
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
