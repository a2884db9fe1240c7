// The C side of a user persistence. Writes (put/remove) go into an OperationLog whose
// batches the JS store applies in order (group commit); reads and the other calls are
// forwarded one by one, and the calling C thread blocks (with a deadline) until JS
// settles them. Paho's callbacks themselves live in PahoPersistence; batch handling is in
// store_bridge_batches.cc.
#pragma once

#include <MQTTClientPersistence.h>
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "persistence/operation_log.h"
#include "persistence/paho_persistence.h"
#include "persistence/persistence_call.h"
#include "util/js_channel.h"

namespace paho_redis {

// What travels through the thread-safe function: a request for the store, a failure the
// native side detected and JS must hear about, or the drainer's doorbell.
struct BridgeMessage {
  CallPtr call;  // set for requests
  PersistenceOp op = PersistenceOp::kOpen;
  std::string key;
  CallFailure failure = CallFailure::kNone;
  std::string message;
  bool drain = false;
};

enum class Durability : uint8_t { kBatched, kSync };

struct BridgeOptions {
  uint32_t operation_timeout_ms = 5000;
  Durability durability = Durability::kBatched;
  LogLimits limits;
  // onStoreUnavailable 'disconnect': an acknowledgement does not leave before its record is
  // stored (or JS handled its message), outages included: see AckDeadline.
  bool hold_acks = false;
};

class StoreBridge;
// The thread-safe function's JS-thread half (a free function: the class is incomplete
// where the thread-safe-function type is named).
void BridgeCallJs(Napi::Env env, Napi::Function dispatch, StoreBridge* self, BridgeMessage* message);

class StoreBridge : public std::enable_shared_from_this<StoreBridge> {
 public:
  // dispatch(id, opIndex, key, data?, clientId?, serverURI?) must end in settle/fail;
  // applyBatch(batch) (a NativeBatch, see native_batch.h) must end in settleBatch;
  // onFailure(op, key, code, message, batchId) hears failures detected natively (batchId 0: not a batch's).
  static std::shared_ptr<StoreBridge> Create(Napi::Env env, Napi::Function dispatch,
                                             Napi::Function apply_batch, Napi::Function on_failure,
                                             const BridgeOptions& options);
  ~StoreBridge();

  // The struct to hand to MQTTAsync_create; valid while this object lives.
  MQTTClient_persistence* persistence() { return paho_.persistence(); }
  const BridgeOptions& options() const { return options_; }
  // How long a Paho thread waits for the store: operationTimeoutMs, and at most a quarter of
  // the MQTT keepalive (LimitWaits). Paho sends no PINGREQ while one of its threads waits
  // under its mutexes, and the broker drops a client silent for 1.5 keepalive intervals:
  // a PINGREQ due after one interval, late by the wait plus Paho's keepalive check
  // granularity (a tenth of the interval), still arrives in time.
  uint32_t wait_ms() const { return wait_ms_.load(); }
  // Any thread: the keepalive (seconds, 0 = none) of the connect about to be made.
  void LimitWaits(int keepalive_seconds);
  // With hold_acks, a Paho thread holding back an acknowledgement (its record or its JS
  // delivery pending) waits until then, or until close() or teardown. Paho sends nothing
  // meanwhile, so once 1.5 keepalive intervals pass the broker drops the connection (MQTT
  // 3.1.1 3.1.2.10) and what Paho writes later never reaches it; the broker keeps the
  // exchange and resumes it after a reconnect.
  bool holds_acks() const { return options_.hold_acks; }
  static std::chrono::steady_clock::time_point AckDeadline();
  bool sync() const { return options_.durability == Durability::kSync; }
  KeyLedger::Stats ledger_stats() { return paho_.ledger_stats(); }
  // Sent messages Paho discarded with its session, to publish again (PahoPersistence).
  std::vector<SentPublish> TakeDiscarded() { return paho_.TakeDiscarded(); }
  bool Discarded(int msgid) { return paho_.Discarded(msgid); }
  int command_count() { return paho_.command_count(); }
  OperationLog::Stats log_stats() { return log_.stats(); }
  uint64_t forwarded() const { return forwarded_.load(); }
  uint64_t logged_seq() { return log_.logged_seq(); }
  uint64_t settled_seq() { return log_.settled_seq(); }
  std::string refused_up_to(uint64_t seq) { return log_.RefusedUpTo(seq); }
  OperationLog& log() { return log_; }
  // Paho's receive thread, once a received message's listeners returned: see PahoPersistence.
  LogOutcome StoreHeldReceived() { return paho_.StoreHeldReceived(); }

  // JS thread: answers for call `id`. False if the call is no longer waiting.
  bool Settle(Napi::Env env, uint64_t id, Napi::Value value);
  bool FailCall(uint64_t id, const std::string& message);
  // JS thread: the store applied batch `id` (or failed it from write `failed_at` on: those
  // before it are stored); returns the next batch to apply, or undefined.
  Napi::Value SettleBatch(Napi::Env env, uint64_t id, const LogOutcome& outcome, size_t failed_at);
  // JS thread: stop forwarding; every waiting and future callback fails with -2.
  void Close();
  // Same, from a teardown path (idempotent; the bridge's own cleanup hook may still run).
  void Shutdown();

  // Failures seen by callbacks on the calling thread since the last Reset: lets the
  // client learn of a `c-` put that Paho swallowed inside MQTTAsync_send/sendMessage.
  struct ThreadFailure {
    PersistenceOp op;
    std::string key;
    CallFailure failure;
    std::string message;
  };
  static void ResetThreadFailures();
  static std::vector<ThreadFailure> TakeThreadFailures();
  static void RecordThreadFailure(ThreadFailure failure);

  // Any thread: a new call for `op` on `key` (null: none).
  CallPtr NewCall(PersistenceOp op, const char* key);
  // Runs one call from a C thread: forward, wait, and on failure return false (the
  // failure is also recorded for TakeThreadFailures).
  bool Forward(const CallPtr& call);
  // C thread: logs writes as one unit; with `wait`, blocks until the store acknowledged
  // them and everything logged before. `*logged_seq` (if given): the seq to wait for them.
  // `acknowledgement`: an acknowledgement leaves right after (with hold_acks: see holds_acks).
  LogOutcome Write(std::vector<LogOp> ops, bool wait, uint64_t* logged_seq = nullptr,
                   bool acknowledgement = false);
  // C thread: blocks until the store acknowledged everything up to `seq` (Write's seq).
  LogOutcome WaitStored(uint64_t seq);
  // C thread: blocks until everything logged so far is settled.
  LogOutcome Drain();
  // Reports a failure to JS (any thread).
  void Report(PersistenceOp op, const std::string& key, CallFailure failure, std::string message);

 private:
  explicit StoreBridge(const BridgeOptions& options);
  friend void BridgeCallJs(Napi::Env env, Napi::Function dispatch, StoreBridge* self, BridgeMessage* message);
  // Environment teardown: nobody is left to hear failures; release every waiter.
  void OnTeardown();
  bool ForwardAndWait(const CallPtr& call);
  bool RefuseOnJsThread(PersistenceOp op, const std::string& key);
  // batch_id: the failed batch the report is about (0: not a batch), so JS pairs it with its cause.
  void ReportOnJsThread(Napi::Env env, PersistenceOp op, const std::string& key, CallFailure failure,
                        const std::string& message, uint64_t batch_id = 0);
  std::chrono::steady_clock::time_point Deadline() const;
  // A writer waiting for room waits behind the batch in flight: twice the wait, within the keepalive limit.
  std::chrono::steady_clock::time_point RoomDeadline() const;
  // JS thread: batch handling (store_bridge_batches.cc).
  void RingDrainer();
  void DrainOnJsThread(Napi::Env env);
  Napi::Value BatchToJs(Napi::Env env, const LogBatch& batch);
  void ReportFailedWrites(Napi::Env env, uint64_t batch_id, const std::vector<LogOp>& ops,
                          const LogOutcome& outcome);

  const BridgeOptions options_;
  std::atomic<uint32_t> wait_ms_;
  std::atomic<uint32_t> room_wait_ms_;
  PahoPersistence paho_;
  OperationLog log_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> forwarded_{0};

  JsChannel<StoreBridge, BridgeMessage, &BridgeCallJs> channel_;
  std::mutex mutex_;  // guards calls_
  std::unordered_map<uint64_t, CallPtr> calls_;

  // JS-thread-only state.
  Napi::FunctionReference apply_batch_;
  Napi::FunctionReference on_failure_;
};

}  // namespace paho_redis
