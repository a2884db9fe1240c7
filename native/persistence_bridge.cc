#include "persistence_bridge.h"

#include <MQTTAsync.h>

#include <cstring>

#include "js_thread.h"

namespace paho_redis {

namespace {

PersistenceBridge* FromHandle(void* handle) { return static_cast<PersistenceBridge*>(handle); }

thread_local std::vector<PersistenceBridge::ThreadFailure> t_failures;

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

PersistenceBridge::PersistenceBridge(uint32_t timeout_ms) : timeout_ms_(timeout_ms) {
  persistence_.context = this;
  persistence_.popen = &PersistenceBridge::Open;
  persistence_.pclose = &PersistenceBridge::CloseStore;
  persistence_.pput = &PersistenceBridge::Put;
  persistence_.pget = &PersistenceBridge::Get;
  persistence_.premove = &PersistenceBridge::Remove;
  persistence_.pkeys = &PersistenceBridge::Keys;
  persistence_.pclear = &PersistenceBridge::Clear;
  persistence_.pcontainskey = &PersistenceBridge::ContainsKey;
}

PersistenceBridge::~PersistenceBridge() = default;

std::shared_ptr<PersistenceBridge> PersistenceBridge::Create(Napi::Env env, Napi::Function dispatch,
                                                             Napi::Function on_failure, uint32_t timeout_ms) {
  std::shared_ptr<PersistenceBridge> self(new PersistenceBridge(timeout_ms));
  self->env_ = env;
  self->on_failure_ = Napi::Persistent(on_failure);
  // The thread-safe function keeps this object alive until it is finalized.
  auto* tsfn_ref = new std::shared_ptr<PersistenceBridge>(self);
  self->tsfn_ = Tsfn::New(
      env, dispatch, "paho-mqtt-redis:persistence", 0, 1, self.get(),
      [](Napi::Env, std::shared_ptr<PersistenceBridge>* ref, PersistenceBridge* bridge) {
        bridge->Shutdown();
        delete ref;
      },
      tsfn_ref);
  // Idle bridges must not keep the process alive; pending client operations do that.
  self->tsfn_.Unref(env);
  self->open_ = true;
  // Runs before the thread-safe function's own teardown (hooks run in reverse order).
  self->cleanup_self_ = new std::shared_ptr<PersistenceBridge>(self);
  napi_add_env_cleanup_hook(env, &PersistenceBridge::OnEnvCleanup, self->cleanup_self_);
  return self;
}

void PersistenceBridge::OnEnvCleanup(void* arg) {
  auto* ref = static_cast<std::shared_ptr<PersistenceBridge>*>(arg);
  std::shared_ptr<PersistenceBridge> self = *ref;
  self->cleanup_self_ = nullptr;
  delete ref;
  self->on_failure_.Reset();
  self->Shutdown();
}

void PersistenceBridge::Close() {
  std::shared_ptr<PersistenceBridge> keep = shared_from_this();
  if (cleanup_self_ != nullptr) {
    napi_remove_env_cleanup_hook(env_, &PersistenceBridge::OnEnvCleanup, cleanup_self_);
    delete cleanup_self_;
    cleanup_self_ = nullptr;
  }
  on_failure_.Reset();
  Shutdown();
}

void PersistenceBridge::Shutdown() {
  std::unordered_map<uint64_t, CallPtr> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_) {
      open_ = false;
      tsfn_.Release();
    }
    waiting.swap(calls_);
  }
  for (auto& entry : waiting) {
    entry.second->Fail(CallFailure::kClosing, "the Node.js environment is shutting down");
  }
}

CallPtr PersistenceBridge::NewCall(PersistenceOp op, const char* key) {
  return std::make_shared<PersistenceCall>(next_id_.fetch_add(1), op, key != nullptr ? key : "");
}

void PersistenceBridge::ResetThreadFailures() { t_failures.clear(); }

std::vector<PersistenceBridge::ThreadFailure> PersistenceBridge::TakeThreadFailures() {
  std::vector<ThreadFailure> taken;
  taken.swap(t_failures);
  return taken;
}

bool PersistenceBridge::Forward(const CallPtr& call) {
  bool ok = ForwardAndWait(call);
  if (!ok && t_failures.size() < 16) {
    t_failures.push_back({call->op, call->key, call->Failure(), call->failure_message});
  }
  return ok;
}

bool PersistenceBridge::ForwardAndWait(const CallPtr& call) {
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  if (OnJsThread()) {
    // Waiting here would wait for this very thread: fail fast, and say so.
    Report(call->op, call->key, CallFailure::kJsThread,
           "a Paho persistence callback ran on the JavaScript thread; it was refused to avoid a deadlock");
    call->Fail(CallFailure::kJsThread, "refused on the JavaScript thread");
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) {
      call->Fail(CallFailure::kClosing, "the persistence bridge is closed");
      return false;
    }
    auto* message = new BridgeMessage{call, call->op, "", CallFailure::kNone, ""};
    if (tsfn_.NonBlockingCall(message) != napi_ok) {
      delete message;
      call->Fail(CallFailure::kClosing, "the Node.js environment is shutting down");
      return false;
    }
    calls_.emplace(call->id, call);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  CallFailure failure = call->WaitUntil(deadline);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.erase(call->id);
  }
  if (failure == CallFailure::kTimeout) {
    Report(call->op, call->key, failure,
           std::string("the store did not answer within ") + std::to_string(timeout_ms_) + " ms");
  }
  return failure == CallFailure::kNone;
}

void PersistenceBridge::Report(PersistenceOp op, const std::string& key, CallFailure failure,
                               std::string message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!open_) return;  // the environment is gone: nobody is left to tell
  auto* report = new BridgeMessage{nullptr, op, key, failure, std::move(message)};
  if (tsfn_.NonBlockingCall(report) != napi_ok) delete report;
}

void PersistenceBridge::ReportOnJsThread(Napi::Env env, PersistenceOp op, const std::string& key,
                                         CallFailure failure, const std::string& message) {
  if (on_failure_.IsEmpty()) return;
  try {
    Napi::HandleScope scope(env);
    on_failure_.Call({Napi::String::New(env, OpName(op)), Napi::String::New(env, key),
                      Napi::String::New(env, FailureCode(failure)), Napi::String::New(env, message)});
  } catch (const Napi::Error& error) {
    // A throwing listener must not become an uncaught exception inside a native callback.
    // An empty message means the environment is terminating: nothing to tell.
    if (!error.Message().empty())
      fprintf(stderr, "paho-mqtt-redis: persistence failure listener threw: %s\n", error.Message().c_str());
  }
}

void BridgeCallJs(Napi::Env env, Napi::Function dispatch, PersistenceBridge* self, BridgeMessage* raw) {
  std::unique_ptr<BridgeMessage> message(raw);
  if (env == nullptr) {
    // Finalization: still-queued calls are released with an error.
    if (message->call) message->call->Fail(CallFailure::kClosing, "the Node.js environment is shutting down");
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

bool PersistenceBridge::Settle(Napi::Env env, uint64_t id, Napi::Value value) {
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

bool PersistenceBridge::FailCall(uint64_t id, const std::string& message) {
  CallPtr call;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = calls_.find(id);
    if (found == calls_.end()) return false;
    call = found->second;
  }
  return call->Fail(CallFailure::kStore, message);
}

// ---- Paho's callbacks: run on Paho's threads or an MQTTAsync_* caller's thread ----

int PersistenceBridge::Open(void** handle, const char* client_id, const char* server_uri, void* context) {
  auto* self = static_cast<PersistenceBridge*>(context);
  CallPtr call = self->NewCall(PersistenceOp::kOpen, "");
  call->client_id = client_id != nullptr ? client_id : "";
  call->server_uri = server_uri != nullptr ? server_uri : "";
  self->ledger_.Reset();
  if (!self->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  *handle = self;
  return 0;
}

void PersistenceBridge::FlushDeferred() {
  if (auto key = ledger_.TakeDeferred()) ForwardRemove(*key);
}

bool PersistenceBridge::ForwardRemove(const std::string& key) {
  bool ok = Forward(NewCall(PersistenceOp::kRemove, key.c_str()));
  ledger_.Removed(key, ok);
  return ok;
}

int PersistenceBridge::CloseStore(void* handle) {
  auto* self = FromHandle(handle);
  for (const std::string& key : self->ledger_.TakeAllDeferred()) self->ForwardRemove(key);
  self->ledger_.Reset();
  return self->Forward(self->NewCall(PersistenceOp::kClose, "")) ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PersistenceBridge::Put(void* handle, char* key, int bufcount, char* buffers[], int buflens[]) {
  auto* self = FromHandle(handle);
  CallPtr call = self->NewCall(PersistenceOp::kPut, key);
  size_t total = 0;
  for (int i = 0; i < bufcount; ++i) total += static_cast<size_t>(buflens[i]);
  // The one copy: Paho's buffers are only valid during this call.
  auto bytes = std::make_shared<std::vector<uint8_t>>(total);
  size_t offset = 0;
  for (int i = 0; i < bufcount; ++i) {
    if (buflens[i] > 0) memcpy(bytes->data() + offset, buffers[i], static_cast<size_t>(buflens[i]));
    offset += static_cast<size_t>(buflens[i]);
  }
  call->data = bytes;
  // A deferred command remove is due once the sent packet (s-N) is stored; any other put
  // means the thread moved on, so it is due before.
  bool sent_publish = call->key.rfind("s-", 0) == 0 || call->key.rfind("s5-", 0) == 0;
  if (!sent_publish) self->FlushDeferred();
  // The ledger keeps its own copy of a command: a store may write into the Buffer it got.
  bool command = call->key.rfind("c-", 0) == 0 || call->key.rfind("c5-", 0) == 0;
  self->ledger_.Added(call->key, command ? std::make_shared<const std::vector<uint8_t>>(*bytes) : nullptr);
  bool ok = self->Forward(call);
  if (sent_publish) self->FlushDeferred();
  return ok ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PersistenceBridge::Get(void* handle, char* key, char** buffer, int* buflen) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->NewCall(PersistenceOp::kGet, key);
  // On a JS thread nothing is answered, not even from memory: Forward refuses it.
  Bytes cached = OnJsThread() ? nullptr : self->ledger_.CachedCommand(call->key);
  if (!cached) {
    if (!self->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
    self->ledger_.Fetched(call->key, std::make_shared<const std::vector<uint8_t>>(call->bytes));
  }
  const std::vector<uint8_t>& found = cached ? *cached : call->bytes;
  // Paho frees this with its tracked free(): it must come from MQTTAsync_malloc.
  size_t length = found.size();
  char* out = static_cast<char*>(MQTTAsync_malloc(length > 0 ? length : 1));
  if (out == nullptr) return MQTTCLIENT_PERSISTENCE_ERROR;
  if (length > 0) memcpy(out, found.data(), length);
  *buffer = out;
  *buflen = static_cast<int>(length);
  return 0;
}

int PersistenceBridge::Remove(void* handle, char* key) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  std::string name = key != nullptr ? key : "";
  if (!self->ledger_.MayExist(name)) return 0;    // known absent: no round trip
  if (self->ledger_.DeferRemove(name)) return 0;  // due after the s-N put (see KeyLedger)
  return self->ForwardRemove(name) ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PersistenceBridge::Keys(void* handle, char*** keys, int* nkeys) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->NewCall(PersistenceOp::kKeys, "");
  if (!self->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  const auto& found = call->keys;
  self->ledger_.Learn(found);
  char** out = nullptr;
  if (!found.empty()) {
    out = static_cast<char**>(MQTTAsync_malloc(found.size() * sizeof(char*)));
    if (out == nullptr) return MQTTCLIENT_PERSISTENCE_ERROR;
    for (size_t i = 0; i < found.size(); ++i) {
      out[i] = static_cast<char*>(MQTTAsync_malloc(found[i].size() + 1));
      if (out[i] == nullptr) {
        for (size_t j = 0; j < i; ++j) MQTTAsync_free(out[j]);
        MQTTAsync_free(out);
        return MQTTCLIENT_PERSISTENCE_ERROR;
      }
      memcpy(out[i], found[i].c_str(), found[i].size() + 1);
    }
  }
  *keys = out;
  *nkeys = static_cast<int>(found.size());
  return 0;
}

int PersistenceBridge::Clear(void* handle) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  if (!self->Forward(self->NewCall(PersistenceOp::kClear, ""))) return MQTTCLIENT_PERSISTENCE_ERROR;
  self->ledger_.Cleared();
  return 0;
}

int PersistenceBridge::ContainsKey(void* handle, char* key) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->NewCall(PersistenceOp::kContainsKey, key);
  if (!self->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  return call->contains ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

}  // namespace paho_redis
