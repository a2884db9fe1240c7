// Paho's persistence key families (src/MQTTPersistence.h upstream), classified here once: a
// prefix names the family (the 5 variant is MQTT 5's), then '-' and a number.
//   c-/c5- queued command, s-/s5- sent PUBLISH, sc-/sc5- sent PUBREL, r-/r5- received
//   QoS 2, q-/q5- undelivered inbound.
// Pure functions of the key: any thread.
#pragma once

#include <cstdint>
#include <string>

namespace paho_redis {

// The family a key belongs to: its prefix before the '-'. kOther: not one of Paho's.
enum class KeyFamily : uint8_t {
  kCommand,
  kCommandV5,
  kSent,
  kSentV5,
  kPubrel,
  kPubrelV5,
  kReceived,
  kReceivedV5,
  kQueued,
  kQueuedV5,
  kOther
};

inline KeyFamily FamilyOf(const char* key) {
  if (key == nullptr) return KeyFamily::kOther;
  size_t length = 0;
  while (length < 4 && key[length] != '\0' && key[length] != '-') ++length;
  if (key[length] != '-') return KeyFamily::kOther;
  std::string prefix(key, length);
  if (prefix == "c") return KeyFamily::kCommand;
  if (prefix == "c5") return KeyFamily::kCommandV5;
  if (prefix == "s") return KeyFamily::kSent;
  if (prefix == "s5") return KeyFamily::kSentV5;
  if (prefix == "sc") return KeyFamily::kPubrel;
  if (prefix == "sc5") return KeyFamily::kPubrelV5;
  if (prefix == "r") return KeyFamily::kReceived;
  if (prefix == "r5") return KeyFamily::kReceivedV5;
  if (prefix == "q") return KeyFamily::kQueued;
  if (prefix == "q5") return KeyFamily::kQueuedV5;
  return KeyFamily::kOther;
}

// One bit per family, for sets of families.
inline uint32_t FamilyBit(KeyFamily family) { return uint32_t{1} << static_cast<unsigned>(family); }

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
