// What one of Paho's callbacks (or a command's outcome) tells JS: built on the thread that saw
// it, delivered on the JS thread (EventBurst, ClientCallJs). The frequent plain ones (a publish
// completed, a delivery) travel as EventBurst entries without one of these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/mqtt_properties.h"
#include "persistence/store_bridge.h"
#include "util/delivery_gate.h"

namespace paho_redis {

struct ClientEvent {
  enum class Type { kResult, kMessage, kConnectionLost, kConnected, kDisconnected };
  Type type = Type::kResult;
  uint64_t request = 0;
  int rc = 0;
  int token = 0;
  std::string text;  // error message, cause, or topic
  std::string code;  // kResult: the addon's own error code (ERR_CLIENT_CLOSED), else empty
  std::string server_uri;
  int mqtt_version = 0;
  bool session_present = false;
  std::vector<int> list;  // granted QoS, reason codes, or pending tokens
  int reason_code = -1;
  PropertyList properties;
  std::unique_ptr<uint8_t[]> payload;
  size_t payload_length = 0;
  int qos = 0;
  bool retained = false, dup = false;
  size_t gated_bytes = 0;  // kMessage: what InboundGate counted for it
  std::vector<StoreBridge::ThreadFailure> persistence_failures;
  uint64_t log_seq = 0;  // flush: the newest op logged when it ran
  // kResult failure: Paho had accepted the command (onFailure), as opposed to refusing the call
  // itself (the command never entered Paho). A publish failing so was Paho's message.
  bool accepted_by_paho = false;
  // Set for a received message the Paho thread waits on until JS has handled it.
  std::shared_ptr<DeliveryGate> delivered;
};

}  // namespace paho_redis
