#include "addon.h"

#include <MQTTAsync.h>

#include <thread>

#include "client/mqtt_client.h"
#include "client/mqtt_client_wrap.h"
#include "persistence/paho_keys.h"
#include "persistence/persistence_call.h"
#include "persistence/store_bridge_wrap.h"
#include "util/js_thread.h"
#include "util/trace_sink.h"
#ifdef PAHO_REDIS_TEST_ADDON
#include "test/persistence_driver.h"
#endif

namespace paho_redis {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  MarkJsThread();
  Napi::Function bridge = StoreBridgeWrap::Define(env);
  bridge_class = Napi::Persistent(bridge);
  Napi::Function client = MqttClientWrap::Define(env);
  client_class = Napi::Persistent(client);
  exports.Set("StoreBridge", bridge);
  exports.Set("MqttClient", client);
  Napi::Array ops = Napi::Array::New(env, kPersistenceOpCount);
  for (int op = 0; op < kPersistenceOpCount; ++op) ops.Set(op, OpName(static_cast<PersistenceOp>(op)));
  exports.Set("persistenceOps", ops);
  const int kinds = static_cast<int>(EventBurst::Kind::kCount);
  Napi::Array event_kinds = Napi::Array::New(env, kinds);
  for (int kind = 0; kind < kinds; ++kind)
    event_kinds.Set(kind, EventBurst::KindName(static_cast<EventBurst::Kind>(kind)));
  exports.Set("clientEventKinds", event_kinds);
  // The key families of a NativeBatch's key words, by code (KeyFamily order).
  Napi::Array families = Napi::Array::New(env, static_cast<size_t>(KeyFamily::kOther));
  for (uint32_t i = 0; i < static_cast<uint32_t>(KeyFamily::kOther); ++i) families.Set(i, kFamilyPrefixes[i]);
  exports.Set("keyFamilies", families);
#ifdef PAHO_REDIS_TEST_ADDON
  // Only in the test build (paho_mqtt_redis_test.node): drives a bridge as Paho does.
  Napi::Object driver = PersistenceDriver::Exports(env);
  // MqttClient objects alive in the process (every environment): the teardown leak tests.
  driver.Set("liveClients", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
               return Napi::Number::New(info.Env(), MqttClient::LiveCount());
             }));
  // Command threads a stop left running detached (stuck in Paho past their deadline).
  driver.Set("detachedCommandThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
               return Napi::Number::New(info.Env(), CommandQueue::DetachedCount());
             }));
  exports.Set("testDriver", driver);
#endif
  exports.Set("setTrace", Napi::Function::New(env, &TraceSink::SetTrace));
  TraceSink::ApplyLevel();
  DefineAddon(exports, {InstanceMethod<&Addon::PahoVersion>("pahoVersion")});
}

Napi::Value Addon::PahoVersion(const Napi::CallbackInfo& info) {
  // Read on a helper thread: no MQTTAsync_* call runs on the JS thread, not even this one.
  MQTTAsync_nameValue* pairs = nullptr;
  std::thread([&pairs] { pairs = MQTTAsync_getVersionInfo(); }).join();
  Napi::Object result = Napi::Object::New(info.Env());
  for (MQTTAsync_nameValue* pair = pairs; pair != nullptr && pair->name != nullptr; ++pair) {
    result.Set(pair->name, pair->value != nullptr ? pair->value : "");
  }
  return result;
}

}  // namespace paho_redis

using PahoMqttRedisAddon = paho_redis::Addon;
NODE_API_ADDON(PahoMqttRedisAddon)
