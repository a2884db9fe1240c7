// Paho's persistence key families (src/MQTTPersistence.h upstream), classified here once: a
// prefix names the family (the 5 variant is MQTT 5's), then '-' and a number.
//   c-/c5- queued command, s-/s5- sent PUBLISH, sc-/sc5- sent PUBREL, r-/r5- received
//   QoS 2, q-/q5- undelivered inbound.
// Pure functions of the key: any thread.
#pragma once

#include <cstdint>
#include <cstring>
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

// Each family's prefix, in KeyFamily order (kOther has none); JS spells keys with it (keyFamilies).
inline constexpr const char* kFamilyPrefixes[] = {"c-",   "c5-", "s-",  "s5-", "sc-",
                                                  "sc5-", "r-",  "r5-", "q-",  "q5-"};
static_assert(sizeof(kFamilyPrefixes) / sizeof(kFamilyPrefixes[0]) == static_cast<size_t>(KeyFamily::kOther));

inline KeyFamily FamilyOf(const char* key) {
  if (key == nullptr || key[0] == '\0') return KeyFamily::kOther;
  // The prefix: one letter, an optional 'c' (sc), an optional '5' (MQTT 5), then '-'.
  size_t at = 1;
  bool pubrel = key[0] == 's' && key[at] == 'c';
  if (pubrel) ++at;
  bool v5 = key[at] == '5';
  if (v5) ++at;
  if (key[at] != '-') return KeyFamily::kOther;
  switch (key[0]) {
    case 'c':
      return at == 1 ? KeyFamily::kCommand : at == 2 && v5 ? KeyFamily::kCommandV5 : KeyFamily::kOther;
    case 's':
      if (pubrel) return v5 ? KeyFamily::kPubrelV5 : KeyFamily::kPubrel;
      return v5 ? KeyFamily::kSentV5 : KeyFamily::kSent;
    case 'r':
      return v5 ? KeyFamily::kReceivedV5 : KeyFamily::kReceived;
    case 'q':
      return v5 ? KeyFamily::kQueuedV5 : KeyFamily::kQueued;
    default:
      return KeyFamily::kOther;
  }
}

// One bit per family, for sets of families.
inline uint32_t FamilyBit(KeyFamily family) { return uint32_t{1} << static_cast<unsigned>(family); }

// Inline (the prefixes are literals): Put and Remove classify each key several times.
template <size_t N>
inline bool HasKeyPrefix(const std::string& key, const char (&prefix)[N]) {
  return key.size() >= N - 1 && memcmp(key.data(), prefix, N - 1) == 0;
}

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
