#include "key_ledger.h"

namespace pmr {

namespace {

bool IsCommandKey(const std::string& key) { return key.rfind("c-", 0) == 0 || key.rfind("c5-", 0) == 0; }

}  // namespace

void KeyLedger::Reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  complete_ = false;
  keys_.clear();
  commands_.clear();
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
}

Bytes KeyLedger::CachedCommand(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = commands_.find(key);
  if (found == commands_.end()) return nullptr;
  ++stats_.cached_gets;
  return found->second;
}

KeyLedger::Stats KeyLedger::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace pmr
