#include "persistence/persistence_call.h"

namespace paho_redis {

const char* OpName(PersistenceOp op) {
  switch (op) {
    case PersistenceOp::kOpen:
      return "open";
    case PersistenceOp::kClose:
      return "close";
    case PersistenceOp::kPut:
      return "put";
    case PersistenceOp::kGet:
      return "get";
    case PersistenceOp::kRemove:
      return "remove";
    case PersistenceOp::kKeys:
      return "keys";
    case PersistenceOp::kClear:
      return "clear";
    case PersistenceOp::kContainsKey:
      return "containsKey";
  }
  return "unknown";
}

const char* FailureCode(CallFailure failure) {
  switch (failure) {
    case CallFailure::kNone:
      return "";
    case CallFailure::kStore:
      return "ERR_PERSISTENCE_STORE";
    case CallFailure::kTimeout:
      return "ERR_PERSISTENCE_TIMEOUT";
    case CallFailure::kBadResult:
      return "ERR_PERSISTENCE_BAD_RESULT";
    case CallFailure::kClosing:
      return "ERR_PERSISTENCE_CLOSING";
    case CallFailure::kJsThread:
      return "ERR_PERSISTENCE_JS_THREAD";
    case CallFailure::kUnavailable:
      return "ERR_PERSISTENCE_UNAVAILABLE";
  }
  return "ERR_PERSISTENCE_STORE";
}

PersistenceCall::PersistenceCall(uint64_t id, PersistenceOp op, std::string key)
    : id(id), op(op), key(std::move(key)) {}

bool PersistenceCall::Finish(CallFailure failure) {
  // Caller holds mutex_.
  if (finished_) return false;
  finished_ = true;
  failure_ = failure;
  answered_.notify_all();
  return true;
}

bool PersistenceCall::Succeed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return Finish(CallFailure::kNone);
}

bool PersistenceCall::SucceedWithBytes(std::vector<uint8_t> value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return false;
  bytes = std::move(value);
  return Finish(CallFailure::kNone);
}

bool PersistenceCall::SucceedWithKeys(std::vector<std::string> value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return false;
  keys = std::move(value);
  return Finish(CallFailure::kNone);
}

bool PersistenceCall::SucceedWithBool(bool value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return false;
  contains = value;
  return Finish(CallFailure::kNone);
}

bool PersistenceCall::Fail(CallFailure failure, std::string message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return false;
  failure_message = std::move(message);
  return Finish(failure);
}

CallFailure PersistenceCall::WaitUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!answered_.wait_until(lock, deadline, [this] { return finished_; })) {
    failure_message = "the store did not answer in time";
    Finish(CallFailure::kTimeout);
  }
  return failure_;
}

CallFailure PersistenceCall::Failure() {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

bool PersistenceCall::Finished() {
  std::lock_guard<std::mutex> lock(mutex_);
  return finished_;
}

}  // namespace paho_redis
