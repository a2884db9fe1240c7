// The ordered log of one store's writes (group commit). Paho's puts and removes are
// appended here and, unless they are barriers, answered at once; the drainer (the JS
// thread) takes everything pending as one batch, the store applies it in order, and the
// batch is settled as a whole. A store that applies batches in call order (one connection)
// may have several in flight (`batches_in_flight`); they settle strictly in the order taken,
// so a waiter for seq S is released once every batch up to the one holding S settled. A
// store with one in flight always holds a prefix of the log (at batch boundaries, when it
// applies a batch atomically).
//
// A remove whose key has a put still unsent cancels that put ("absorption"): under load
// most QoS 1 messages complete before their batch leaves, and their records never reach
// the store. The remove itself is dropped too when the store cannot hold the key.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "persistence/key_ledger.h"
#include "persistence/persistence_call.h"

namespace paho_redis {

struct LogLimits {
  size_t max_queued_ops = 10000;
  size_t max_queued_bytes = 64u << 20;
  // Batches handed to the store and not yet settled, at most (the store's batchesInFlight).
  size_t batches_in_flight = 1;
};

// One write. `data` set: a put; null: a remove.
struct LogOp {
  uint64_t seq = 0;
  std::string key;
  Bytes data;
  bool absorbed = false;
  // A Paho thread waits for this op and hears its failure itself.
  bool waited = false;
  // A remove logged again after the store refused its batch (see Settle): never a third time.
  bool relogged = false;
  // The outbox entry this write moves into Paho (a c-N put, or the remove that absorbed it):
  // the store removes it in the same unit (see outbox_handoff.h). Empty: none.
  std::string outbox_remove = std::string();
};

// What the drainer hands to the store: the live ops of seqs first_seq..last_seq, in order.
struct LogBatch {
  uint64_t id = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::vector<LogOp> ops;
};

struct LogOutcome {
  CallFailure failure = CallFailure::kNone;
  std::string message;
  // A write refused (not logged) because the log is full while the store is unavailable,
  // the first of this outage: the caller reports it (the rest are counted).
  bool first_refusal = false;
};

class OperationLog {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  struct Stats {
    uint64_t logged = 0;          // ops appended
    uint64_t absorbed = 0;        // ops that never reached the store (cancelled pairs)
    uint64_t batches = 0;         // batches handed to the store
    uint64_t written = 0;         // ops handed to the store
    uint64_t barrier_waits = 0;   // appends whose thread waited for the store (barriers, sync)
    uint64_t room_waits = 0;      // appends that waited for room in a full log
    uint64_t failed = 0;          // ops in failed batches
    uint64_t queue_depth = 0;     // ops not yet settled
    uint64_t bytes = 0;           // their bytes
    uint64_t outages = 0;         // times the store became unavailable
    uint64_t waits_skipped = 0;   // waits that ended at once because the store was unavailable
    uint64_t writes_refused = 0;  // writes not logged: the log was full while the store was unavailable
    uint64_t batches_in_flight_peak = 0;  // the most batches in flight at once
  };

  explicit OperationLog(LogLimits limits) : limits_(limits) {}

  // Every method takes the log's lock. Paho's threads (StoreBridge::Write): Append, WaitFor.
  // Appends `ops` in order as one unit: they reach the store in the same batch. Waits for
  // room until `deadline` (not at all while the store is unavailable). On success
  // `*logged_seq` is the newest seq in the log (wait for it to wait for these ops and
  // everything before them) and `*ring` says whether the drainer must be woken.
  LogOutcome Append(std::vector<LogOp> ops, Deadline deadline, uint64_t* logged_seq, bool* ring);
  // Waits until every op up to `seq` is settled; the failure of the batch that held `seq`.
  // While the store is unavailable it returns at once (kUnavailable; the ops stay logged),
  // unless `through_outage`: then it waits for the settlement or the deadline all the same.
  LogOutcome WaitFor(uint64_t seq, Deadline deadline, bool through_outage = false);
  // A thread about to wait for `seq` (logged earlier, not as a barrier): true if the drainer must
  // be woken, so that `seq`'s batch leaves now beside those in flight (as a barrier's would).
  bool Hurry(uint64_t seq);

  // A Paho thread whose wait timed out, or the JS thread (the drainer).
  // The store does not answer: a wait for it timed out, or the drainer found it unreachable
  // (and holds its batch to retry it). Until every batch in flight now has settled, no Paho
  // thread waits for the store (each wait would cost the full deadline under Paho's mutexes,
  // one after another) and no other batch leaves (see MayTakeLocked).
  void MarkUnavailable(const std::string& reason);
  // JS thread. Ends the waits made `through_outage`, now and later (the client is closing).
  void ReleaseHolds();
  // Any thread.
  bool unavailable();
  uint64_t logged_seq();
  uint64_t settled_seq();
  // JS thread (flush). The key of the oldest write refused (not logged: the log was full while the store was
  // unavailable) at or before log position `seq` whose key no write was logged for since; empty
  // if none. A flush up to `seq` cannot resolve: that record never reached the store.
  std::string RefusedUpTo(uint64_t seq);

  // Drainer (JS thread). The next batch, or null when none is pending (the drainer then
  // counts as idle, and the next append rings it) or when no other may be in flight now
  // (as many as batches_in_flight, or the store is unavailable: the settler takes the next).
  // Valid until Settle or Close.
  const LogBatch* TakeBatch();
  // Settles the oldest batch in flight, which must be `batch_id` (batches settle in the order
  // taken; any other id is ignored), failed from op `failed_at` on when it failed; returns its
  // ops (for failure reports). The removes after the refused op are logged again, once, unless
  // a newer op of their key is pending: unsent, or in a later batch in flight.
  std::vector<LogOp> Settle(uint64_t batch_id, const LogOutcome& outcome, size_t failed_at = 0);

  // Paho's threads (the keys, clear, open and close callbacks). What the store holds: listed
  // (keys), emptied (clear), or unknown again (open, failure).
  void LearnStoreKeys(const std::vector<std::string>& keys);
  void StoreCleared();
  void Reset();
  // The thread that shuts the bridge down (JS thread, or environment teardown). Fails every
  // waiter, every batch in flight and every later append with kClosing.
  void Close();
  // JS thread (the bridge's stats()).
  Stats stats();

 private:
  struct Unsent {
    int live = 0;               // unsent, unabsorbed ops on the key
    std::optional<size_t> put;  // index in unsent_ of the newest such op if it is a put
  };
  struct FailedRange {
    uint64_t first, last;
    LogOutcome outcome;
  };
  bool HasRoom(size_t ops, size_t bytes) const;
  // Whether another batch may leave now, beside those in flight.
  bool MayTakeLocked() const;
  // Whether a batch still in flight (later than the one being settled) holds an op of `key`.
  bool InFlightHolds(const std::string& key) const;
  void MarkUnavailableLocked(const std::string& reason);
  bool StoreMayHold(const std::string& key) const;
  // Appends one op (lock held); false if it was absorbed whole.
  bool AppendLocked(LogOp op);
  static size_t SizeOf(const LogOp& op) { return op.key.size() + (op.data ? op.data->size() : 0); }

  const LogLimits limits_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false;
  bool unavailable_ = false;
  // The newest seq at the store when it was marked unavailable: the mark ends when the batch
  // holding it settles (the store answered those batches), not when an earlier one does.
  uint64_t unavailable_through_ = 0;
  bool holds_released_ = false;
  std::string unavailable_reason_;
  uint64_t refused_in_outage_ = 0;
  // Keys of refused writes, with the last seq logged when they were refused; a key leaves when a
  // later write of it is logged (its own outcome then counts), or when the store is cleared.
  std::unordered_map<std::string, uint64_t> refused_keys_;
  uint64_t next_seq_ = 1;
  uint64_t settled_seq_ = 0;
  uint64_t next_batch_ = 1;
  enum class Drainer { kIdle, kRung, kBusy } drainer_ = Drainer::kIdle;
  std::vector<LogOp> unsent_;
  std::unordered_map<std::string, Unsent> unsent_keys_;
  // Taken and not settled, oldest first (a deque: a pointer TakeBatch returned stays valid).
  std::deque<LogBatch> in_flight_;
  std::deque<FailedRange> failed_;
  // Keys the store may hold once the batches taken so far are applied.
  bool store_known_ = false;
  std::unordered_set<std::string> store_keys_;
  Stats stats_;
};

}  // namespace paho_redis
