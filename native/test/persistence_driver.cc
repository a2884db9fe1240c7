#include "test/persistence_driver.h"

#include <MQTTAsync.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "client/sent_publish.h"
#include "persistence/store_bridge_wrap.h"

namespace paho_redis {

namespace {

const char* const kOpNames[] = {"open", "close", "put", "get", "remove", "keys", "clear", "containsKey"};

PersistenceOp ParseOp(Napi::Env env, const Napi::Value& value) {
  std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  for (int i = 0; i < 8; ++i) {
    if (name == kOpNames[i]) return static_cast<PersistenceOp>(i);
  }
  throw Napi::TypeError::New(env, "unknown persistence op '" + name + "'");
}

// Runs one step through the struct, as Paho would, and records the answer.
void RunStep(MQTTClient_persistence* p, void** handle, DriverStep& step) {
  char* key = const_cast<char*>(step.key.c_str());
  switch (step.op) {
    case PersistenceOp::kOpen:
      step.rc = p->popen(handle, step.client_id.c_str(), step.server_uri.c_str(), p->context);
      break;
    case PersistenceOp::kClose:
      step.rc = p->pclose(*handle);
      break;
    case PersistenceOp::kPut: {
      std::vector<char*> bufs;
      std::vector<int> lens;
      for (auto& b : step.buffers) {
        bufs.push_back(b.data());
        lens.push_back(static_cast<int>(b.size()));
      }
      step.rc = p->pput(*handle, key, static_cast<int>(bufs.size()), bufs.data(), lens.data());
      break;
    }
    case PersistenceOp::kGet: {
      char* buffer = nullptr;
      int length = -1;
      step.rc = p->pget(*handle, key, &buffer, &length);
      if (step.rc == 0) {
        step.data.assign(buffer, buffer + length);
        MQTTAsync_free(buffer);
      }
      break;
    }
    case PersistenceOp::kRemove:
      step.rc = p->premove(*handle, key);
      break;
    case PersistenceOp::kKeys: {
      char** keys = reinterpret_cast<char**>(0x1);  // Paho passes garbage; both outputs must be set
      int count = -1;
      step.rc = p->pkeys(*handle, &keys, &count);
      if (step.rc == 0) {
        for (int i = 0; i < count; ++i) {
          step.keys.emplace_back(keys[i]);
          MQTTAsync_free(keys[i]);
        }
        if (keys != nullptr) MQTTAsync_free(keys);
      }
      break;
    }
    case PersistenceOp::kClear:
      step.rc = p->pclear(*handle);
      break;
    case PersistenceOp::kContainsKey:
      step.rc = p->pcontainskey(*handle, key);
      break;
  }
}

// Deterministic test content: `count` buffers, with zero bytes, varying lengths.
std::vector<std::vector<char>> MakeBuffers(int thread, int iteration, int count) {
  std::vector<std::vector<char>> buffers;
  for (int b = 0; b < count; ++b) {
    std::vector<char> buffer(static_cast<size_t>((iteration * 7 + b * 13) % 97));
    for (size_t i = 0; i < buffer.size(); ++i)
      buffer[i] = static_cast<char>((thread * 31 + iteration + b + i) % 256);
    buffers.push_back(std::move(buffer));
  }
  return buffers;
}

DriverStep Step(PersistenceOp op, const std::string& key = "") {
  DriverStep step;
  step.op = op;
  step.key = key;
  return step;
}

const char* const kKeyPrefixes[] = {"c-", "s-", "sc-", "r-", "q-", "c5-", "s5-", "sc5-", "r5-", "q5-"};

}  // namespace

PersistenceDriver::PersistenceDriver(Napi::Env env, std::shared_ptr<StoreBridge> bridge)
    : env_(env), bridge_(std::move(bridge)), deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Object PersistenceDriver::Exports(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("runScript", Napi::Function::New(env, &PersistenceDriver::RunScript));
  exports.Set("runStress", Napi::Function::New(env, &PersistenceDriver::RunStress));
  exports.Set("callOnJsThread", Napi::Function::New(env, &PersistenceDriver::CallOnJsThread));
  exports.Set("parseSentPublish", Napi::Function::New(env, &PersistenceDriver::ParseSentPublishJs));
  exports.Set("sendOrder", Napi::Function::New(env, &PersistenceDriver::SendOrder));
  exports.Set("leakForTest", Napi::Function::New(env, &PersistenceDriver::LeakForTest));
  return exports;
}

// Loses `bytes` bytes on purpose, so the leak check (test/native/exit-leaks.test.ts) shows it
// can see a leak of this addon. The volatile sink keeps the compiler from eliding the allocation.
Napi::Value PersistenceDriver::LeakForTest(const Napi::CallbackInfo& info) {
  static char* volatile sink;
  sink = new char[info[0].As<Napi::Number>().Uint32Value()];
  sink = nullptr;
  return info.Env().Undefined();
}

Napi::Value PersistenceDriver::ParseSentPublishJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string key = info[0].As<Napi::String>();
  auto buffer = info[1].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> bytes(buffer.Data(), buffer.Data() + buffer.Length());
  std::optional<SentPublish> parsed = ParseSentPublish(key, bytes);
  if (!parsed) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("msgid", parsed->msgid);
  out.Set("topic", parsed->topic);
  out.Set("payload", Napi::Buffer<char>::Copy(env, parsed->payload.data(), parsed->payload.size()));
  out.Set("qos", parsed->qos);
  out.Set("retained", parsed->retained);
  out.Set("properties", PropertiesToJs(env, parsed->properties));
  return out;
}

Napi::Value PersistenceDriver::SendOrder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ids = info[0].As<Napi::Array>();
  std::vector<SentPublish> publishes(ids.Length());
  for (uint32_t i = 0; i < ids.Length(); ++i) publishes[i].msgid = ids.Get(i).As<Napi::Number>().Int32Value();
  SortInSendOrder(&publishes);
  Napi::Array out = Napi::Array::New(env, publishes.size());
  for (uint32_t i = 0; i < publishes.size(); ++i) out.Set(i, publishes[i].msgid);
  return out;
}

Napi::Value PersistenceDriver::RunScript(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new PersistenceDriver(env, StoreBridgeWrap::BridgeOf(info[0]));
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "runScript(bridge, steps[])");
  Napi::Array steps = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < steps.Length(); ++i) {
    Napi::Object spec = steps.Get(i).As<Napi::Object>();
    DriverStep step;
    step.delivered =
        spec.Get("op").IsString() && spec.Get("op").As<Napi::String>().Utf8Value() == "delivered";
    step.op = step.delivered ? PersistenceOp::kOpen : ParseOp(env, spec.Get("op"));
    if (spec.Get("key").IsString()) step.key = spec.Get("key").As<Napi::String>().Utf8Value();
    if (spec.Get("clientId").IsString()) step.client_id = spec.Get("clientId").As<Napi::String>().Utf8Value();
    if (spec.Get("serverURI").IsString())
      step.server_uri = spec.Get("serverURI").As<Napi::String>().Utf8Value();
    if (spec.Get("buffers").IsArray()) {
      Napi::Array buffers = spec.Get("buffers").As<Napi::Array>();
      for (uint32_t b = 0; b < buffers.Length(); ++b) {
        auto buffer = buffers.Get(b).As<Napi::Uint8Array>();
        step.buffers.emplace_back(reinterpret_cast<const char*>(buffer.Data()),
                                  reinterpret_cast<const char*>(buffer.Data()) + buffer.ByteLength());
      }
    }
    worker->steps_.push_back(std::move(step));
  }
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();
  return promise;
}

Napi::Value PersistenceDriver::RunStress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new PersistenceDriver(env, StoreBridgeWrap::BridgeOf(info[0]));
  Napi::Object options = info[1].As<Napi::Object>();
  worker->stress_ = true;
  worker->threads_ = options.Get("threads").As<Napi::Number>().Int32Value();
  worker->iterations_ = options.Get("iterations").As<Napi::Number>().Int32Value();
  worker->client_id_ = options.Get("clientId").As<Napi::String>().Utf8Value();
  worker->server_uri_ = options.Get("serverURI").As<Napi::String>().Utf8Value();
  if (worker->threads_ < 1 || worker->threads_ > 64 || worker->iterations_ < 1) {
    delete worker;
    throw Napi::RangeError::New(env, "runStress: threads 1..64, iterations >= 1");
  }
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();
  return promise;
}

Napi::Value PersistenceDriver::CallOnJsThread(const Napi::CallbackInfo& info) {
  // Deliberately wrong: a callback on the JS thread. The bridge must refuse it at once.
  std::shared_ptr<StoreBridge> bridge = StoreBridgeWrap::BridgeOf(info[0]);
  DriverStep step;
  step.op = ParseOp(info.Env(), info[1]);
  step.key = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "c-1";
  step.client_id = "js-thread";
  step.server_uri = "tcp://localhost:1883";
  void* handle = bridge->persistence()->context;
  RunStep(bridge->persistence(), &handle, step);
  return Napi::Number::New(info.Env(), step.rc);
}

void PersistenceDriver::Execute() {
  if (stress_) {
    ExecuteStress();
  } else {
    ExecuteScript();
  }
}

void PersistenceDriver::ExecuteScript() {
  void* handle = bridge_->persistence()->context;
  for (auto& step : steps_) {
    if (step.delivered) {
      step.rc = bridge_->StoreHeldReceived().failure == CallFailure::kNone ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
      continue;
    }
    RunStep(bridge_->persistence(), &handle, step);
  }
}

void PersistenceDriver::StressThread(MQTTClient_persistence* p, void* handle, int thread, int iterations,
                                     StressReport* report) {
  auto problem = [report](std::string what) {
    ++report->failures;
    if (report->problems.size() < 5) report->problems.push_back(std::move(what));
  };
  auto timed = [report](auto&& fn) {
    auto start = std::chrono::steady_clock::now();
    fn();
    report->latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    ++report->calls;
  };
  // One cycle = put, get, containsKey, remove, containsKey (+ keys every 20th cycle).
  for (int cycle = 0; report->calls < static_cast<uint64_t>(iterations); ++cycle) {
    DriverStep put;
    put.op = PersistenceOp::kPut;
    put.key = std::string(kKeyPrefixes[cycle % 10]) + std::to_string(thread * 100000 + cycle % 100000);
    put.buffers = MakeBuffers(thread, cycle, cycle % 9);
    timed([&] { RunStep(p, &handle, put); });
    if (put.rc != 0) problem("put " + put.key + " rc " + std::to_string(put.rc));

    DriverStep get = Step(PersistenceOp::kGet, put.key);
    timed([&] { RunStep(p, &handle, get); });
    std::vector<char> expected;
    for (auto& b : put.buffers) expected.insert(expected.end(), b.begin(), b.end());
    if (get.rc != 0 || get.data != expected)
      problem("get " + put.key + " rc " + std::to_string(get.rc) + " returned different bytes");

    DriverStep has = Step(PersistenceOp::kContainsKey, put.key);
    timed([&] { RunStep(p, &handle, has); });
    if (has.rc != 0) problem("containsKey " + put.key + " after put rc " + std::to_string(has.rc));

    if (cycle % 20 == 0) {
      DriverStep keys = Step(PersistenceOp::kKeys);
      timed([&] { RunStep(p, &handle, keys); });
      if (keys.rc != 0 || std::find(keys.keys.begin(), keys.keys.end(), put.key) == keys.keys.end()) {
        problem("keys rc " + std::to_string(keys.rc) + " did not list " + put.key);
      }
    }

    DriverStep remove = Step(PersistenceOp::kRemove, put.key);
    timed([&] { RunStep(p, &handle, remove); });
    if (remove.rc != 0) problem("remove " + put.key + " rc " + std::to_string(remove.rc));

    DriverStep gone = Step(PersistenceOp::kContainsKey, put.key);
    timed([&] { RunStep(p, &handle, gone); });
    if (gone.rc != MQTTCLIENT_PERSISTENCE_ERROR)
      problem("containsKey " + put.key + " after remove rc " + std::to_string(gone.rc));
  }
}

void PersistenceDriver::ExecuteStress() {
  MQTTClient_persistence* p = bridge_->persistence();
  void* handle = nullptr;
  if (p->popen(&handle, client_id_.c_str(), server_uri_.c_str(), p->context) != 0) {
    SetError("popen failed");
    return;
  }
  std::vector<StressReport> reports(static_cast<size_t>(threads_));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads_; ++t) {
    workers.emplace_back(&PersistenceDriver::StressThread, p, handle, t, iterations_,
                         &reports[static_cast<size_t>(t)]);
  }
  for (auto& worker : workers) worker.join();
  for (auto& r : reports) {
    report_.calls += r.calls;
    report_.failures += r.failures;
    for (auto& what : r.problems) {
      if (report_.problems.size() < 10) report_.problems.push_back(what);
    }
    report_.latencies_us.insert(report_.latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
  }
}

void PersistenceDriver::OnOK() {
  Napi::Env env = Env();
  if (stress_) {
    Napi::Object result = Napi::Object::New(env);
    result.Set("calls", static_cast<double>(report_.calls));
    result.Set("failures", static_cast<double>(report_.failures));
    Napi::Array problems = Napi::Array::New(env, report_.problems.size());
    for (size_t i = 0; i < report_.problems.size(); ++i)
      problems.Set(static_cast<uint32_t>(i), report_.problems[i]);
    result.Set("problems", problems);
    auto& lat = report_.latencies_us;
    std::sort(lat.begin(), lat.end());
    auto pct = [&lat](double q) {
      return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(q * lat.size()))];
    };
    result.Set("medianUs", pct(0.5));
    result.Set("p99Us", pct(0.99));
    result.Set("maxUs", lat.empty() ? 0.0 : lat.back());
    deferred_.Resolve(result);
    return;
  }
  Napi::Array results = Napi::Array::New(env, steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i) {
    const DriverStep& step = steps_[i];
    Napi::Object result = Napi::Object::New(env);
    result.Set("op", step.delivered ? "delivered" : kOpNames[static_cast<int>(step.op)]);
    result.Set("rc", step.rc);
    if (step.op == PersistenceOp::kGet && step.rc == 0)
      result.Set("data", Napi::Buffer<char>::Copy(env, step.data.data(), step.data.size()));
    if (step.op == PersistenceOp::kKeys && step.rc == 0) {
      Napi::Array keys = Napi::Array::New(env, step.keys.size());
      for (size_t k = 0; k < step.keys.size(); ++k) keys.Set(static_cast<uint32_t>(k), step.keys[k]);
      result.Set("keys", keys);
    }
    results.Set(static_cast<uint32_t>(i), result);
  }
  deferred_.Resolve(results);
}

namespace {
// The thread-safe function is freed at environment teardown even while a thread still
// holds it: the driver thread calls it only under `mutex` while `alive`.
struct DoneGate {
  std::mutex mutex;
  bool alive = true;
};
}  // namespace

void PersistenceDriver::Queue() {
  auto gate = std::make_shared<DoneGate>();
  auto* gate_ref = new std::shared_ptr<DoneGate>(gate);
  // Ref'd, like an AsyncWorker: a pending run keeps the event loop alive.
  done_ = Napi::ThreadSafeFunction::New(env_, Napi::Function::New(env_, [](const Napi::CallbackInfo&) {}),
                                        "paho-mqtt-redis:test-driver", 0, 1, [gate_ref](Napi::Env) {
                                          {
                                            std::lock_guard<std::mutex> lock((*gate_ref)->mutex);
                                            (*gate_ref)->alive = false;
                                          }
                                          delete gate_ref;
                                        });
  std::thread([self = this, gate] {
    self->Execute();
    std::lock_guard<std::mutex> lock(gate->mutex);
    if (!gate->alive) return;  // the environment is gone: nobody to answer (the driver leaks)
    Napi::ThreadSafeFunction done = self->done_;
    done.NonBlockingCall([self](Napi::Env env, Napi::Function) {
      if (env == nullptr) return;
      Napi::HandleScope scope(env);
      if (self->error_.empty())
        self->OnOK();
      else
        self->OnError(Napi::Error::New(env, self->error_));
      delete self;
    });
    done.Release();
  }).detach();
}

void PersistenceDriver::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace paho_redis
