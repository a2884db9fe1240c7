// MQTT v5 properties copied out of / into Paho's MQTTProperties, so they can cross
// threads as plain C++ values. JS sees them as [{ id, value }]; src/ names them.
#pragma once

// Debian's MQTTProperties.h has no C++ guard of its own.
extern "C" {
#include <MQTTProperties.h>
}
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace paho_redis {

struct PropertyValue {
  int id = 0;
  uint32_t number = 0;  // byte and integer types
  std::string data;     // string, binary, or a user property's name
  std::string value;    // a user property's value
};
using PropertyList = std::vector<PropertyValue>;

PropertyList CopyProperties(const MQTTProperties& properties);
// Adds to `out` (free it with MQTTProperties_free). False if Paho refused an entry.
bool FillProperties(const PropertyList& list, MQTTProperties* out);
Napi::Array PropertiesToJs(Napi::Env env, const PropertyList& list);
PropertyList PropertiesFromJs(const Napi::Value& value);

}  // namespace paho_redis
