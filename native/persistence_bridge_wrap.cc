#include "persistence_bridge_wrap.h"

#include "addon.h"

namespace paho_redis {

Napi::Function PersistenceBridgeWrap::Define(Napi::Env env) {
  return DefineClass(env, "PersistenceBridge",
                     {
                         InstanceMethod<&PersistenceBridgeWrap::Settle>("settle"),
                         InstanceMethod<&PersistenceBridgeWrap::Fail>("fail"),
                         InstanceMethod<&PersistenceBridgeWrap::Close>("close"),
                         InstanceAccessor<&PersistenceBridgeWrap::TimeoutMs>("timeoutMs"),
                         InstanceMethod<&PersistenceBridgeWrap::Stats>("stats"),
                     });
}

PersistenceBridgeWrap::PersistenceBridgeWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<PersistenceBridgeWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsFunction() || !info[1].IsFunction() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(
        env, "PersistenceBridge(dispatch, onFailure, timeoutMs) expects two functions and a number");
  }
  double timeout = info[2].As<Napi::Number>().DoubleValue();
  if (!(timeout >= 1 && timeout <= 3600000)) {
    throw Napi::RangeError::New(env, "timeoutMs must be between 1 and 3600000");
  }
  bridge_ = PersistenceBridge::Create(env, info[0].As<Napi::Function>(), info[1].As<Napi::Function>(),
                                      static_cast<uint32_t>(timeout));
}

std::shared_ptr<PersistenceBridge> PersistenceBridgeWrap::BridgeOf(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Addon::From(env).bridge_class.Value())) {
    throw Napi::TypeError::New(env, "expected a PersistenceBridge");
  }
  return ObjectWrap<PersistenceBridgeWrap>::Unwrap(value.As<Napi::Object>())->bridge_;
}

Napi::Value PersistenceBridgeWrap::Settle(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(
      info.Env(),
      bridge_->Settle(info.Env(), static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), info[1]));
}

Napi::Value PersistenceBridgeWrap::Fail(const Napi::CallbackInfo& info) {
  std::string message = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "store failure";
  return Napi::Boolean::New(
      info.Env(), bridge_->FailCall(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), message));
}

Napi::Value PersistenceBridgeWrap::Close(const Napi::CallbackInfo& info) {
  bridge_->Close();
  return info.Env().Undefined();
}

Napi::Value PersistenceBridgeWrap::TimeoutMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bridge_->timeout_ms());
}

}  // namespace paho_redis

namespace paho_redis {

Napi::Value PersistenceBridgeWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Object stats = Napi::Object::New(info.Env());
  KeyLedger::Stats ledger = bridge_->ledger_stats();
  stats.Set("forwarded", static_cast<double>(bridge_->forwarded()));
  stats.Set("skippedRemoves", static_cast<double>(ledger.skipped_removes));
  stats.Set("cachedGets", static_cast<double>(ledger.cached_gets));
  stats.Set("deferredRemoves", static_cast<double>(ledger.deferred_removes));
  return stats;
}

}  // namespace paho_redis
