// The C side of a user persistence: forwards store calls to a JS ClientPersistence through
// a thread-safe function, and blocks the calling C thread (with a deadline) until JS
// settles the call. Paho's callbacks themselves live in PahoPersistence.
#pragma once

#include <MQTTClientPersistence.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "js_channel.h"
#include "paho_persistence.h"
#include "persistence_call.h"

namespace paho_redis {

// What travels through the thread-safe function: a request for the store, or a
// failure the native side detected and JS must hear about.
struct BridgeMessage {
  CallPtr call;  // set for requests
  PersistenceOp op = PersistenceOp::kOpen;
  std::string key;
  CallFailure failure = CallFailure::kNone;
  std::string message;
};

class PersistenceBridge;
// The thread-safe function's JS-thread half (a free function: the class is incomplete
// where the thread-safe-function type is named).
void BridgeCallJs(Napi::Env env, Napi::Function dispatch, PersistenceBridge* self, BridgeMessage* message);

class PersistenceBridge : public std::enable_shared_from_this<PersistenceBridge> {
 public:
  // dispatch(id, opIndex, key, data?, clientId?, serverURI?) must end in settle/fail;
  // onFailure(op, key, code, message) hears failures detected natively.
  static std::shared_ptr<PersistenceBridge> Create(Napi::Env env, Napi::Function dispatch,
                                                   Napi::Function on_failure, uint32_t timeout_ms);
  ~PersistenceBridge();

  // The struct to hand to MQTTAsync_create; valid while this object lives.
  MQTTClient_persistence* persistence() { return paho_.persistence(); }
  uint32_t timeout_ms() const { return timeout_ms_; }
  KeyLedger::Stats ledger_stats() { return paho_.ledger_stats(); }
  uint64_t forwarded() const { return forwarded_.load(); }

  // JS thread: answers for call `id`. False if the call is no longer waiting.
  bool Settle(Napi::Env env, uint64_t id, Napi::Value value);
  bool FailCall(uint64_t id, const std::string& message);
  // JS thread: stop forwarding; every waiting and future callback fails with -2.
  void Close();
  // Same, from a teardown path (idempotent; the bridge's own cleanup hook may still run).
  void Shutdown();

  // Failures seen by callbacks on the calling thread since the last Reset: lets the
  // client learn of a `c-` put that Paho swallowed inside MQTTAsync_sendMessage.
  struct ThreadFailure {
    PersistenceOp op;
    std::string key;
    CallFailure failure;
    std::string message;
  };
  static void ResetThreadFailures();
  static std::vector<ThreadFailure> TakeThreadFailures();

  // Any thread: a new call for `op` on `key` (null: none).
  CallPtr NewCall(PersistenceOp op, const char* key);
  // Runs one call from a C thread: forward, wait, and on failure return false (the
  // failure is also recorded for TakeThreadFailures).
  bool Forward(const CallPtr& call);

 private:
  PersistenceBridge(uint32_t timeout_ms);
  friend void BridgeCallJs(Napi::Env env, Napi::Function dispatch, PersistenceBridge* self,
                           BridgeMessage* message);
  // Environment teardown: nobody is left to hear failures; release every waiter.
  void OnTeardown();
  bool ForwardAndWait(const CallPtr& call);
  void Report(PersistenceOp op, const std::string& key, CallFailure failure, std::string message);
  void ReportOnJsThread(Napi::Env env, PersistenceOp op, const std::string& key, CallFailure failure,
                        const std::string& message);

  const uint32_t timeout_ms_;
  PahoPersistence paho_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> forwarded_{0};

  JsChannel<PersistenceBridge, BridgeMessage, &BridgeCallJs> channel_;
  std::mutex mutex_;  // guards calls_
  std::unordered_map<uint64_t, CallPtr> calls_;

  // JS-thread-only state.
  Napi::FunctionReference on_failure_;
};

}  // namespace paho_redis
