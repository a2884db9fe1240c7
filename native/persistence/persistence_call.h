// One Paho persistence callback in flight: what Paho asked, and the answer a C thread
// waits for. Shared between the waiting C thread, the thread-safe-function queue and the
// JS-side settle, so whichever finishes last frees it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace paho_redis {

// The order is the op index the bridge dispatches to JS: the addon exports OpName of each, in this
// order, as persistenceOps, which must equal PERSISTENCE_OPS in src/ (test/native/persistence-ops.test.ts).
enum class PersistenceOp : uint8_t { kOpen, kClose, kPut, kGet, kRemove, kKeys, kClear, kContainsKey };
constexpr int kPersistenceOpCount = static_cast<int>(PersistenceOp::kContainsKey) + 1;
const char* OpName(PersistenceOp op);

// Failure causes the native side detects itself; their names are the TS error codes.
enum class CallFailure : uint8_t { kNone, kStore, kTimeout, kBadResult, kClosing, kJsThread, kUnavailable };
const char* FailureCode(CallFailure failure);

class PersistenceCall {
 public:
  PersistenceCall(uint64_t id, PersistenceOp op, std::string key);

  const uint64_t id;
  const PersistenceOp op;
  const std::string key;
  // open's arguments.
  std::string client_id;
  std::string server_uri;
  // put's data: Paho's buffers copied once, handed to JS as an external Buffer (and kept
  // by the KeyLedger for commands).
  std::shared_ptr<const std::vector<uint8_t>> data;

  // Answer side; each returns false if the call was already finished (late answer).
  bool Succeed();
  bool SucceedWithBytes(std::vector<uint8_t> bytes);
  bool SucceedWithKeys(std::vector<std::string> keys);
  bool SucceedWithBool(bool value);
  bool Fail(CallFailure failure, std::string message);

  // Waits until answered or the deadline passes; a timed-out call is marked failed so a
  // late answer is dropped. Returns the failure (kNone on success).
  CallFailure WaitUntil(std::chrono::steady_clock::time_point deadline);
  bool Finished();
  CallFailure Failure();

  // Valid after WaitUntil returned kNone (owned by the waiting thread from then on).
  std::vector<uint8_t> bytes;
  std::vector<std::string> keys;
  bool contains = false;
  std::string failure_message;

 private:
  bool Finish(CallFailure failure);
  std::mutex mutex_;
  std::condition_variable answered_;
  bool finished_ = false;
  CallFailure failure_ = CallFailure::kNone;
};

using CallPtr = std::shared_ptr<PersistenceCall>;

}  // namespace paho_redis
