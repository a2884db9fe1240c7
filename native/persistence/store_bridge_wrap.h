// The JS face of a StoreBridge:
// `new StoreBridge(dispatch, applyBatch, onFailure, { timeoutMs, durability, maxOps, maxBytes })`.
#pragma once

#include <napi.h>

#include <memory>

#include "persistence/store_bridge.h"

namespace paho_redis {

class StoreBridgeWrap : public Napi::ObjectWrap<StoreBridgeWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit StoreBridgeWrap(const Napi::CallbackInfo& info);

  // Native users (the client, the test driver) get the bridge from a JS object.
  static std::shared_ptr<StoreBridge> BridgeOf(const Napi::Value& value);

 private:
  Napi::Value Settle(const Napi::CallbackInfo& info);
  Napi::Value Fail(const Napi::CallbackInfo& info);
  Napi::Value SettleBatch(const Napi::CallbackInfo& info);
  Napi::Value MarkUnavailable(const Napi::CallbackInfo& info);
  Napi::Value ReleaseHolds(const Napi::CallbackInfo& info);
  Napi::Value SettledSeq(const Napi::CallbackInfo& info);
  Napi::Value LoggedSeq(const Napi::CallbackInfo& info);
  Napi::Value RefusedUpTo(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value OperationTimeoutMs(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  std::shared_ptr<StoreBridge> bridge_;
};

}  // namespace paho_redis
