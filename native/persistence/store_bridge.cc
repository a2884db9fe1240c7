#include "persistence/store_bridge.h"

#include <MQTTAsync.h>

#include <algorithm>
#include <cstring>

#include "util/js_thread.h"

namespace paho_redis {

namespace {

thread_local std::vector<StoreBridge::ThreadFailure> t_failures;

std::string DescribeType(const Napi::Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsUndefined()) return "undefined";
  if (value.IsArray()) return "an array";
  switch (value.Type()) {
    case napi_boolean:
      return "a boolean";
    case napi_number:
      return "a number";
    case napi_string:
      return "a string";
    case napi_function:
      return "a function";
    default:
      return "an object";
  }
}

}  // namespace

StoreBridge::StoreBridge(const BridgeOptions& options)
    : options_(options),
      wait_ms_(options.operation_timeout_ms),
      room_wait_ms_(2 * options.operation_timeout_ms),
      paho_(this),
      log_(options.limits) {}

void StoreBridge::LimitWaits(int keepalive_seconds) {
  uint32_t limit = options_.operation_timeout_ms;
  uint32_t room = 2 * options_.operation_timeout_ms;
  if (keepalive_seconds > 0) {
    uint32_t quarter = std::max<uint32_t>(1, static_cast<uint32_t>(keepalive_seconds) * 250);
    limit = std::min(limit, quarter);
    room = std::min(room, quarter);
  }
  wait_ms_ = limit;
  room_wait_ms_ = room;
}

StoreBridge::~StoreBridge() = default;

std::shared_ptr<StoreBridge> StoreBridge::Create(Napi::Env env, Napi::Function dispatch,
                                                 Napi::Function apply_batch, Napi::Function on_failure,
                                                 const BridgeOptions& options) {
  std::shared_ptr<StoreBridge> self(new StoreBridge(options));
  self->apply_batch_ = Napi::Persistent(apply_batch);
  self->on_failure_ = Napi::Persistent(on_failure);
  // Unref'd: idle bridges must not keep the process alive; pending client operations do that.
  self->channel_.Open(env, dispatch, "paho-mqtt-redis:persistence", self, &StoreBridge::OnTeardown);
  return self;
}

void StoreBridge::OnTeardown() {
  on_failure_.Reset();
  apply_batch_.Reset();
  Shutdown();
}

void StoreBridge::Close() {
  std::shared_ptr<StoreBridge> keep = shared_from_this();
  on_failure_.Reset();
  apply_batch_.Reset();
  channel_.Dispose();
  Shutdown();
}

void StoreBridge::Shutdown() {
  channel_.Close();
  log_.Close();
  std::unordered_map<uint64_t, CallPtr> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waiting.swap(calls_);
  }
  for (auto& entry : waiting) {
    entry.second->Fail(CallFailure::kClosing, "the Node.js environment is shutting down");
  }
}

std::chrono::steady_clock::time_point StoreBridge::Deadline() const {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms_.load());
}

std::chrono::steady_clock::time_point StoreBridge::AckDeadline() {
  // No deadline as such: close() and environment teardown release the waiter.
  return std::chrono::steady_clock::now() + std::chrono::hours(24 * 365);
}

std::chrono::steady_clock::time_point StoreBridge::RoomDeadline() const {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(room_wait_ms_.load());
}

CallPtr StoreBridge::NewCall(PersistenceOp op, const char* key) {
  return std::make_shared<PersistenceCall>(next_id_.fetch_add(1), op, key != nullptr ? key : "");
}

void StoreBridge::ResetThreadFailures() { t_failures.clear(); }

void StoreBridge::RecordThreadFailure(ThreadFailure failure) {
  if (t_failures.size() < 16) t_failures.push_back(std::move(failure));
}

std::vector<StoreBridge::ThreadFailure> StoreBridge::TakeThreadFailures() {
  std::vector<ThreadFailure> taken;
  taken.swap(t_failures);
  return taken;
}

bool StoreBridge::Forward(const CallPtr& call) {
  bool ok = ForwardAndWait(call);
  if (!ok) RecordThreadFailure({call->op, call->key, call->Failure(), call->failure_message});
  return ok;
}

bool StoreBridge::ForwardAndWait(const CallPtr& call) {
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  if (RefuseOnJsThread(call->op, call->key)) {
    call->Fail(CallFailure::kJsThread, "refused on the JavaScript thread");
    return false;
  }
  {
    // Registered before it is sent: JS may settle it before Send returns.
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.emplace(call->id, call);
  }
  auto* message = new BridgeMessage{call, call->op, "", CallFailure::kNone, "", false};
  if (!channel_.Send(message)) {
    delete message;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      calls_.erase(call->id);
    }
    call->Fail(CallFailure::kClosing, "the persistence bridge is closed");
    return false;
  }
  CallFailure failure = call->WaitUntil(Deadline());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.erase(call->id);
  }
  if (failure == CallFailure::kTimeout) {
    std::string message =
        std::string("the store did not answer within ") + std::to_string(wait_ms_.load()) + " ms";
    // Open and close run outside Paho's traffic; a read that timed out means the store does not answer.
    if (call->op != PersistenceOp::kOpen && call->op != PersistenceOp::kClose) log_.MarkUnavailable(message);
    Report(call->op, call->key, failure, message);
  }
  return failure == CallFailure::kNone;
}

bool StoreBridge::RefuseOnJsThread(PersistenceOp op, const std::string& key) {
  if (!OnJsThread()) return false;
  // Waiting here would wait for this very thread: fail fast, and say so.
  Report(op, key, CallFailure::kJsThread,
         "a Paho persistence callback ran on the JavaScript thread; it was refused to avoid a deadlock");
  return true;
}

void StoreBridge::Report(PersistenceOp op, const std::string& key, CallFailure failure, std::string message) {
  // Once closed, nobody is left to tell.
  auto* report = new BridgeMessage{nullptr, op, key, failure, std::move(message), false};
  if (!channel_.Send(report)) delete report;
}

void StoreBridge::ReportOnJsThread(Napi::Env env, PersistenceOp op, const std::string& key,
                                   CallFailure failure, const std::string& message, uint64_t batch_id) {
  if (on_failure_.IsEmpty()) return;
  try {
    Napi::HandleScope scope(env);
    on_failure_.Call({Napi::String::New(env, OpName(op)), Napi::String::New(env, key),
                      Napi::String::New(env, FailureCode(failure)), Napi::String::New(env, message),
                      Napi::Number::New(env, static_cast<double>(batch_id))});
  } catch (const Napi::Error& error) {
    // A throwing listener must not become an uncaught exception inside a native callback.
    // An empty message means the environment is terminating: nothing to tell.
    if (!error.Message().empty())
      fprintf(stderr, "paho-mqtt-redis: persistence failure listener threw: %s\n", error.Message().c_str());
  }
}

void BridgeCallJs(Napi::Env env, Napi::Function dispatch, StoreBridge* self, BridgeMessage* raw) {
  std::unique_ptr<BridgeMessage> message(raw);
  if (env == nullptr) {
    // Finalization: still-queued calls are released with an error.
    if (message->call) message->call->Fail(CallFailure::kClosing, "the Node.js environment is shutting down");
    return;
  }
  if (message->drain) {
    self->DrainOnJsThread(env);
    return;
  }
  if (!message->call) {
    self->ReportOnJsThread(env, message->op, message->key, message->failure, message->message);
    return;
  }
  const CallPtr& call = message->call;
  if (call->Finished()) return;  // timed out while queued
  try {
    Napi::Value data = env.Undefined();
    if (call->op == PersistenceOp::kPut) {
      if (call->data->empty()) {
        data = Napi::Buffer<uint8_t>::New(env, 0);
      } else {
        // No second copy: the Buffer shares the bytes, and keeps them alive until collected.
        auto* owner = new Bytes(call->data);
        data = Napi::Buffer<uint8_t>::NewOrCopy(
            env, const_cast<uint8_t*>(call->data->data()), call->data->size(),
            [](Napi::Env, uint8_t*, Bytes* held) { delete held; }, owner);
      }
    }
    napi_value args[] = {
        Napi::Number::New(env, static_cast<double>(call->id)),
        Napi::Number::New(env, static_cast<double>(call->op)),
        Napi::String::New(env, call->key),
        data,
        call->op == PersistenceOp::kOpen ? Napi::String::New(env, call->client_id) : env.Undefined(),
        call->op == PersistenceOp::kOpen ? Napi::String::New(env, call->server_uri) : env.Undefined(),
    };
    dispatch.Call(6, args);
  } catch (const Napi::Error& error) {
    // The TS dispatcher catches store errors itself; this catches a terminating
    // environment (worker exit) and is a last line of defence. The C thread is released.
    if (self->FailCall(call->id, error.Message())) {
      self->ReportOnJsThread(env, call->op, call->key, CallFailure::kStore, error.Message());
    }
  }
}

bool StoreBridge::Settle(Napi::Env env, uint64_t id, Napi::Value value) {
  CallPtr call;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = calls_.find(id);
    if (found == calls_.end()) return false;
    call = found->second;
  }
  auto reject = [&](const std::string& why) {
    if (call->Fail(CallFailure::kBadResult, why))
      ReportOnJsThread(env, call->op, call->key, CallFailure::kBadResult, why);
    return false;
  };
  switch (call->op) {
    case PersistenceOp::kGet: {
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        return reject("get() must answer a Buffer, got " + DescribeType(value));
      }
      auto bytes = value.As<Napi::Uint8Array>();
      const uint8_t* begin = bytes.Data();
      return call->SucceedWithBytes(std::vector<uint8_t>(begin, begin + bytes.ByteLength()));
    }
    case PersistenceOp::kKeys: {
      if (!value.IsArray())
        return reject("keys() must answer an array of strings, got " + DescribeType(value));
      auto array = value.As<Napi::Array>();
      std::vector<std::string> keys;
      keys.reserve(array.Length());
      for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value item = array.Get(i);
        if (!item.IsString())
          return reject("keys() must answer an array of strings, item " + std::to_string(i) + " is " +
                        DescribeType(item));
        std::string key = item.As<Napi::String>().Utf8Value();
        // Paho's restore sorts on the text after '-' and crashes on keys without one.
        if (key.find('-') == std::string::npos) {
          ReportOnJsThread(env, call->op, key, CallFailure::kBadResult,
                           "keys() answered '" + key + "', which is not a Paho key; it was skipped");
          continue;
        }
        keys.push_back(std::move(key));
      }
      return call->SucceedWithKeys(std::move(keys));
    }
    case PersistenceOp::kContainsKey:
      if (!value.IsBoolean())
        return reject("containsKey() must answer a boolean, got " + DescribeType(value));
      return call->SucceedWithBool(value.As<Napi::Boolean>().Value());
    default:
      return call->Succeed();
  }
}

bool StoreBridge::FailCall(uint64_t id, const std::string& message) {
  CallPtr call;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = calls_.find(id);
    if (found == calls_.end()) return false;
    call = found->second;
  }
  return call->Fail(CallFailure::kStore, message);
}

}  // namespace paho_redis
