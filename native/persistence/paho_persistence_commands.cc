// PahoPersistence, part three: the QoS 2 PUBLISH commands (c-N) logged in this session, so
// that the s-T put of such a message need not wait for its own batch (see CommandStored in
// paho_persistence.h).
#include <cstdlib>
#include <cstring>

#include "persistence/paho_keys.h"
#include "persistence/paho_persistence.h"
#include "persistence/store_bridge.h"

namespace paho_redis {

namespace {

// The number after the key's dash (packet id of s-T), or -1.
long KeyNumber(const std::string& key) {
  size_t dash = key.find('-');
  if (dash == std::string::npos || dash + 1 >= key.size()) return -1;
  char* end = nullptr;
  long number = strtol(key.c_str() + dash + 1, &end, 10);
  return *end == '\0' ? number : -1;
}

}  // namespace

void PahoPersistence::CommandLogged(const std::string& command_key, uint64_t seq) {
  std::lock_guard<std::mutex> lock(command_seqs_mutex_);
  command_seqs_[command_key] = seq;
  command_seq_count_ = command_seqs_.size();
}

void PahoPersistence::ForgetCommand(const std::string& key) {
  if (command_seq_count_.load() == 0 || !IsCommandKey(key)) return;  // the common case, without the lock
  std::lock_guard<std::mutex> lock(command_seqs_mutex_);
  command_seqs_.erase(key);
  command_seq_count_ = command_seqs_.size();
}

void PahoPersistence::ForgetCommands() {
  std::lock_guard<std::mutex> lock(command_seqs_mutex_);
  command_seqs_.clear();
  command_seq_count_ = 0;
}

// Why this is enough (docs/persistence.md): Paho sends a queued command with its token as the
// packet id, a restored one too. While c-N is stored, a crash restores it and Paho sends it
// again with id T, which a broker still holding T treats as the duplicate it is (MQTT 3.1.1
// 4.3.3); the store never holds neither, since c-N's remove is logged with s-T, as one unit.
bool PahoPersistence::CommandStored(const std::string& command_key, const std::string& sent_key) {
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> lock(command_seqs_mutex_);
    auto found = command_seqs_.find(command_key);
    if (found == command_seqs_.end()) return false;
    seq = found->second;
    command_seqs_.erase(found);
    command_seq_count_ = command_seqs_.size();
  }
  Bytes command = ledger_.Value(command_key);
  int token = -1;
  if (command && command->size() >= 2 * sizeof(int))
    memcpy(&token, command->data() + sizeof(int), sizeof(int));
  if (token < 1 || token != KeyNumber(sent_key)) return false;
  return bridge_->WaitStored(seq).failure == CallFailure::kNone;
}

}  // namespace paho_redis
