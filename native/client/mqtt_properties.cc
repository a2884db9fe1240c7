#include "client/mqtt_properties.h"

namespace paho_redis {

namespace {

bool IsNumeric(int type) {
  return type == MQTTPROPERTY_TYPE_BYTE || type == MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER ||
         type == MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER || type == MQTTPROPERTY_TYPE_VARIABLE_BYTE_INTEGER;
}

}  // namespace

PropertyList CopyProperties(const MQTTProperties& properties) {
  PropertyList list;
  for (int i = 0; i < properties.count; ++i) {
    const MQTTProperty& p = properties.array[i];
    PropertyValue v;
    v.id = p.identifier;
    switch (MQTTProperty_getType(p.identifier)) {
      case MQTTPROPERTY_TYPE_BYTE:
        v.number = p.value.byte;
        break;
      case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
        v.number = p.value.integer2;
        break;
      case MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER:
      case MQTTPROPERTY_TYPE_VARIABLE_BYTE_INTEGER:
        v.number = p.value.integer4;
        break;
      case MQTTPROPERTY_TYPE_UTF_8_STRING_PAIR:
        v.value.assign(p.value.value.data, static_cast<size_t>(p.value.value.len));
        [[fallthrough]];
      default:
        v.data.assign(p.value.data.data, static_cast<size_t>(p.value.data.len));
    }
    list.push_back(std::move(v));
  }
  return list;
}

bool FillProperties(const PropertyList& list, MQTTProperties* out) {
  for (const PropertyValue& v : list) {
    MQTTProperty p{};
    p.identifier = static_cast<enum MQTTPropertyCodes>(v.id);
    int type = MQTTProperty_getType(p.identifier);
    if (type < 0) return false;
    switch (type) {
      case MQTTPROPERTY_TYPE_BYTE:
        p.value.byte = static_cast<unsigned char>(v.number);
        break;
      case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
        p.value.integer2 = static_cast<unsigned short>(v.number);
        break;
      case MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER:
      case MQTTPROPERTY_TYPE_VARIABLE_BYTE_INTEGER:
        p.value.integer4 = v.number;
        break;
      case MQTTPROPERTY_TYPE_UTF_8_STRING_PAIR:
        p.value.value.data = const_cast<char*>(v.value.data());
        p.value.value.len = static_cast<int>(v.value.size());
        [[fallthrough]];
      default:
        p.value.data.data = const_cast<char*>(v.data.data());
        p.value.data.len = static_cast<int>(v.data.size());
    }
    // Paho copies the strings into its own allocation.
    if (MQTTProperties_add(out, &p) != 0) return false;
  }
  return true;
}

Napi::Array PropertiesToJs(Napi::Env env, const PropertyList& list) {
  Napi::Array array = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const PropertyValue& v = list[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("id", v.id);
    int type = MQTTProperty_getType(static_cast<enum MQTTPropertyCodes>(v.id));
    if (IsNumeric(type)) {
      entry.Set("value", static_cast<double>(v.number));
    } else if (type == MQTTPROPERTY_TYPE_BINARY_DATA) {
      entry.Set("value", Napi::Buffer<char>::Copy(env, v.data.data(), v.data.size()));
    } else if (type == MQTTPROPERTY_TYPE_UTF_8_STRING_PAIR) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, v.data);
      pair.Set(1u, v.value);
      entry.Set("value", pair);
    } else {
      entry.Set("value", v.data);
    }
    array.Set(static_cast<uint32_t>(i), entry);
  }
  return array;
}

PropertyList PropertiesFromJs(const Napi::Value& value) {
  PropertyList list;
  if (!value.IsArray()) return list;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Object entry = array.Get(i).As<Napi::Object>();
    PropertyValue v;
    v.id = entry.Get("id").As<Napi::Number>().Int32Value();
    Napi::Value raw = entry.Get("value");
    if (raw.IsNumber()) {
      v.number = raw.As<Napi::Number>().Uint32Value();
    } else if (raw.IsBuffer()) {
      auto buffer = raw.As<Napi::Buffer<char>>();
      v.data.assign(buffer.Data(), buffer.Length());
    } else if (raw.IsArray()) {
      v.data = raw.As<Napi::Array>().Get(0u).As<Napi::String>().Utf8Value();
      v.value = raw.As<Napi::Array>().Get(1u).As<Napi::String>().Utf8Value();
    } else {
      v.data = raw.As<Napi::String>().Utf8Value();
    }
    list.push_back(std::move(v));
  }
  return list;
}

}  // namespace paho_redis
