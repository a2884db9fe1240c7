// MqttClient, part four: the session commands (connect, subscribe, unsubscribe, disconnect),
// each building Paho's options on the command thread.
#include <string>
#include <vector>

#include "client/mqtt_client.h"

namespace paho_redis {

namespace {

// Paho takes char* arrays; it copies what it keeps, so pointers into the spec suffice.
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  return out;
}

}  // namespace

void MqttClient::Connect(uint64_t request, ConnectSpec spec) {
  auto self = shared_from_this();
  QueueWithHandle(request, [self, request, spec = std::move(spec)] {
    bool v5 = self->mqtt_version_ >= MQTTVERSION_5;
    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
    if (v5) {
      MQTTAsync_connectOptions options5 = MQTTAsync_connectOptions_initializer5;
      options = options5;
      options.cleanstart = spec.clean_start;
    } else {
      options.cleansession = spec.clean_session;
    }
    options.keepAliveInterval = spec.keep_alive_interval;
    if (self->bridge_) self->bridge_->LimitWaits(spec.keep_alive_interval);
    options.connectTimeout = spec.connect_timeout;
    options.maxInflight = spec.max_inflight;
    self->max_inflight_ = spec.max_inflight;
    options.retryInterval = spec.retry_interval;
    options.MQTTVersion = self->mqtt_version_;
    if (spec.username) options.username = spec.username->c_str();
    if (spec.password) options.password = spec.password->c_str();
    options.automaticReconnect = spec.automatic_reconnect;
    options.minRetryInterval = spec.min_retry_interval;
    options.maxRetryInterval = spec.max_retry_interval;
    std::vector<char*> uris = CStrings(spec.server_uris);
    if (!uris.empty()) {
      options.serverURIs = uris.data();
      options.serverURIcount = static_cast<int>(uris.size());
    }
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTProperties will_properties = MQTTProperties_initializer;
    if (spec.will) {
      will.topicName = spec.will->topic.c_str();
      will.payload.data = spec.will->payload.data();
      will.payload.len = static_cast<int>(spec.will->payload.size());
      will.qos = spec.will->qos;
      will.retained = spec.will->retained;
      options.will = &will;
      if (v5) {
        FillProperties(spec.will->properties, &will_properties);
        options.willProperties = &will_properties;
      }
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (spec.ssl) {
      const SslSpec& s = *spec.ssl;
      if (s.trust_store) ssl.trustStore = s.trust_store->c_str();
      if (s.key_store) ssl.keyStore = s.key_store->c_str();
      if (s.private_key) ssl.privateKey = s.private_key->c_str();
      if (s.private_key_password) ssl.privateKeyPassword = s.private_key_password->c_str();
      if (s.ca_path) ssl.CApath = s.ca_path->c_str();
      if (s.cipher_suites) ssl.enabledCipherSuites = s.cipher_suites->c_str();
      ssl.enableServerCertAuth = s.enable_server_cert_auth;
      ssl.verify = s.verify;
      ssl.sslVersion = s.ssl_version;
      options.ssl = &ssl;
    }
    MQTTProperties connect_properties = MQTTProperties_initializer;
    if (v5 && !spec.properties.empty()) {
      FillProperties(spec.properties, &connect_properties);
      options.connectProperties = &connect_properties;
    }
    Pending* pending = self->NewPending(request, RequestKind::kConnect);
    self->SetCallbacks(&options, pending);
    int rc = MQTTAsync_connect(self->handle_, &options);
    MQTTProperties_free(&will_properties);
    MQTTProperties_free(&connect_properties);
    self->FailIfRefused(rc, pending);
  });
}

void MqttClient::Subscribe(uint64_t request, SubscribeSpec spec) {
  auto self = shared_from_this();
  QueueWithHandle(request, [self, request, spec = std::move(spec)] {
    std::vector<char*> topics = CStrings(spec.topics);
    std::vector<int> qos = spec.qos;
    MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
    std::vector<MQTTSubscribe_options> per_topic(topics.size(),
                                                 MQTTSubscribe_options(MQTTSubscribe_options_initializer));
    if (self->mqtt_version_ >= MQTTVERSION_5) {
      auto at = [](const std::vector<int>& values, size_t i) {
        return static_cast<unsigned char>(i < values.size() ? values[i] : 0);
      };
      for (size_t i = 0; i < per_topic.size(); ++i) {
        per_topic[i].noLocal = at(spec.no_local, i);
        per_topic[i].retainAsPublished = at(spec.retain_as_published, i);
        per_topic[i].retainHandling = at(spec.retain_handling, i);
      }
      // Paho reads subscribeOptions for one topic and the list for several.
      if (per_topic.size() == 1) {
        options.subscribeOptions = per_topic[0];
      } else {
        options.subscribeOptionsCount = static_cast<int>(per_topic.size());
        options.subscribeOptionsList = per_topic.data();
      }
      FillProperties(spec.properties, &options.properties);
    }
    Pending* pending = self->NewPending(request, RequestKind::kSubscribe, static_cast<int>(topics.size()));
    self->SetCallbacks(&options, pending);
    StoreBridge::ResetThreadFailures();
    int rc = MQTTAsync_subscribeMany(self->handle_, static_cast<int>(topics.size()), topics.data(),
                                     qos.data(), &options);
    self->ReportCommandFailures("SUBSCRIBE");
    MQTTProperties_free(&options.properties);
    self->FailIfRefused(rc, pending);
  });
}

void MqttClient::Unsubscribe(uint64_t request, UnsubscribeSpec spec) {
  auto self = shared_from_this();
  QueueWithHandle(request, [self, request, spec = std::move(spec)] {
    std::vector<char*> topics = CStrings(spec.topics);
    MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
    if (self->mqtt_version_ >= MQTTVERSION_5) FillProperties(spec.properties, &options.properties);
    Pending* pending = self->NewPending(request, RequestKind::kUnsubscribe, static_cast<int>(topics.size()));
    self->SetCallbacks(&options, pending);
    StoreBridge::ResetThreadFailures();
    int rc =
        MQTTAsync_unsubscribeMany(self->handle_, static_cast<int>(topics.size()), topics.data(), &options);
    self->ReportCommandFailures("UNSUBSCRIBE");
    MQTTProperties_free(&options.properties);
    self->FailIfRefused(rc, pending);
  });
}

void MqttClient::Disconnect(uint64_t request, DisconnectSpec spec) {
  auto self = shared_from_this();
  QueueWithHandle(request, [self, request, spec = std::move(spec)] {
    bool v5 = self->mqtt_version_ >= MQTTVERSION_5;
    MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
    if (v5) {
      MQTTAsync_disconnectOptions options5 = MQTTAsync_disconnectOptions_initializer5;
      options = options5;
      options.reasonCode = static_cast<enum MQTTReasonCodes>(spec.reason_code);
      FillProperties(spec.properties, &options.properties);
    }
    options.timeout = spec.timeout_ms;
    self->SetWindow(0);  // what waits goes to Paho, which sends or refuses it as before
    Pending* pending = self->NewPending(request);
    self->SetCallbacks(&options, pending);
    int rc = MQTTAsync_disconnect(self->handle_, &options);
    MQTTProperties_free(&options.properties);
    self->FailIfRefused(rc, pending);
  });
}

}  // namespace paho_redis
