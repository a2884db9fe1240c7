#include "paho_persistence.h"

#include <MQTTAsync.h>

#include <cstring>

#include "js_thread.h"
#include "persistence_bridge.h"

namespace paho_redis {

namespace {

PahoPersistence* FromHandle(void* handle) { return static_cast<PahoPersistence*>(handle); }

}  // namespace

PahoPersistence::PahoPersistence(PersistenceBridge* bridge) : bridge_(bridge) {
  persistence_.context = this;
  persistence_.popen = &PahoPersistence::Open;
  persistence_.pclose = &PahoPersistence::Close;
  persistence_.pput = &PahoPersistence::Put;
  persistence_.pget = &PahoPersistence::Get;
  persistence_.premove = &PahoPersistence::Remove;
  persistence_.pkeys = &PahoPersistence::Keys;
  persistence_.pclear = &PahoPersistence::Clear;
  persistence_.pcontainskey = &PahoPersistence::ContainsKey;
}

int PahoPersistence::Open(void** handle, const char* client_id, const char* server_uri, void* context) {
  auto* self = static_cast<PahoPersistence*>(context);
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kOpen, "");
  call->client_id = client_id != nullptr ? client_id : "";
  call->server_uri = server_uri != nullptr ? server_uri : "";
  self->ledger_.Reset();
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  *handle = self;
  return 0;
}

void PahoPersistence::FlushDeferred() {
  if (auto key = ledger_.TakeDeferred()) ForwardRemove(*key);
}

bool PahoPersistence::ForwardRemove(const std::string& key) {
  bool ok = bridge_->Forward(bridge_->NewCall(PersistenceOp::kRemove, key.c_str()));
  ledger_.Removed(key, ok);
  return ok;
}

int PahoPersistence::Close(void* handle) {
  auto* self = FromHandle(handle);
  for (const std::string& key : self->ledger_.TakeAllDeferred()) self->ForwardRemove(key);
  self->ledger_.Reset();
  return self->bridge_->Forward(self->bridge_->NewCall(PersistenceOp::kClose, ""))
             ? 0
             : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PahoPersistence::Put(void* handle, char* key, int bufcount, char* buffers[], int buflens[]) {
  auto* self = FromHandle(handle);
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kPut, key);
  size_t total = 0;
  for (int i = 0; i < bufcount; ++i) total += static_cast<size_t>(buflens[i]);
  // The one copy: Paho's buffers are only valid during this call.
  auto bytes = std::make_shared<std::vector<uint8_t>>(total);
  size_t offset = 0;
  for (int i = 0; i < bufcount; ++i) {
    if (buflens[i] > 0) memcpy(bytes->data() + offset, buffers[i], static_cast<size_t>(buflens[i]));
    offset += static_cast<size_t>(buflens[i]);
  }
  call->data = bytes;
  // A deferred command remove is due once the sent packet (s-N) is stored; any other put
  // means the thread moved on, so it is due before.
  bool sent_publish = call->key.rfind("s-", 0) == 0 || call->key.rfind("s5-", 0) == 0;
  if (!sent_publish) self->FlushDeferred();
  // The ledger keeps its own copy of a command: a store may write into the Buffer it got.
  bool command = call->key.rfind("c-", 0) == 0 || call->key.rfind("c5-", 0) == 0;
  self->ledger_.Added(call->key, command ? std::make_shared<const std::vector<uint8_t>>(*bytes) : nullptr);
  bool ok = self->bridge_->Forward(call);
  if (sent_publish) self->FlushDeferred();
  return ok ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PahoPersistence::Get(void* handle, char* key, char** buffer, int* buflen) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kGet, key);
  // On a JS thread nothing is answered, not even from memory: Forward refuses it.
  Bytes cached = OnJsThread() ? nullptr : self->ledger_.CachedCommand(call->key);
  if (!cached) {
    if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
    self->ledger_.Fetched(call->key, std::make_shared<const std::vector<uint8_t>>(call->bytes));
  }
  const std::vector<uint8_t>& found = cached ? *cached : call->bytes;
  // Paho frees this with its tracked free(): it must come from MQTTAsync_malloc.
  size_t length = found.size();
  char* out = static_cast<char*>(MQTTAsync_malloc(length > 0 ? length : 1));
  if (out == nullptr) return MQTTCLIENT_PERSISTENCE_ERROR;
  if (length > 0) memcpy(out, found.data(), length);
  *buffer = out;
  *buflen = static_cast<int>(length);
  return 0;
}

int PahoPersistence::Remove(void* handle, char* key) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  std::string name = key != nullptr ? key : "";
  if (!self->ledger_.MayExist(name)) return 0;    // known absent: no round trip
  if (self->ledger_.DeferRemove(name)) return 0;  // due after the s-N put (see KeyLedger)
  return self->ForwardRemove(name) ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PahoPersistence::Keys(void* handle, char*** keys, int* nkeys) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kKeys, "");
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  const auto& found = call->keys;
  self->ledger_.Learn(found);
  char** out = nullptr;
  if (!found.empty()) {
    out = static_cast<char**>(MQTTAsync_malloc(found.size() * sizeof(char*)));
    if (out == nullptr) return MQTTCLIENT_PERSISTENCE_ERROR;
    for (size_t i = 0; i < found.size(); ++i) {
      out[i] = static_cast<char*>(MQTTAsync_malloc(found[i].size() + 1));
      if (out[i] == nullptr) {
        for (size_t j = 0; j < i; ++j) MQTTAsync_free(out[j]);
        MQTTAsync_free(out);
        return MQTTCLIENT_PERSISTENCE_ERROR;
      }
      memcpy(out[i], found[i].c_str(), found[i].size() + 1);
    }
  }
  *keys = out;
  *nkeys = static_cast<int>(found.size());
  return 0;
}

int PahoPersistence::Clear(void* handle) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  if (!self->bridge_->Forward(self->bridge_->NewCall(PersistenceOp::kClear, "")))
    return MQTTCLIENT_PERSISTENCE_ERROR;
  self->ledger_.Cleared();
  return 0;
}

int PahoPersistence::ContainsKey(void* handle, char* key) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kContainsKey, key);
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  return call->contains ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

}  // namespace paho_redis
