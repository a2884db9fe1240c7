// Paho's persistence key families (src/MQTTPersistence.h upstream), classified here once: a
// prefix names the family (the 5 variant is MQTT 5's), then '-' and a number.
//   c-/c5- queued command, s-/s5- sent PUBLISH, sc-/sc5- sent PUBREL, r-/r5- received
//   QoS 2, q-/q5- undelivered inbound.
// Pure functions of the key: any thread.
#pragma once

#include <string>

namespace paho_redis {

inline bool HasKeyPrefix(const std::string& key, const char* prefix) { return key.rfind(prefix, 0) == 0; }

// A queued command (c-N, c5-N): Paho reads it back once to send it.
inline bool IsCommandKey(const std::string& key) {
  return HasKeyPrefix(key, "c-") || HasKeyPrefix(key, "c5-");
}

// A sent PUBLISH (s-N, s5-N), N its packet id.
inline bool IsSentPublishKey(const std::string& key) {
  return HasKeyPrefix(key, "s-") || HasKeyPrefix(key, "s5-");
}

// A sent PUBREL (sc-N, sc5-N).
inline bool IsSentPubrelKey(const std::string& key) {
  return HasKeyPrefix(key, "sc-") || HasKeyPrefix(key, "sc5-");
}

// A received QoS 2 PUBLISH (r-N, r5-N).
inline bool IsReceivedKey(const std::string& key) {
  return HasKeyPrefix(key, "r-") || HasKeyPrefix(key, "r5-");
}

// MQTT 5's received QoS 2 record (r5-N), which Paho treats differently from r-N at restore.
inline bool IsReceivedV5Key(const std::string& key) { return HasKeyPrefix(key, "r5-"); }

// MQTT 5's sent PUBLISH (s5-N): its packet carries properties.
inline bool IsSentPublishV5Key(const std::string& key) { return HasKeyPrefix(key, "s5-"); }

}  // namespace paho_redis
