// Plain copies of what JS asked for, read on the JS thread and carried to the command
// thread, where they become Paho's option structs (which point into these strings).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/mqtt_properties.h"

namespace paho_redis {

// The numbers of CreateSpec and ConnectSpec are required from JS (MqttClientWrap): their
// defaults live once, in src/client/options.ts.
struct CreateSpec {
  std::string server_uri, client_id;
  int persistence_type = 0;
  std::string persistence_dir;
  int mqtt_version = 0;
  int send_while_disconnected = 0, max_buffered_messages = 0, delete_oldest_messages = 0;
  int restore_messages = 0, persist_qos0 = 0;
  // Inbound messages on their way to JS (see InboundGate).
  int inbound_max_messages = 0, inbound_max_bytes = 0, inbound_max_wait_ms = 0;
};

struct SslSpec {
  std::optional<std::string> trust_store, key_store, private_key, private_key_password, ca_path,
      cipher_suites;
  int enable_server_cert_auth = 0, verify = 0, ssl_version = 0;
};

struct WillSpec {
  std::string topic;
  std::string payload;
  int qos = 0, retained = 0;
  PropertyList properties;
};

struct ConnectSpec {
  int keep_alive_interval = 0, clean_session = 0, clean_start = 0, connect_timeout = 0;
  int max_inflight = 0, retry_interval = 0;
  std::optional<std::string> username, password;
  std::optional<WillSpec> will;
  std::optional<SslSpec> ssl;
  int automatic_reconnect = 0, min_retry_interval = 0, max_retry_interval = 0;
  std::vector<std::string> server_uris;
  PropertyList properties;
};

struct PublishSpec {
  std::string topic;
  std::string payload;
  int qos = 0, retained = 0;
  PropertyList properties;
  // The outbox entry this publish moves into Paho (empty: a direct publish).
  std::string outbox_id;
};

struct SubscribeSpec {
  std::vector<std::string> topics;
  std::vector<int> qos;
  // One entry per topic (MQTT 5 subscription options).
  std::vector<int> no_local, retain_as_published, retain_handling;
  PropertyList properties;
};

struct UnsubscribeSpec {
  std::vector<std::string> topics;
  PropertyList properties;
};

struct DisconnectSpec {
  int timeout_ms = 0;
  int reason_code = 0;
  PropertyList properties;
};

}  // namespace paho_redis
