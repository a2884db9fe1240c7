#include "client/mqtt_client_wrap.h"

#include "persistence/store_bridge_wrap.h"

namespace paho_redis {

namespace {

uint64_t RequestId(const Napi::CallbackInfo& info) {
  return static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
}

Napi::Object SpecOf(const Napi::CallbackInfo& info) {
  if (!info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "expected an options object");
  return info[1].As<Napi::Object>();
}

int GetInt(const Napi::Object& o, const char* name, int fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

// A value src/ always passes (src/client/options.ts resolves every default): no second default here.
int RequireInt(const Napi::Object& o, const char* request, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(o.Env(),
                               std::string(request) + ": " + name + " is required (a number or boolean)");
  }
  return v.As<Napi::Number>().Int32Value();
}

std::optional<std::string> GetOptString(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsBuffer()) {
    auto buffer = v.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  return std::nullopt;
}

// An array of numbers or booleans (booleans as 0/1); absent entries read as 0.
std::vector<int> GetInts(const Napi::Value& value) {
  std::vector<int> out;
  if (!value.IsArray()) return out;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    out.push_back(item.IsBoolean()  ? (item.As<Napi::Boolean>().Value() ? 1 : 0)
                  : item.IsNumber() ? item.As<Napi::Number>().Int32Value()
                                    : 0);
  }
  return out;
}

std::string GetString(const Napi::Object& o, const char* name) { return GetOptString(o, name).value_or(""); }

std::vector<std::string> GetStrings(const Napi::Value& value) {
  std::vector<std::string> out;
  if (!value.IsArray()) return out;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

}  // namespace

Napi::Function MqttClientWrap::Define(Napi::Env env) {
  return DefineClass(env, "MqttClient",
                     {
                         InstanceMethod<&MqttClientWrap::Create>("create"),
                         InstanceMethod<&MqttClientWrap::Connect>("connect"),
                         InstanceMethod<&MqttClientWrap::Publish>("publish"),
                         InstanceMethod<&MqttClientWrap::Subscribe>("subscribe"),
                         InstanceMethod<&MqttClientWrap::Unsubscribe>("unsubscribe"),
                         InstanceMethod<&MqttClientWrap::Disconnect>("disconnect"),
                         InstanceMethod<&MqttClientWrap::GetPendingTokens>("getPendingTokens"),
                         InstanceMethod<&MqttClientWrap::IsConnected>("isConnected"),
                         InstanceMethod<&MqttClientWrap::Flush>("flush"),
                         InstanceMethod<&MqttClientWrap::Destroy>("destroy"),
                         InstanceMethod<&MqttClientWrap::Dispose>("dispose"),
                         InstanceMethod<&MqttClientWrap::Ref>("ref"),
                         InstanceMethod<&MqttClientWrap::Unref>("unref"),
                         InstanceMethod<&MqttClientWrap::WantDeliveryComplete>("wantDeliveryComplete"),
                     });
}

MqttClientWrap::MqttClientWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MqttClientWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction())
    throw Napi::TypeError::New(env, "MqttClient(onEvents, bridge?) expects a function");
  std::shared_ptr<StoreBridge> bridge;
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined())
    bridge = StoreBridgeWrap::BridgeOf(info[1]);
  client_ = MqttClient::Create(env, info[0].As<Napi::Function>(), std::move(bridge));
}

Napi::Value MqttClientWrap::Create(const Napi::CallbackInfo& info) {
  Napi::Object o = SpecOf(info);
  CreateSpec spec;
  spec.server_uri = GetString(o, "serverURI");
  spec.client_id = GetString(o, "clientId");
  spec.persistence_type = RequireInt(o, "create", "persistenceType");
  spec.persistence_dir = GetString(o, "persistenceDir");
  spec.mqtt_version = RequireInt(o, "create", "mqttVersion");
  spec.send_while_disconnected = RequireInt(o, "create", "sendWhileDisconnected");
  spec.max_buffered_messages = RequireInt(o, "create", "maxBufferedMessages");
  spec.delete_oldest_messages = RequireInt(o, "create", "deleteOldestMessages");
  spec.restore_messages = RequireInt(o, "create", "restoreMessages");
  spec.persist_qos0 = RequireInt(o, "create", "persistQoS0");
  spec.inbound_max_messages = RequireInt(o, "create", "inboundMaxMessages");
  spec.inbound_max_bytes = RequireInt(o, "create", "inboundMaxBytes");
  spec.inbound_max_wait_ms = RequireInt(o, "create", "inboundMaxWaitMs");
  client_->Create(RequestId(info), std::move(spec));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Connect(const Napi::CallbackInfo& info) {
  Napi::Object o = SpecOf(info);
  ConnectSpec spec;
  spec.keep_alive_interval = RequireInt(o, "connect", "keepAliveInterval");
  spec.clean_session = RequireInt(o, "connect", "cleanSession");
  spec.clean_start = RequireInt(o, "connect", "cleanStart");
  spec.connect_timeout = RequireInt(o, "connect", "connectTimeout");
  spec.max_inflight = RequireInt(o, "connect", "maxInflight");
  spec.retry_interval = RequireInt(o, "connect", "retryInterval");
  spec.username = GetOptString(o, "username");
  spec.password = GetOptString(o, "password");
  if (o.Get("will").IsObject()) {
    Napi::Object w = o.Get("will").As<Napi::Object>();
    spec.will = WillSpec{GetString(w, "topic"), GetString(w, "payload"), GetInt(w, "qos", 0),
                         GetInt(w, "retained", 0), PropertiesFromJs(w.Get("properties"))};
  }
  if (o.Get("ssl").IsObject()) {
    Napi::Object s = o.Get("ssl").As<Napi::Object>();
    SslSpec ssl;
    ssl.trust_store = GetOptString(s, "trustStore");
    ssl.key_store = GetOptString(s, "keyStore");
    ssl.private_key = GetOptString(s, "privateKey");
    ssl.private_key_password = GetOptString(s, "privateKeyPassword");
    ssl.ca_path = GetOptString(s, "caPath");
    ssl.cipher_suites = GetOptString(s, "enabledCipherSuites");
    ssl.enable_server_cert_auth = RequireInt(s, "connect (ssl)", "enableServerCertAuth");
    ssl.verify = RequireInt(s, "connect (ssl)", "verify");
    ssl.ssl_version = GetInt(s, "sslVersion", 0);
    spec.ssl = ssl;
  }
  spec.automatic_reconnect = RequireInt(o, "connect", "automaticReconnect");
  spec.min_retry_interval = RequireInt(o, "connect", "minRetryInterval");
  spec.max_retry_interval = RequireInt(o, "connect", "maxRetryInterval");
  spec.server_uris = GetStrings(o.Get("serverURIs"));
  spec.properties = PropertiesFromJs(o.Get("properties"));
  client_->Connect(RequestId(info), std::move(spec));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Publish(const Napi::CallbackInfo& info) {
  // publish(request, topic, payload, qos, retained, properties?, outboxId?): positional, as
  // reading an options object's properties cost more than the rest of the call.
  if (info.Length() < 5 || !info[1].IsString() || !info[2].IsBuffer())
    throw Napi::TypeError::New(info.Env(),
                               "publish(request, topic, payload, qos, retained, properties?, outboxId?)");
  PublishSpec spec;
  spec.topic = info[1].As<Napi::String>().Utf8Value();
  auto payload = info[2].As<Napi::Buffer<char>>();
  spec.payload.assign(payload.Data(), payload.Length());  // copied once
  spec.qos = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  spec.retained = info[4].ToBoolean().Value() ? 1 : 0;
  if (info.Length() > 5) spec.properties = PropertiesFromJs(info[5]);
  if (info.Length() > 6 && info[6].IsString()) spec.outbox_id = info[6].As<Napi::String>().Utf8Value();
  client_->Publish(RequestId(info), std::move(spec));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Subscribe(const Napi::CallbackInfo& info) {
  Napi::Object o = SpecOf(info);
  SubscribeSpec spec;
  spec.topics = GetStrings(o.Get("topics"));
  spec.qos = GetInts(o.Get("qos"));
  spec.no_local = GetInts(o.Get("noLocal"));
  spec.retain_as_published = GetInts(o.Get("retainAsPublished"));
  spec.retain_handling = GetInts(o.Get("retainHandling"));
  spec.properties = PropertiesFromJs(o.Get("properties"));
  client_->Subscribe(RequestId(info), std::move(spec));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Unsubscribe(const Napi::CallbackInfo& info) {
  Napi::Object o = SpecOf(info);
  client_->Unsubscribe(RequestId(info),
                       UnsubscribeSpec{GetStrings(o.Get("topics")), PropertiesFromJs(o.Get("properties"))});
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Disconnect(const Napi::CallbackInfo& info) {
  Napi::Object o = SpecOf(info);
  client_->Disconnect(RequestId(info), DisconnectSpec{GetInt(o, "timeout", 0), GetInt(o, "reasonCode", 0),
                                                      PropertiesFromJs(o.Get("properties"))});
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::GetPendingTokens(const Napi::CallbackInfo& info) {
  client_->GetPendingTokens(RequestId(info));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::IsConnected(const Napi::CallbackInfo& info) {
  client_->IsConnected(RequestId(info));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Flush(const Napi::CallbackInfo& info) {
  client_->Flush(RequestId(info));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Destroy(const Napi::CallbackInfo& info) {
  client_->Destroy(RequestId(info));
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Dispose(const Napi::CallbackInfo& info) {
  client_->Dispose();
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Ref(const Napi::CallbackInfo& info) {
  client_->Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::Unref(const Napi::CallbackInfo& info) {
  client_->Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value MqttClientWrap::WantDeliveryComplete(const Napi::CallbackInfo& info) {
  client_->WantDeliveryComplete(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

}  // namespace paho_redis
