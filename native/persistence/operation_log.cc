#include "persistence/operation_log.h"

#include <algorithm>

namespace paho_redis {

namespace {

// Failed batches remembered for waiters that have not looked yet.
constexpr size_t kFailedRangesKept = 64;

}  // namespace

bool OperationLog::HasRoom(size_t ops, size_t bytes) const {
  // A unit larger than the limits still passes alone, or it could never be stored.
  if (stats_.queue_depth == 0) return true;
  return stats_.queue_depth + ops <= limits_.max_queued_ops &&
         stats_.bytes + bytes <= limits_.max_queued_bytes;
}

bool OperationLog::MayTakeLocked() const {
  // During an outage the held batches are replayed first: nothing may overtake them.
  return in_flight_.empty() || (in_flight_.size() < limits_.batches_in_flight && !unavailable_);
}

bool OperationLog::InFlightHolds(const std::string& key) const {
  for (const LogBatch& batch : in_flight_) {
    for (const LogOp& op : batch.ops) {
      if (op.key == key) return true;
    }
  }
  return false;
}

bool OperationLog::StoreMayHold(const std::string& key) const {
  return !store_known_ || store_keys_.count(key) > 0;
}

void OperationLog::MarkUnavailable(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  MarkUnavailableLocked(reason);
}

void OperationLog::MarkUnavailableLocked(const std::string& reason) {
  unavailable_reason_ = reason;
  if (!in_flight_.empty()) unavailable_through_ = std::max(unavailable_through_, in_flight_.back().last_seq);
  if (unavailable_) return;
  unavailable_ = true;
  refused_in_outage_ = 0;
  ++stats_.outages;
  changed_.notify_all();  // release every waiter now
}

void OperationLog::ReleaseHolds() {
  std::lock_guard<std::mutex> lock(mutex_);
  holds_released_ = true;
  changed_.notify_all();
}

bool OperationLog::unavailable() {
  std::lock_guard<std::mutex> lock(mutex_);
  return unavailable_;
}

LogOutcome OperationLog::Append(std::vector<LogOp> ops, Deadline deadline, uint64_t* logged_seq, bool* ring) {
  size_t bytes = 0;
  for (const LogOp& op : ops) bytes += SizeOf(op);
  std::unique_lock<std::mutex> lock(mutex_);
  auto room = [&] { return closed_ || HasRoom(ops.size(), bytes); };
  if (!room() && !unavailable_) {
    ++stats_.room_waits;
    if (!changed_.wait_until(lock, deadline, [&] { return room() || unavailable_; })) {
      std::string message = "the persistence log stayed full (" + std::to_string(stats_.queue_depth) +
                            " ops, " + std::to_string(stats_.bytes) +
                            " bytes unsettled): the store is too slow or unreachable";
      MarkUnavailableLocked(message);
      return {CallFailure::kTimeout, message};
    }
  }
  if (!room()) {
    ++stats_.writes_refused;
    LogOutcome refused{CallFailure::kUnavailable, "the persistence log is full (" +
                                                      std::to_string(stats_.queue_depth) +
                                                      " ops unsettled) and the store is unavailable (" +
                                                      unavailable_reason_ + "): the write was not logged"};
    refused.first_refusal = refused_in_outage_++ == 0;
    for (const LogOp& op : ops) refused_keys_.emplace(op.key, next_seq_ - 1);
    return refused;
  }
  if (closed_) return {CallFailure::kClosing, "the persistence bridge is closed"};
  bool waited = false;
  for (LogOp& op : ops) {
    if (!refused_keys_.empty()) refused_keys_.erase(op.key);
    if (op.waited) {
      ++stats_.barrier_waits;
      waited = true;
    }
    AppendLocked(std::move(op));
  }
  *logged_seq = next_seq_ - 1;
  *ring = false;
  // An idle drainer is woken; a busy one takes the rest as a batch settles, unless a Paho
  // thread waits for these ops and another batch may leave now: then they leave at once
  // instead of waiting a round trip for the batches in flight.
  bool wake = drainer_ == Drainer::kIdle || (drainer_ == Drainer::kBusy && waited && MayTakeLocked());
  if (wake && !unsent_.empty()) {
    drainer_ = Drainer::kRung;
    *ring = true;
  }
  return {};
}

bool OperationLog::AppendLocked(LogOp op) {
  ++stats_.logged;
  Unsent& unsent = unsent_keys_[op.key];
  if (!op.data && unsent.put) {
    // A remove cancels the newest unsent put of its key.
    LogOp& put = unsent_[*unsent.put];
    put.absorbed = true;
    stats_.queue_depth -= 1;
    stats_.bytes -= SizeOf(put);
    put.data.reset();
    ++stats_.absorbed;
    unsent.put.reset();
    unsent.live -= 1;
    // The outbox entry the put moved out stays removed: the remove carries its removal.
    if (!put.outbox_remove.empty() && op.outbox_remove.empty())
      op.outbox_remove = std::move(put.outbox_remove);
    if (unsent.live == 0 && !StoreMayHold(op.key) && op.outbox_remove.empty()) {
      // Nothing else pending on the key and the store cannot hold it: the remove goes too.
      ++stats_.absorbed;
      unsent_keys_.erase(op.key);
      op.seq = next_seq_++;
      op.absorbed = true;
      unsent_.push_back(std::move(op));
      return false;
    }
  }
  op.seq = next_seq_++;
  stats_.queue_depth += 1;
  stats_.bytes += SizeOf(op);
  unsent.live += 1;
  if (op.data) {
    unsent.put = unsent_.size();
  } else {
    unsent.put.reset();
  }
  unsent_.push_back(std::move(op));
  return true;
}

LogOutcome OperationLog::WaitFor(uint64_t seq, Deadline deadline, bool through_outage) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto done = [&] {
    return closed_ || settled_seq_ >= seq || (through_outage ? holds_released_ : unavailable_);
  };
  if (!changed_.wait_until(lock, deadline, done)) {
    std::string message = "the store did not acknowledge a write in time";
    MarkUnavailableLocked(message);
    return {CallFailure::kTimeout, message};
  }
  if (settled_seq_ < seq) {
    if (closed_) return {CallFailure::kClosing, "the persistence bridge is closed"};
    ++stats_.waits_skipped;
    return {CallFailure::kUnavailable, "the store is unavailable (" + unavailable_reason_ + ")"};
  }
  for (const FailedRange& range : failed_) {
    if (range.first <= seq && seq <= range.last) return range.outcome;
  }
  return {};
}

bool OperationLog::Hurry(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || drainer_ != Drainer::kBusy || unsent_.empty() || seq < unsent_.front().seq) return false;
  if (!MayTakeLocked()) return false;
  drainer_ = Drainer::kRung;
  return true;
}

uint64_t OperationLog::logged_seq() {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_seq_ - 1;
}

uint64_t OperationLog::settled_seq() {
  std::lock_guard<std::mutex> lock(mutex_);
  return settled_seq_;
}

std::string OperationLog::RefusedUpTo(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::pair<const std::string, uint64_t>* oldest = nullptr;
  for (const auto& refused : refused_keys_) {
    if (refused.second <= seq && (oldest == nullptr || refused.second < oldest->second)) oldest = &refused;
  }
  return oldest != nullptr ? oldest->first : std::string();
}

const LogBatch* OperationLog::TakeBatch() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return nullptr;
  if (!MayTakeLocked()) {
    drainer_ = Drainer::kBusy;  // the settler of a batch in flight takes the next
    return nullptr;
  }
  while (!unsent_.empty()) {
    LogBatch batch;
    batch.first_seq = unsent_.front().seq;
    batch.last_seq = unsent_.back().seq;
    batch.ops.reserve(unsent_.size());
    for (LogOp& op : unsent_) {
      if (op.absorbed) continue;
      // From here on the store may hold what this batch puts, and not what it removes.
      if (op.data) {
        store_keys_.insert(op.key);
      } else {
        store_keys_.erase(op.key);
      }
      batch.ops.push_back(std::move(op));
    }
    unsent_.clear();
    unsent_keys_.clear();
    if (batch.ops.empty()) {
      // Everything cancelled out: settled without a store call, once the batches before it are.
      if (in_flight_.empty()) {
        settled_seq_ = batch.last_seq;
        changed_.notify_all();
        continue;
      }
    }
    batch.id = next_batch_++;
    if (!batch.ops.empty()) ++stats_.batches;
    stats_.written += batch.ops.size();
    drainer_ = Drainer::kBusy;
    in_flight_.push_back(std::move(batch));
    stats_.batches_in_flight_peak = std::max<uint64_t>(stats_.batches_in_flight_peak, in_flight_.size());
    return &in_flight_.back();
  }
  drainer_ = in_flight_.empty() ? Drainer::kIdle : Drainer::kBusy;
  return nullptr;
}

std::vector<LogOp> OperationLog::Settle(uint64_t batch_id, const LogOutcome& outcome, size_t failed_at) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (in_flight_.empty() || in_flight_.front().id != batch_id) return {};
  LogBatch batch = std::move(in_flight_.front());
  in_flight_.pop_front();
  drainer_ = Drainer::kRung;  // the settler takes the next batch
  // The store answered (even a failure is an answer), once it answered every batch that was in
  // flight when it stopped: an earlier one settling says nothing of the later ones.
  if (batch.last_seq >= unavailable_through_) unavailable_ = false;
  for (const LogOp& op : batch.ops) {
    stats_.queue_depth -= 1;
    stats_.bytes -= SizeOf(op);
  }
  if (outcome.failure != CallFailure::kNone) {
    stats_.failed += batch.ops.size();
    // What the store holds is unknown now.
    store_known_ = false;
    uint64_t first =
        failed_at > 0 && failed_at < batch.ops.size() ? batch.ops[failed_at].seq : batch.first_seq;
    failed_.push_back({first, batch.last_seq, outcome});
    if (failed_.size() > kFailedRangesKept) failed_.pop_front();
    // The removes after the refused write were not applied either (an atomic batch names no
    // write: its first stands for it). A remove is idempotent and, with no newer op of its key
    // pending (unsent, or in a batch in flight after this one), its key's last word: log it
    // again, once, so the store catches up (a command record would otherwise outlive its
    // message). The refused write itself is not retried.
    for (size_t i = failed_at + 1; i < batch.ops.size(); ++i) {
      const LogOp& op = batch.ops[i];
      if (op.data || op.absorbed || op.relogged || unsent_keys_.count(op.key) > 0 || InFlightHolds(op.key))
        continue;
      LogOp again;
      again.key = op.key;
      again.relogged = true;
      again.outbox_remove = op.outbox_remove;
      AppendLocked(std::move(again));
    }
  }
  settled_seq_ = batch.last_seq;
  changed_.notify_all();
  return std::move(batch.ops);
}

void OperationLog::LearnStoreKeys(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Keys written meanwhile stay: a superset is safe (it only keeps removes).
  store_keys_.insert(keys.begin(), keys.end());
  store_known_ = true;
}

void OperationLog::StoreCleared() {
  std::lock_guard<std::mutex> lock(mutex_);
  store_keys_.clear();
  store_known_ = true;
  refused_keys_.clear();
}

void OperationLog::Reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  store_keys_.clear();
  store_known_ = false;
}

void OperationLog::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  // The batches in flight fail: nobody settles them any more (a late settle is ignored), and
  // their waiters hear kClosing.
  for (const LogBatch& batch : in_flight_) {
    stats_.failed += batch.ops.size();
    for (const LogOp& op : batch.ops) {
      stats_.queue_depth -= 1;
      stats_.bytes -= SizeOf(op);
    }
  }
  in_flight_.clear();
  changed_.notify_all();
}

OperationLog::Stats OperationLog::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace paho_redis
