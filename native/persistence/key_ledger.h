// What the bridge knows about a store's keys as Paho sees them (every logged write
// counted, written to the store yet or not), so it can skip round trips Paho makes
// needlessly. Paho removes up to four keys per acknowledged message (s5-, sc5-, s-, sc-)
// of which usually one exists, and reads back every queued command (c-) it just wrote.
// Once the store's key list has been read (Paho does so at create), a remove of a key the
// ledger knows to be absent succeeds without asking the store, keys/containsKey are
// answered from memory, and a value written in this session is read from memory (which
// also spares Paho a crash on a failed read). A failed write makes the ledger incomplete
// until the store is listed again.
//
// It also closes a gap in Paho: the send thread removes a QoS 1/2 PUBLISH command (c-N)
// before it stores the sent packet (s-N), so a crash between the two loses a message Paho
// had accepted. The ledger defers that remove until the thread's next call (normally the
// s-N put) has been made; a crash in between then yields a duplicate, never a loss.
//
// Paho's acknowledgements also remove keys of families this session never wrote (s5- and sc5-
// on MQTT 3, sc- after a QoS 1 message): KnownAbsentByFamily answers those without the lock.
//
// Threads: every method but KnownAbsentByFamily and deferring takes the ledger's lock, so any
// thread may call it. PahoPersistence calls it from the thread running each Paho persistence
// callback (the creating or command thread at create/send/destroy, Paho's send and receive
// threads otherwise); Invalidate also runs where a failed write is learnt (the JS thread,
// through the bridge). Deferral (DecideRemove) and TakeDeferred are per calling thread: each
// Paho thread finds only the remove it deferred.
#pragma once

#include <atomic>
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
    uint64_t answered_from_memory = 0;  // keys/containsKey answered from memory
  };

  // Every method takes the ledger's lock: any thread may call it. Unless noted, the callers are
  // Paho's threads, in the persistence callbacks (PahoPersistence).
  // open/close: nothing is known about the (new) keyspace.
  void Reset();
  // Taken before the store's keys are listed, and given to Learn.
  static constexpr uint64_t kNoEpoch = ~uint64_t{0};
  uint64_t ListingEpoch();
  // The store listed its keys: from now on the ledger is complete, unless a remove was
  // logged while the listing ran (it may list the removed key: try again next time).
  void Learn(const std::vector<std::string>& keys, uint64_t epoch);
  // When a put is logged.
  void Added(const std::string& key, const Bytes& data);
  // Lock-free: true when the key is known to be absent because no key of its family is held
  // (complete, none written nor listed), and this thread owes no deferred remove (any thread
  // does: false). Never for r5- keys (held records, see PahoPersistence::Hold).
  bool KnownAbsentByFamily(const char* key);
  // What a remove of `key` needs, decided under one lock: known absent (counted as skipped),
  // deferred (a QoS 1/2 PUBLISH command: due with this thread's next call), or due: logged now (the ledger
  // forgets the key as Removed does; call RemoveAppended once it is appended).
  enum class RemoveAction : uint8_t { kAbsent, kDeferred, kDue };
  RemoveAction DecideRemove(const std::string& key);
  // When a remove is logged (before it is appended), and after it was appended: a listing
  // that began between the two may still list the key.
  void Removed(const std::string& key);
  void RemoveAppended();
  // Added(`key`) and, if given, Removed(`*removed`), under one lock.
  void AddedAndRemoved(const std::string& key, const Bytes& data, const std::string* removed);
  void Cleared();
  // JS thread (the drainer): a write failed, so what the store holds is unknown until it is
  // listed again.
  void Invalidate();
  bool complete();
  // Whether the key exists, when complete.
  bool Holds(const std::string& key);
  // True only when the key is known to exist (complete, and held); not counted in stats.
  bool KnownPresent(const std::string& key);
  // Every key, when complete.
  std::vector<std::string> Keys();
  // How many queued commands (c-N, c5-N) it knows of; -1 when not complete. Any thread (the
  // client's, before it queues a message again).
  int CommandCount();
  // The value put or read in this session, or null.
  Bytes Value(const std::string& key);
  void Fetched(const std::string& key, const Bytes& data);
  // The remove this thread deferred, if any, now due.
  std::optional<std::string> TakeDeferred();
  // Lock-free: whether any thread owes a deferred remove (when false, TakeDeferred finds none).
  bool deferring() const { return deferred_count_.load(std::memory_order_acquire) > 0; }
  std::vector<std::string> TakeAllDeferred();
  // JS thread (the bridge's stats()).
  Stats stats();

 private:
  // Lock held.
  void AddedLocked(const std::string& key, const Bytes& data);
  void RemovedLocked(const std::string& key);
  void SetComplete(bool complete);
  bool DeferRemoveLocked(const std::string& key);

  std::mutex mutex_;
  bool complete_ = false;
  // Written under the lock, read without it (KnownAbsentByFamily, deferring): complete_, the
  // families of keys_ (bits only cleared when keys_ is emptied), deferred_.size().
  std::atomic<bool> complete_hint_{false};
  std::atomic<uint32_t> families_{0};
  std::atomic<size_t> deferred_count_{0};
  std::atomic<uint64_t> skipped_by_family_{0};
  uint64_t removals_ = 0;
  int removes_in_progress_ = 0;  // logged with Removed, not yet appended
  std::unordered_set<std::string> keys_;
  std::unordered_map<std::string, Bytes> values_;
  std::unordered_map<std::thread::id, std::string> deferred_;
  Stats stats_;
};

}  // namespace paho_redis
