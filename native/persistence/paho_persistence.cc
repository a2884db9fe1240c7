#include "persistence/paho_persistence.h"

#include <MQTTAsync.h>

#include <cstring>
#include <optional>
#include <unordered_set>

#include "persistence/outbox_handoff.h"
#include "persistence/paho_keys.h"
#include "persistence/store_bridge.h"
#include "util/js_thread.h"

namespace paho_redis {

namespace {

PahoPersistence* FromHandle(void* handle) { return static_cast<PahoPersistence*>(handle); }

// Paho discards its session's in-flight records by listing the keys and removing each listed
// one (MQTTAsync_unpersistInflightMessages); no other path removes a listed sent PUBLISH right
// after the listing (a restore reads each record first). Set by a listing, each key consumed by
// its remove, cleared by any other call.
struct DiscardListing {
  PahoPersistence* owner = nullptr;
  std::unordered_set<std::string> keys;
  void Clear() {
    owner = nullptr;
    keys.clear();
  }
  // Whether `key`, removed now by the thread that listed it, is part of a discard.
  bool Consume(PahoPersistence* self, const std::string& key) { return owner == self && keys.erase(key) > 0; }
};
thread_local DiscardListing discard_listing;
// Set while the thread publishes a discarded message again (RepublishOnThisThread).
thread_local const std::string* republish_key = nullptr;

// Whether Paho may act on the wire right after this put, in a way a crash must not undo
// before the record is in the store (the table is in docs/persistence.md):
//   sc-/sc5- (PUBREL leaves next), r-/r5- (PUBREC leaves next), and s-/s5- of a QoS 2
//   PUBLISH (the broker keeps the packet id until PUBREL). The first buffer of an s- put
//   starts with the PUBLISH fixed header, whose bits 1-2 are the QoS.
bool IsBarrierPut(const std::string& key, int bufcount, char* buffers[], int buflens[]) {
  if (IsSentPubrelKey(key) || IsReceivedKey(key)) return true;
  if (!IsSentPublishKey(key) || bufcount < 1 || buflens[0] < 1) return false;
  return ((static_cast<unsigned char>(buffers[0][0]) >> 1) & 3) == 2;
}

// A QoS 2 PUBLISH command as MQTTAsync_persistCommand hands it over: buffers int type,
// int token, topic, int payloadlen, payload, int qos, int retained [, v5 properties].
bool IsQos2PublishCommand(const std::string& key, int bufcount, char* buffers[], int buflens[]) {
  constexpr int kPublish = 3;
  if (!IsCommandKey(key) || bufcount < 7 || buflens[0] != sizeof(int) || buflens[5] != sizeof(int))
    return false;
  int type = 0;
  int qos = 0;
  memcpy(&type, buffers[0], sizeof(int));
  memcpy(&qos, buffers[5], sizeof(int));
  return type == kPublish && qos == 2;
}

// MQTT 5: Paho delivers an inbound QoS 2 message at PUBLISH time and, finding a restored
// r5-N, would swallow a later message that reuses the id: the remove must be stored
// before PUBCOMP leaves.
bool IsBarrierRemove(const std::string& key) { return IsReceivedV5Key(key); }

int Fail(PersistenceOp op, const std::string& key, const LogOutcome& outcome) {
  StoreBridge::RecordThreadFailure({op, key, outcome.failure, outcome.message});
  return MQTTCLIENT_PERSISTENCE_ERROR;
}

// Paho frees what a persistence returns with its tracked free(): MQTTAsync_malloc it.
int AnswerKeys(const std::vector<std::string>& found, char*** keys, int* nkeys) {
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

}  // namespace

PahoPersistence::PahoPersistence(StoreBridge* bridge) : bridge_(bridge) {
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

void PahoPersistence::StoreFailed() { ledger_.Invalidate(); }

LogOutcome PahoPersistence::DrainForRead() {
  // On a JS thread the forward itself refuses (and reports) the call.
  if (OnJsThread()) return {};
  return bridge_->Drain();
}

int PahoPersistence::Open(void** handle, const char* client_id, const char* server_uri, void* context) {
  auto* self = static_cast<PahoPersistence*>(context);
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kOpen, "");
  call->client_id = client_id != nullptr ? client_id : "";
  call->server_uri = server_uri != nullptr ? server_uri : "";
  self->ledger_.Reset();
  self->bridge_->log().Reset();
  self->ForgetCommands();
  self->ForgetDiscarded();
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  *handle = self;
  return 0;
}

LogOp PahoPersistence::DueRemove(const std::string& key, bool wait) {
  ledger_.Removed(key);
  return RemoveOp(key, wait);
}

LogOp PahoPersistence::RemoveOp(const std::string& key, bool wait) {
  ForgetCommand(key);
  return LogOp{0, key, nullptr, false, wait};
}

void PahoPersistence::RepublishOnThisThread(const std::string* sent_key) { republish_key = sent_key; }

void PahoPersistence::FlushDeferred() {
  if (!ledger_.deferring()) return;  // the common case, without the ledger's lock
  if (auto key = ledger_.TakeDeferred()) {
    std::vector<LogOp> ops;
    ops.push_back(DueRemove(*key, bridge_->sync()));
    bridge_->Write(std::move(ops), bridge_->sync());
    ledger_.RemoveAppended();
  }
}

int PahoPersistence::Close(void* handle) {
  auto* self = FromHandle(handle);
  {
    // Still held at close: a resent PUBLISH whose record the store holds already (a message
    // being delivered is stored as its delivery ends, and Paho closes after that).
    std::lock_guard<std::mutex> lock(self->held_mutex_);
    self->held_.clear();
    self->held_records_ = 0;
  }
  std::vector<LogOp> removes;
  for (const std::string& key : self->ledger_.TakeAllDeferred())
    removes.push_back(self->DueRemove(key, true));
  size_t count = removes.size();
  self->bridge_->Write(std::move(removes), true);
  for (size_t i = 0; i < count; ++i) self->ledger_.RemoveAppended();
  // Everything logged reaches the store before it is closed, if the store answers. It is
  // closed either way: its connections must not outlive the client.
  LogOutcome drained = self->DrainForRead();
  self->ledger_.Reset();
  // Discarded messages not sent again stay stored: the next client restores them.
  self->ForgetDiscarded();
  if (drained.failure != CallFailure::kNone && drained.failure != CallFailure::kClosing) {
    self->bridge_->Report(PersistenceOp::kClose, "", drained.failure,
                          "the store was closed with writes it had not stored: " + drained.message);
  }
  bool closed = self->bridge_->Forward(self->bridge_->NewCall(PersistenceOp::kClose, ""));
  if (drained.failure != CallFailure::kNone) return Fail(PersistenceOp::kClose, "", drained);
  return closed ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

int PahoPersistence::Put(void* handle, char* key, int bufcount, char* buffers[], int buflens[]) {
  auto* self = FromHandle(handle);
  discard_listing.Clear();
  std::string name = key != nullptr ? key : "";
  size_t total = 0;
  for (int i = 0; i < bufcount; ++i) total += static_cast<size_t>(buflens[i]);
  // The one copy: Paho's buffers are only valid during this call.
  auto bytes = std::make_shared<std::vector<uint8_t>>(total);
  size_t offset = 0;
  for (int i = 0; i < bufcount; ++i) {
    if (buflens[i] > 0) memcpy(bytes->data() + offset, buffers[i], static_cast<size_t>(buflens[i]));
    offset += static_cast<size_t>(buflens[i]);
  }
  // Paho 1.3.12 frees the topic and payload of a QoS 1/2 PUBLISH whose first write fails (the
  // broker closed the connection meanwhile) yet keeps the message in flight: its resend after
  // the reconnect stores, and sends, freed memory. The record stored first stays.
  if (IsSentPublishKey(name) && self->CorruptResend(name, *bytes)) return 0;
  bool sync = self->bridge_->sync();
  if (IsReceivedV5Key(name) && !self->ledger_.KnownPresent(name)) {
    self->FlushDeferred();
    self->StoreHeld();                   // an earlier resent PUBLISH's, if any
    self->Hold(name, std::move(bytes));  // see paho_persistence_held.cc
    return 0;
  }
  // Held records go first, in the same unit: Paho queued their message (q5-N) instead of
  // delivering it, and PUBREC leaves after this put.
  std::vector<LogOp> ops = self->TakeHeld();
  ops.reserve(ops.size() + 3);
  bool barrier = !ops.empty() || IsBarrierPut(name, bufcount, buffers, buflens);
  bool wait = sync || barrier;
  // A deferred command remove is due once the sent packet (s-N) is logged, in the same
  // unit, so the store never holds both or neither; any other put means the thread moved
  // on, so it is due before.
  bool sent_publish = IsSentPublishKey(name);
  if (!sent_publish) self->FlushDeferred();
  std::optional<std::string> deferred;
  if (sent_publish) deferred = self->ledger_.TakeDeferred();
  if (wait && !sync && deferred && self->CommandStored(*deferred, name)) wait = false;
  bool qos2_command = IsQos2PublishCommand(name, bufcount, buffers, buflens);
  // A new message under a discarded one's packet id replaces its record: no remove may follow.
  if (sent_publish) self->TakeHeldRemove(name);
  // The command of a discarded message sent again: the old record goes in the same unit.
  std::optional<std::string> replaced;
  if (republish_key != nullptr && IsCommandKey(name)) replaced = self->TakeHeldRemove(*republish_key);
  self->ledger_.AddedAndRemoved(name, bytes, deferred ? &*deferred : nullptr);
  ops.push_back(LogOp{0, name, std::move(bytes), false, wait});
  if (IsCommandKey(name)) ops.back().outbox_remove = OutboxHandoff::TakeForCommandPut();
  if (deferred) ops.push_back(self->RemoveOp(*deferred, wait));
  if (replaced) ops.push_back(LogOp{0, *replaced, nullptr, false, wait});
  uint64_t seq = 0;
  // An acknowledgement (PUBREL after sc-, PUBREC after r-) can be held back; the QoS 2 PUBLISH
  // after s- is not: Paho's send thread writing it to a connection the broker dropped
  // meanwhile leaves Paho resending a corrupt PUBLISH after the reconnect.
  bool acknowledgement = barrier && !sent_publish;
  LogOutcome outcome = self->bridge_->Write(std::move(ops), wait, &seq, acknowledgement);
  if (deferred) self->ledger_.RemoveAppended();
  if (qos2_command && outcome.failure == CallFailure::kNone) self->CommandLogged(name, seq);
  if (outcome.failure != CallFailure::kNone) return Fail(PersistenceOp::kPut, name, outcome);
  return 0;
}

bool PahoPersistence::CorruptResend(const std::string& key, const std::vector<uint8_t>& bytes) {
  Bytes first = ledger_.Value(key);  // written or restored in this session
  if (!first || !ResendChangesMessage(key, *first, bytes)) return false;
  bridge_->Report(PersistenceOp::kPut, key, CallFailure::kBadResult,
                  "Paho resent this in-flight PUBLISH from freed memory (its first write failed as the "
                  "connection closed): the record stored first is kept");
  return true;
}

int PahoPersistence::Get(void* handle, char* key, char** buffer, int* buflen) {
  auto* self = FromHandle(handle);
  discard_listing.Clear();
  self->FlushDeferred();
  self->StoreHeld();
  std::string name = key != nullptr ? key : "";
  // On a JS thread nothing is answered, not even from memory: Forward refuses it.
  Bytes found = OnJsThread() ? nullptr : self->ledger_.Value(name);
  if (!found) {
    // Not written in this session: the store answers, once it holds everything logged.
    LogOutcome drained = self->DrainForRead();
    if (drained.failure != CallFailure::kNone) {
      return Fail(PersistenceOp::kGet, name, drained);
    }
    CallPtr call = self->bridge_->NewCall(PersistenceOp::kGet, key);
    if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
    found = std::make_shared<const std::vector<uint8_t>>(std::move(call->bytes));
    self->ledger_.Fetched(name, found);
  }
  size_t length = found->size();
  char* out = static_cast<char*>(MQTTAsync_malloc(length > 0 ? length : 1));
  if (out == nullptr) return MQTTCLIENT_PERSISTENCE_ERROR;
  if (length > 0) memcpy(out, found->data(), length);
  *buffer = out;
  *buflen = static_cast<int>(length);
  return 0;
}

int PahoPersistence::Remove(void* handle, char* key) {
  auto* self = FromHandle(handle);
  // Most of Paho's removes name a family this session never wrote (see KeyLedger): answered
  // without a lock when nothing else is owed (no deferred remove, no held record, no discard).
  // (A thread's listing stays set until its next other callback: Paho's receive thread lists at
  // CONNACK, then only removes; once its keys were consumed it holds no discard.)
  if ((discard_listing.owner != self || discard_listing.keys.empty()) && self->held_records_.load() == 0 &&
      self->ledger_.KnownAbsentByFamily(key))
    return 0;
  self->FlushDeferred();
  std::string name = key != nullptr ? key : "";
  self->DropHeld(name);
  self->StoreHeld();
  if (discard_listing.Consume(self, name) && self->CaptureDiscard(name)) return 0;
  switch (self->ledger_.DecideRemove(name)) {
    case KeyLedger::RemoveAction::kAbsent:    // known absent: nothing to write
    case KeyLedger::RemoveAction::kDeferred:  // due with the s-N put (see KeyLedger)
      return 0;
    case KeyLedger::RemoveAction::kDue:
      break;
  }
  bool acknowledgement = IsBarrierRemove(name);  // PUBCOMP leaves next
  bool wait = self->bridge_->sync() || acknowledgement;
  std::vector<LogOp> ops;
  ops.push_back(self->RemoveOp(name, wait));
  LogOutcome outcome = self->bridge_->Write(std::move(ops), wait, nullptr, acknowledgement);
  self->ledger_.RemoveAppended();
  if (outcome.failure != CallFailure::kNone) {
    discard_listing.Clear();  // Paho stops removing at a failure: what is left is no discard
    return Fail(PersistenceOp::kRemove, name, outcome);
  }
  return 0;
}

int PahoPersistence::Keys(void* handle, char*** keys, int* nkeys) {
  auto* self = FromHandle(handle);
  self->FlushDeferred();
  self->StoreHeld();
  discard_listing.Clear();
  if (!OnJsThread() && self->ledger_.complete()) {
    std::vector<std::string> found = self->ledger_.Keys();
    discard_listing.owner = self;
    discard_listing.keys.insert(found.begin(), found.end());
    return AnswerKeys(found, keys, nkeys);
  }
  LogOutcome drained = self->DrainForRead();
  if (drained.failure != CallFailure::kNone) {
    return Fail(PersistenceOp::kKeys, "", drained);
  }
  uint64_t epoch = self->ledger_.ListingEpoch();
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kKeys, "");
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  self->ledger_.Learn(call->keys, epoch);
  self->bridge_->log().LearnStoreKeys(call->keys);
  discard_listing.owner = self;
  discard_listing.keys.insert(call->keys.begin(), call->keys.end());
  return AnswerKeys(call->keys, keys, nkeys);
}

int PahoPersistence::Clear(void* handle) {
  auto* self = FromHandle(handle);
  discard_listing.Clear();
  self->FlushDeferred();
  self->StoreHeld();
  LogOutcome drained = self->DrainForRead();
  if (drained.failure != CallFailure::kNone) {
    return Fail(PersistenceOp::kClear, "", drained);
  }
  if (!self->bridge_->Forward(self->bridge_->NewCall(PersistenceOp::kClear, "")))
    return MQTTCLIENT_PERSISTENCE_ERROR;
  self->ledger_.Cleared();
  self->bridge_->log().StoreCleared();
  return 0;
}

int PahoPersistence::ContainsKey(void* handle, char* key) {
  auto* self = FromHandle(handle);
  discard_listing.Clear();
  self->FlushDeferred();
  self->StoreHeld();
  std::string name = key != nullptr ? key : "";
  if (!OnJsThread() && self->ledger_.complete()) {
    return self->ledger_.Holds(name) ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
  }
  LogOutcome drained = self->DrainForRead();
  if (drained.failure != CallFailure::kNone) {
    return Fail(PersistenceOp::kContainsKey, name, drained);
  }
  CallPtr call = self->bridge_->NewCall(PersistenceOp::kContainsKey, key);
  if (!self->bridge_->Forward(call)) return MQTTCLIENT_PERSISTENCE_ERROR;
  return call->contains ? 0 : MQTTCLIENT_PERSISTENCE_ERROR;
}

}  // namespace paho_redis
