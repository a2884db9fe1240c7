// A PUBLISH Paho stored as sent (s-N / s5-N: the packet as written on the wire), read back
// so that a message Paho discarded with its session can be published again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/mqtt_properties.h"

namespace paho_redis {

struct SentPublish {
  std::string key;  // s-N or s5-N
  int msgid = 0;
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
  PropertyList properties;  // MQTT 5 only
};

// Null when the bytes are not a QoS 1/2 PUBLISH with the key's packet id.
std::optional<SentPublish> ParseSentPublish(const std::string& key, const std::vector<uint8_t>& packet);

// Whether `resent`, stored again under `key` while `first` is stored there, is another message
// than `first`: a resend may change the DUP flag only (topic, payload, QoS, retain stay).
bool ResendChangesMessage(const std::string& key, const std::vector<uint8_t>& first,
                          const std::vector<uint8_t>& resent);

// The packet id of s-N / s5-N, else 0.
int SentPublishId(const std::string& key);

// Sorts by packet id in the order Paho assigned them: ids grow and wrap after 65535, so the
// oldest follows the largest gap between the ids in use.
void SortInSendOrder(std::vector<SentPublish>* publishes);

}  // namespace paho_redis
