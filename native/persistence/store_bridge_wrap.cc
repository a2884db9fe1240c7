#include "persistence/store_bridge_wrap.h"

#include "addon.h"

namespace paho_redis {

Napi::Function StoreBridgeWrap::Define(Napi::Env env) {
  return DefineClass(env, "StoreBridge",
                     {
                         InstanceMethod<&StoreBridgeWrap::Settle>("settle"),
                         InstanceMethod<&StoreBridgeWrap::Fail>("fail"),
                         InstanceMethod<&StoreBridgeWrap::SettleBatch>("settleBatch"),
                         InstanceMethod<&StoreBridgeWrap::MarkUnavailable>("markUnavailable"),
                         InstanceMethod<&StoreBridgeWrap::ReleaseHolds>("releaseHolds"),
                         InstanceAccessor<&StoreBridgeWrap::SettledSeq>("settledSeq"),
                         InstanceAccessor<&StoreBridgeWrap::LoggedSeq>("loggedSeq"),
                         InstanceMethod<&StoreBridgeWrap::RefusedUpTo>("refusedUpTo"),
                         InstanceMethod<&StoreBridgeWrap::Close>("close"),
                         InstanceAccessor<&StoreBridgeWrap::OperationTimeoutMs>("operationTimeoutMs"),
                         InstanceMethod<&StoreBridgeWrap::Stats>("stats"),
                     });
}

namespace {

// Options arrive validated by src/ (StoreBridge); these checks only keep native code safe.
// Every option is required: its default lives once, in src/persistence/bridge/options.ts.
double NumberOption(const Napi::Object& options, const char* name, double min, double max) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) throw Napi::TypeError::New(options.Env(), std::string(name) + " is required");
  double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= min && number <= max)) {
    throw Napi::RangeError::New(options.Env(), std::string(name) + " must be a number from " +
                                                   std::to_string(static_cast<uint64_t>(min)) + " to " +
                                                   std::to_string(static_cast<uint64_t>(max)));
  }
  return number;
}

BridgeOptions ParseOptions(const Napi::Object& options) {
  BridgeOptions parsed;
  parsed.operation_timeout_ms =
      static_cast<uint32_t>(NumberOption(options, "operationTimeoutMs", 1, 3600000));
  Napi::Value durability = options.Get("durability");
  std::string mode = durability.IsString() ? durability.As<Napi::String>().Utf8Value() : "";
  if (mode != "batched" && mode != "sync") {
    throw Napi::RangeError::New(options.Env(), "durability must be 'batched' or 'sync'");
  }
  parsed.durability = mode == "sync" ? Durability::kSync : Durability::kBatched;
  parsed.limits.max_queued_ops = static_cast<size_t>(NumberOption(options, "maxQueuedOps", 1, 1e9));
  parsed.limits.max_queued_bytes = static_cast<size_t>(NumberOption(options, "maxQueuedBytes", 1024, 1e12));
  parsed.limits.batches_in_flight = static_cast<size_t>(NumberOption(options, "batchesInFlight", 1, 64));
  Napi::Value unavailable = options.Get("onStoreUnavailable");
  std::string policy = unavailable.IsString() ? unavailable.As<Napi::String>().Utf8Value() : "";
  if (policy != "continue" && policy != "disconnect") {
    throw Napi::RangeError::New(options.Env(), "onStoreUnavailable must be 'continue' or 'disconnect'");
  }
  parsed.hold_acks = policy == "disconnect";
  return parsed;
}

CallFailure FailureFromCode(const std::string& code) {
  if (code == "ERR_PERSISTENCE_TIMEOUT") return CallFailure::kTimeout;
  if (code == "ERR_PERSISTENCE_CLOSING") return CallFailure::kClosing;
  if (code == "ERR_PERSISTENCE_UNAVAILABLE") return CallFailure::kUnavailable;
  return CallFailure::kStore;
}

}  // namespace

StoreBridgeWrap::StoreBridgeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreBridgeWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsFunction() || !info[1].IsFunction() || !info[2].IsFunction() ||
      !info[3].IsObject()) {
    throw Napi::TypeError::New(env,
                               "StoreBridge(dispatch, applyBatch, onFailure, options) expects three "
                               "functions and an options object");
  }
  bridge_ = StoreBridge::Create(env, info[0].As<Napi::Function>(), info[1].As<Napi::Function>(),
                                info[2].As<Napi::Function>(), ParseOptions(info[3].As<Napi::Object>()));
}

std::shared_ptr<StoreBridge> StoreBridgeWrap::BridgeOf(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Addon::From(env).bridge_class.Value())) {
    throw Napi::TypeError::New(env, "expected a StoreBridge");
  }
  return ObjectWrap<StoreBridgeWrap>::Unwrap(value.As<Napi::Object>())->bridge_;
}

Napi::Value StoreBridgeWrap::Settle(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(
      info.Env(),
      bridge_->Settle(info.Env(), static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), info[1]));
}

Napi::Value StoreBridgeWrap::Fail(const Napi::CallbackInfo& info) {
  std::string message = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "store failure";
  return Napi::Boolean::New(
      info.Env(), bridge_->FailCall(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), message));
}

// settleBatch(id) or settleBatch(id, code, message, failedAt?): returns the next batch, or undefined.
Napi::Value StoreBridgeWrap::SettleBatch(const Napi::CallbackInfo& info) {
  auto id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  LogOutcome outcome;
  size_t failed_at = 0;
  if (info.Length() >= 3 && info[1].IsString()) {
    outcome.failure = FailureFromCode(info[1].As<Napi::String>().Utf8Value());
    outcome.message = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "store failure";
    if (info.Length() >= 4 && info[3].IsNumber()) {
      double index = info[3].As<Napi::Number>().DoubleValue();
      if (index > 0) failed_at = static_cast<size_t>(index);
    }
  }
  return bridge_->SettleBatch(info.Env(), id, outcome, failed_at);
}

// markUnavailable(reason): the store does not answer; Paho threads stop waiting for it until a batch settles.
Napi::Value StoreBridgeWrap::MarkUnavailable(const Napi::CallbackInfo& info) {
  bridge_->log().MarkUnavailable(info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "unreachable");
  return info.Env().Undefined();
}

// releaseHolds(): the client is closing; acknowledgements held for their records (onStoreUnavailable
// 'disconnect') go on, so that Paho's threads can take the disconnect and destroy.
Napi::Value StoreBridgeWrap::ReleaseHolds(const Napi::CallbackInfo& info) {
  bridge_->log().ReleaseHolds();
  return info.Env().Undefined();
}

Napi::Value StoreBridgeWrap::SettledSeq(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bridge_->settled_seq()));
}

Napi::Value StoreBridgeWrap::LoggedSeq(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bridge_->logged_seq()));
}

Napi::Value StoreBridgeWrap::RefusedUpTo(const Napi::CallbackInfo& info) {
  std::string key = bridge_->refused_up_to(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  if (key.empty()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), key);
}

Napi::Value StoreBridgeWrap::Close(const Napi::CallbackInfo& info) {
  bridge_->Close();
  return info.Env().Undefined();
}

Napi::Value StoreBridgeWrap::OperationTimeoutMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bridge_->options().operation_timeout_ms);
}

Napi::Value StoreBridgeWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Object stats = Napi::Object::New(info.Env());
  KeyLedger::Stats ledger = bridge_->ledger_stats();
  stats.Set("forwarded", static_cast<double>(bridge_->forwarded()));
  stats.Set("skippedRemoves", static_cast<double>(ledger.skipped_removes));
  stats.Set("cachedGets", static_cast<double>(ledger.cached_gets));
  stats.Set("deferredRemoves", static_cast<double>(ledger.deferred_removes));
  stats.Set("answeredFromMemory", static_cast<double>(ledger.answered_from_memory));
  OperationLog::Stats log = bridge_->log_stats();
  stats.Set("opsLogged", static_cast<double>(log.logged));
  stats.Set("opsAbsorbed", static_cast<double>(log.absorbed));
  stats.Set("batches", static_cast<double>(log.batches));
  stats.Set("opsWritten", static_cast<double>(log.written));
  stats.Set("barrierWaits", static_cast<double>(log.barrier_waits));
  stats.Set("roomWaits", static_cast<double>(log.room_waits));
  stats.Set("failedOps", static_cast<double>(log.failed));
  stats.Set("queueDepth", static_cast<double>(log.queue_depth));
  stats.Set("queueBytes", static_cast<double>(log.bytes));
  stats.Set("outages", static_cast<double>(log.outages));
  stats.Set("waitsSkipped", static_cast<double>(log.waits_skipped));
  stats.Set("writesRefused", static_cast<double>(log.writes_refused));
  stats.Set("batchesInFlightPeak", static_cast<double>(log.batches_in_flight_peak));
  return stats;
}

}  // namespace paho_redis
