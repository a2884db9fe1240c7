// The JS face of MqttClient: `new MqttClient(onEvent, bridge | null)`. Arguments are
// validated in src/; here they are only copied into specs.
#pragma once

#include <napi.h>

#include <memory>

#include "client/mqtt_client.h"

namespace paho_redis {

class MqttClientWrap : public Napi::ObjectWrap<MqttClientWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MqttClientWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Publish(const Napi::CallbackInfo& info);
  Napi::Value Subscribe(const Napi::CallbackInfo& info);
  Napi::Value Unsubscribe(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value GetPendingTokens(const Napi::CallbackInfo& info);
  Napi::Value IsConnected(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value WantDeliveryComplete(const Napi::CallbackInfo& info);

  std::shared_ptr<MqttClient> client_;
};

}  // namespace paho_redis
