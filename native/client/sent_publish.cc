#include "client/sent_publish.h"

#include <algorithm>
#include <cstdlib>

#include "persistence/paho_keys.h"

namespace paho_redis {

namespace {

constexpr int kPublish = 3;
constexpr int kMaxPacketId = 65535;

// Reads the packet front to back; every read checks the bytes left.
class PacketReader {
 public:
  explicit PacketReader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  size_t left() const { return bytes_.size() - at_; }
  bool Byte(uint32_t* out) {
    if (left() < 1) return false;
    *out = bytes_[at_++];
    return true;
  }
  bool BigEndian(size_t width, uint32_t* out) {
    if (left() < width) return false;
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | bytes_[at_++];
    *out = value;
    return true;
  }
  bool VariableInt(uint32_t* out) {
    uint32_t value = 0;
    for (int shift = 0; shift < 28; shift += 7) {
      uint32_t byte = 0;
      if (!Byte(&byte)) return false;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *out = value;
        return true;
      }
    }
    return false;
  }
  bool Bytes(size_t length, std::string* out) {
    if (left() < length) return false;
    out->assign(reinterpret_cast<const char*>(bytes_.data() + at_), length);
    at_ += length;
    return true;
  }
  bool LengthPrefixed(std::string* out) {
    uint32_t length = 0;
    return BigEndian(2, &length) && Bytes(length, out);
  }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t at_ = 0;
};

bool ReadProperty(PacketReader* r, PropertyValue* out) {
  uint32_t id = 0;
  if (!r->VariableInt(&id)) return false;
  out->id = static_cast<int>(id);
  switch (MQTTProperty_getType(static_cast<enum MQTTPropertyCodes>(id))) {
    case MQTTPROPERTY_TYPE_BYTE:
      return r->Byte(&out->number);
    case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
      return r->BigEndian(2, &out->number);
    case MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER:
      return r->BigEndian(4, &out->number);
    case MQTTPROPERTY_TYPE_VARIABLE_BYTE_INTEGER:
      return r->VariableInt(&out->number);
    case MQTTPROPERTY_TYPE_BINARY_DATA:
    case MQTTPROPERTY_TYPE_UTF_8_ENCODED_STRING:
      return r->LengthPrefixed(&out->data);
    case MQTTPROPERTY_TYPE_UTF_8_STRING_PAIR:
      return r->LengthPrefixed(&out->data) && r->LengthPrefixed(&out->value);
    default:
      return false;
  }
}

}  // namespace

bool ResendChangesMessage(const std::string& key, const std::vector<uint8_t>& first,
                          const std::vector<uint8_t>& resent) {
  std::optional<SentPublish> before = ParseSentPublish(key, first);
  if (!before) return false;  // nothing sound to keep
  std::optional<SentPublish> after = ParseSentPublish(key, resent);
  if (!after) return true;
  return before->topic != after->topic || before->payload != after->payload || before->qos != after->qos ||
         before->retained != after->retained;
}

int SentPublishId(const std::string& key) {
  for (const char* prefix : {"s-", "s5-"}) {
    size_t length = std::char_traits<char>::length(prefix);
    if (key.compare(0, length, prefix) != 0) continue;
    char* end = nullptr;
    long id = strtol(key.c_str() + length, &end, 10);
    return *end == '\0' && id >= 1 && id <= kMaxPacketId ? static_cast<int>(id) : 0;
  }
  return 0;
}

std::optional<SentPublish> ParseSentPublish(const std::string& key, const std::vector<uint8_t>& packet) {
  SentPublish out;
  out.key = key;
  out.msgid = SentPublishId(key);
  if (out.msgid == 0) return std::nullopt;
  PacketReader r(packet);
  uint32_t header = 0, remaining = 0, msgid = 0;
  if (!r.Byte(&header) || (header >> 4) != kPublish || !r.VariableInt(&remaining) || remaining != r.left())
    return std::nullopt;
  out.qos = static_cast<int>((header >> 1) & 3);
  out.retained = (header & 1) != 0;
  if (out.qos < 1 || out.qos > 2 || !r.LengthPrefixed(&out.topic) || !r.BigEndian(2, &msgid) ||
      static_cast<int>(msgid) != out.msgid)
    return std::nullopt;
  if (IsSentPublishV5Key(key)) {
    uint32_t length = 0;
    if (!r.VariableInt(&length) || length > r.left()) return std::nullopt;
    size_t end = r.left() - length;
    while (r.left() > end) {
      PropertyValue property;
      if (!ReadProperty(&r, &property) || r.left() < end) return std::nullopt;
      out.properties.push_back(std::move(property));
    }
  }
  r.Bytes(r.left(), &out.payload);
  return out;
}

void SortInSendOrder(std::vector<SentPublish>* publishes) {
  auto& list = *publishes;
  std::sort(list.begin(), list.end(),
            [](const SentPublish& a, const SentPublish& b) { return a.msgid < b.msgid; });
  if (list.size() < 2) return;
  // The gap before each id (the first one's wraps around from the last).
  size_t oldest = 0;
  int widest = list.front().msgid + kMaxPacketId - list.back().msgid;
  for (size_t i = 1; i < list.size(); ++i) {
    int gap = list[i].msgid - list[i - 1].msgid;
    if (gap > widest) {
      widest = gap;
      oldest = i;
    }
  }
  std::rotate(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(oldest), list.end());
}

}  // namespace paho_redis
