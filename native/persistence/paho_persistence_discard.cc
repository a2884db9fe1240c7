// PahoPersistence, part two: the sent messages Paho discards with a lost session, held for
// the client to publish again (see TakeDiscarded in paho_persistence.h).
#include "persistence/paho_persistence.h"

namespace paho_redis {

std::vector<SentPublish> PahoPersistence::TakeDiscarded() {
  std::vector<SentPublish> taken;
  {
    std::lock_guard<std::mutex> lock(discarded_mutex_);
    taken.swap(discarded_);
  }
  SortInSendOrder(&taken);
  return taken;
}

bool PahoPersistence::Discarded(int msgid) {
  std::lock_guard<std::mutex> lock(discarded_mutex_);
  for (const SentPublish& publish : discarded_) {
    if (publish.msgid == msgid) return true;
  }
  return false;
}

void PahoPersistence::ForgetDiscarded() {
  std::lock_guard<std::mutex> lock(discarded_mutex_);
  discarded_.clear();
  held_removes_.clear();
  held_count_ = 0;
}

std::optional<std::string> PahoPersistence::TakeHeldRemove(const std::string& key) {
  if (held_count_.load() == 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(discarded_mutex_);
  if (held_removes_.erase(key) == 0) return std::nullopt;
  --held_count_;
  return key;
}

// The record stays in the store until the message is stored again as a command: a crash
// before restores it (and a session-less CONNACK discards it again, to be sent again).
bool PahoPersistence::CaptureDiscard(const std::string& key) {
  int msgid = SentPublishId(key);
  if (msgid == 0) return false;
  Bytes value = ledger_.Value(key);  // written or restored in this session
  if (!value) return false;
  std::optional<SentPublish> publish = ParseSentPublish(key, *value);
  if (!publish) return false;
  {
    std::lock_guard<std::mutex> lock(discarded_mutex_);
    discarded_.push_back(std::move(*publish));
    if (held_removes_.insert(key).second) ++held_count_;
  }
  ledger_.Removed(key);  // gone for Paho; the store keeps it until the republish
  ledger_.RemoveAppended();
  return true;
}

}  // namespace paho_redis
