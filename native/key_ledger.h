// What the bridge knows about a store's keys, so it can skip round trips Paho makes
// needlessly. Paho removes up to four keys per acknowledged message (s5-, sc5-, s-, sc-)
// of which usually one exists, and reads back every queued command (c-) it just wrote.
// Once the store's key list has been read (Paho does so at create), a remove of a key the
// ledger knows to be absent succeeds without asking the store, and a command written in
// this session is read from memory (which also spares Paho a crash on a failed read).
//
// It also closes a gap in Paho: the send thread removes a QoS 1/2 PUBLISH command (c-N)
// before it stores the sent packet (s-N), so a crash between the two loses a message Paho
// had accepted. The ledger defers that remove until the thread's next call (normally the
// s-N put) has been made; a crash in between then yields a duplicate, never a loss.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace paho_redis {

using Bytes = std::shared_ptr<const std::vector<uint8_t>>;

class KeyLedger {
 public:
  struct Stats {
    uint64_t skipped_removes = 0;
    uint64_t cached_gets = 0;
    uint64_t deferred_removes = 0;
  };

  // open/close: nothing is known about the (new) keyspace.
  void Reset();
  // The store listed its keys: from now on the ledger is complete.
  void Learn(const std::vector<std::string>& keys);
  // Before a put is forwarded (whatever its outcome, the key may exist afterwards).
  void Added(const std::string& key, const Bytes& data);
  // False only when the key is known to be absent.
  bool MayExist(const std::string& key);
  // After a remove was forwarded; `succeeded` says whether the store confirmed it.
  void Removed(const std::string& key, bool succeeded);
  void Cleared();
  // The body of a command (c-/c5-) put or read in this session, or null.
  Bytes CachedCommand(const std::string& key);
  void Fetched(const std::string& key, const Bytes& data);
  // Defers the remove of a QoS 1/2 PUBLISH command; false (not deferred) for anything else.
  bool DeferRemove(const std::string& key);
  // The remove this thread deferred, if any, now due.
  std::optional<std::string> TakeDeferred();
  std::vector<std::string> TakeAllDeferred();
  Stats stats();

 private:
  std::mutex mutex_;
  bool complete_ = false;
  std::unordered_set<std::string> keys_;
  std::unordered_map<std::string, Bytes> commands_;
  std::unordered_map<std::thread::id, std::string> deferred_;
  Stats stats_;
};

}  // namespace paho_redis
