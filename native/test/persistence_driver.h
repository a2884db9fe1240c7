// Test-only: drives a bridge's MQTTClient_persistence struct exactly as Paho does (through
// its function pointers, from native threads, freeing results with MQTTAsync_free).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "persistence/store_bridge.h"

namespace paho_redis {

struct DriverStep {
  PersistenceOp op;
  // Not a persistence call: what MqttClient does on Paho's receive thread once a received
  // message's listeners returned (StoreBridge::StoreHeldReceived).
  bool delivered = false;
  std::string key;
  std::vector<std::vector<char>> buffers;
  std::string client_id, server_uri;
  // results
  int rc = 0;
  std::vector<char> data;
  std::vector<std::string> keys;
};

struct StressReport {
  uint64_t calls = 0;
  uint64_t failures = 0;
  std::vector<std::string> problems;  // the first few, for the test's message
  std::vector<double> latencies_us;
};

// Not a Napi::AsyncWorker: the calls it makes may block for a store's whole timeout, and
// Node joins the libuv pool at process.exit() and drains pool work before a worker's
// cleanup hooks run, so pool work must never wait on JS. It runs on its own thread.
class PersistenceDriver {
 public:
  // { runScript(bridge, steps), runStress(bridge, {threads, iterations, clientId, serverURI}),
  //   callOnJsThread(bridge, op, key) }
  static Napi::Object Exports(Napi::Env env);

 private:
  PersistenceDriver(Napi::Env env, std::shared_ptr<StoreBridge> bridge);
  void Execute();
  void OnOK();
  void OnError(const Napi::Error& error);
  void Queue();
  void SetError(const std::string& message) { error_ = message; }
  Napi::Env Env() { return env_; }

  static Napi::Value RunScript(const Napi::CallbackInfo& info);
  static Napi::Value RunStress(const Napi::CallbackInfo& info);
  static Napi::Value CallOnJsThread(const Napi::CallbackInfo& info);
  // SentPublish helpers: parseSentPublish(key, bytes) -> {msgid, topic, payload, qos, retained,
  // properties} | null; sendOrder([packet ids]) -> the ids in send order.
  static Napi::Value ParseSentPublishJs(const Napi::CallbackInfo& info);
  static Napi::Value SendOrder(const Napi::CallbackInfo& info);
  static Napi::Value LeakForTest(const Napi::CallbackInfo& info);

  void ExecuteScript();
  void ExecuteStress();
  static void StressThread(MQTTClient_persistence* p, void* handle, int thread, int iterations,
                           StressReport* report);

  Napi::Env env_;
  std::string error_;
  Napi::ThreadSafeFunction done_;
  std::shared_ptr<StoreBridge> bridge_;
  Napi::Promise::Deferred deferred_;
  bool stress_ = false;
  std::vector<DriverStep> steps_;
  int threads_ = 1, iterations_ = 0;
  std::string client_id_, server_uri_;
  StressReport report_;
};

}  // namespace paho_redis
