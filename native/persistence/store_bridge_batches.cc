// StoreBridge, part two: writes through the OperationLog, and the drainer that hands
// the log's batches to the JS store (one thread-safe call wakes an idle drainer; a busy one
// takes the next batch as it settles the last, without another call).
#include "persistence/native_batch.h"
#include "persistence/paho_keys.h"
#include "persistence/store_bridge.h"

namespace paho_redis {

LogOutcome StoreBridge::Write(std::vector<LogOp> ops, bool wait, uint64_t* logged_seq, bool acknowledgement) {
  if (ops.empty()) return {};
  if (RefuseOnJsThread(ops.front().data ? PersistenceOp::kPut : PersistenceOp::kRemove, ops.front().key)) {
    return {CallFailure::kJsThread, "refused on the JavaScript thread"};
  }
  std::string first_key = ops.front().key;
  PersistenceOp first_op = ops.front().data ? PersistenceOp::kPut : PersistenceOp::kRemove;
  uint64_t seq = 0;
  bool ring = false;
  LogOutcome outcome = log_.Append(std::move(ops), RoomDeadline(), &seq, &ring);
  if (ring) RingDrainer();
  if (logged_seq != nullptr) *logged_seq = seq;
  bool hold = acknowledgement && options_.hold_acks;
  if (outcome.failure == CallFailure::kNone && wait) {
    outcome = log_.WaitFor(seq, hold ? AckDeadline() : Deadline(), hold);
    if (outcome.failure == CallFailure::kUnavailable) {
      outcome.message += "; the write stays in the log and is stored once the store answers";
    } else if (outcome.failure == CallFailure::kTimeout && acknowledgement) {
      outcome.message += "; the acknowledgement left without its record (onStoreUnavailable 'continue'): " +
                         std::string("a crash before the record is stored can lose or duplicate the message");
    }
  }
  // A timeout is reported (it starts an outage); so is the first write an outage keeps out of
  // a full log. Waits that end at once during an outage are not: the outage was reported.
  if (outcome.failure == CallFailure::kTimeout || outcome.first_refusal) {
    Report(first_op, first_key, outcome.failure, outcome.message);
  }
  return outcome;
}

LogOutcome StoreBridge::WaitStored(uint64_t seq) {
  if (log_.Hurry(seq)) RingDrainer();
  return log_.WaitFor(seq, Deadline());
}

LogOutcome StoreBridge::Drain() {
  uint64_t seq = log_.logged_seq();
  if (log_.Hurry(seq)) RingDrainer();
  LogOutcome outcome = log_.WaitFor(seq, Deadline());
  // A failed write was reported already; what matters here is that nothing is pending.
  bool settled = outcome.failure != CallFailure::kTimeout && outcome.failure != CallFailure::kClosing &&
                 outcome.failure != CallFailure::kUnavailable;
  return settled ? LogOutcome{} : outcome;
}

void StoreBridge::RingDrainer() {
  auto* doorbell = new BridgeMessage{nullptr, PersistenceOp::kPut, "", CallFailure::kNone, "", true};
  // Closed: the log is closed too, and every waiter was released.
  if (!channel_.Send(doorbell)) delete doorbell;
}

void StoreBridge::DrainOnJsThread(Napi::Env env) {
  // Closed meanwhile: the log is closed too, its batches failed and its waiters released.
  if (apply_batch_.IsEmpty()) return;
  const LogBatch* batch = log_.TakeBatch();
  // Called even without a batch (everything pending cancelled out): the log moved on, and
  // JS may be waiting for that (flush).
  uint64_t id = batch != nullptr ? batch->id : 0;
  try {
    Napi::HandleScope scope(env);
    apply_batch_.Call({batch != nullptr ? BatchToJs(env, *batch) : env.Undefined()});
  } catch (const Napi::Error& error) {
    // The TS side catches store errors itself; this is a terminating environment or a bug.
    if (batch == nullptr) return;
    log_.Settle(id, {CallFailure::kStore, error.Message()});
    RingDrainer();  // the next batch still needs a drainer
  }
}

Napi::Value StoreBridge::BatchToJs(Napi::Env env, const LogBatch& batch) {
  // Copies: the log keeps its bytes to answer Paho's reads, whatever the store does with the
  // values it is given.
  return NativeBatchOf(env, batch);
}

Napi::Value StoreBridge::SettleBatch(Napi::Env env, uint64_t id, const LogOutcome& outcome,
                                     size_t failed_at) {
  std::vector<LogOp> ops = log_.Settle(id, outcome, failed_at);
  if (outcome.failure != CallFailure::kNone && failed_at < ops.size()) {
    paho_.StoreFailed();
    ops.erase(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(failed_at));
    ReportFailedWrites(env, id, ops, outcome);
  }
  if (apply_batch_.IsEmpty()) return env.Undefined();  // closed: nobody applies batches any more
  const LogBatch* next = log_.TakeBatch();
  return next != nullptr ? BatchToJs(env, *next) : env.Undefined();
}

void StoreBridge::ReportFailedWrites(Napi::Env env, uint64_t batch_id, const std::vector<LogOp>& ops,
                                     const LogOutcome& outcome) {
  const LogOp* first = nullptr;
  size_t unclaimed = 0;
  for (const LogOp& op : ops) {
    // A command put with a Paho thread waiting for it: that thread reports the failure for
    // the call that made it (MqttClient::ReportCommandFailures).
    if (op.waited && op.data && IsCommandKey(op.key)) continue;
    if (first == nullptr) first = &op;
    ++unclaimed;
  }
  if (first == nullptr) return;
  std::string message = outcome.message;
  if (unclaimed > 1) {
    message += " (" + std::to_string(unclaimed) + " writes of one batch failed, the first is " +
               (first->data ? "put('" : "remove('") + first->key + "'))";
  }
  ReportOnJsThread(env, first->data ? PersistenceOp::kPut : PersistenceOp::kRemove, first->key,
                   outcome.failure, message, batch_id);
}

}  // namespace paho_redis
