// MqttClient, part two: Paho's callbacks (on Paho's threads) and their delivery to JS.
#include <cstring>

#include "client/mqtt_client.h"

namespace paho_redis {

namespace {

MqttClient* ClientOf(void* context) { return static_cast<MqttClient*>(context); }

}  // namespace

bool MqttClient::TakePending(Pending* pending) {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.erase(pending) != 0;
}

// onSuccess/onFailure fire exactly once per Pending; a Pending already taken (the call
// failed synchronously, or destroy cleaned up) is ignored. v3 and v5 answers share the
// token and the connect block (failures: token, code and message); the rest differs
// (AddResults, AddFailureDetails).
template <typename SuccessData>
void MqttClient::Succeed(void* context, SuccessData* response) {
  auto* pending = static_cast<Pending*>(context);
  MqttClient* self = Claim(pending);
  if (self == nullptr) return;
  if (pending->kind == RequestKind::kPublish) {
    // A plain entry, no ClientEvent: Paho (1.3.12) tells nothing more of a publish that
    // succeeded. Its v5 answer has reason code 0 whatever the PUBACK said (0x10, no matching
    // subscribers, included) and the publish's own properties, not the acknowledgement's; a
    // code of 0x80 or more comes through Fail, with the acknowledgement's properties.
    EventBurst::Entry entry;
    entry.kind = EventBurst::Kind::kPublished;
    entry.request = pending->request;
    entry.token = response != nullptr ? response->token : 0;
    self->Finish(pending);
    self->Append(entry);
    return;
  }
  auto event = std::make_unique<ClientEvent>();
  event->request = pending->request;
  if (response != nullptr) {
    event->token = response->token;
    AddResults(event.get(), *pending, *response);
    if (pending->kind == RequestKind::kConnect) {
      if (response->alt.connect.serverURI != nullptr) event->server_uri = response->alt.connect.serverURI;
      event->mqtt_version = response->alt.connect.MQTTVersion;
      event->session_present = response->alt.connect.sessionPresent != 0;
      self->LowerToReceiveMaximum(*response);
    }
  }
  bool connected = pending->kind == RequestKind::kConnect;
  self->Finish(pending);
  if (connected) self->SetWindow(self->max_inflight_);
  self->Emit(std::move(event));
}

void MqttClient::Finish(Pending* pending) {
  bool holds_slot = pending->holds_slot;
  delete pending;
  if (holds_slot) {
    publish_ids_--;
    ReleaseSlot();
  }
}

void MqttClient::OnSuccess(void* context, MQTTAsync_successData* response) { Succeed(context, response); }

void MqttClient::OnSuccess5(void* context, MQTTAsync_successData5* response) { Succeed(context, response); }

void MqttClient::AddResults(ClientEvent* event, const Pending& pending,
                            const MQTTAsync_successData& response) {
  if (pending.kind != RequestKind::kSubscribe) return;
  if (pending.count == 1) {
    event->list.push_back(response.alt.qos);
  } else if (response.alt.qosList != nullptr) {
    event->list.assign(response.alt.qosList, response.alt.qosList + pending.count);
  }
}

void MqttClient::LowerToReceiveMaximum(const MQTTAsync_successData5& response) {
  auto* properties = const_cast<MQTTProperties*>(&response.properties);
  if (!MQTTProperties_hasProperty(properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)) return;
  int receive_maximum = MQTTProperties_getNumericValue(properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
  if (receive_maximum > 0 && receive_maximum < max_inflight_.load()) max_inflight_ = receive_maximum;
}

void MqttClient::AddResults(ClientEvent* event, const Pending& pending,
                            const MQTTAsync_successData5& response) {
  event->reason_code = response.reasonCode;
  event->properties = CopyProperties(response.properties);
  bool subscribe = pending.kind == RequestKind::kSubscribe;
  if (!subscribe && pending.kind != RequestKind::kUnsubscribe) return;
  const auto& codes = subscribe ? response.alt.sub.reasonCodes : response.alt.unsub.reasonCodes;
  int count = subscribe ? response.alt.sub.reasonCodeCount : response.alt.unsub.reasonCodeCount;
  // For one topic Paho sets the count but leaves the array uninitialised: use reasonCode.
  if (pending.count > 1 && codes != nullptr && count > 0) {
    event->list.assign(codes, codes + count);
  } else {
    event->list.push_back(response.reasonCode);
  }
}

namespace {

// A v5 failure adds a reason code and properties.
void AddFailureDetails(ClientEvent*, const MQTTAsync_failureData&) {}

void AddFailureDetails(ClientEvent* event, const MQTTAsync_failureData5& response) {
  event->reason_code = response.reasonCode;
  event->properties = CopyProperties(response.properties);
}

}  // namespace

template <typename FailureData>
void MqttClient::Fail(void* context, FailureData* response) {
  auto* pending = static_cast<Pending*>(context);
  MqttClient* self = Claim(pending);
  if (self == nullptr) return;
  auto event = std::make_unique<ClientEvent>();
  event->request = pending->request;
  event->rc = MQTTASYNC_FAILURE;
  if (response != nullptr) {
    event->token = response->token;
    event->rc = response->code != 0 ? response->code : MQTTASYNC_FAILURE;
    event->text = response->message != nullptr ? response->message : MQTTAsync_strerror(event->rc);
    AddFailureDetails(event.get(), *response);
  }
  // A refused call never reaches onFailure: this publish was Paho's.
  event->accepted_by_paho = pending->kind == RequestKind::kPublish;
  // MQTT 5: a PUBACK/PUBREC reason code of 0x80 or more is the broker's refusal, and Paho has
  // dropped the message: it fails now (followed, it would wait for a delivery that never comes).
  const bool refused_by_broker = event->reason_code >= MQTTREASONCODE_UNSPECIFIED_ERROR;
  if (!refused_by_broker && (self->Parked(pending, event->rc) || self->Followed(pending, event->rc))) {
    self->Finish(pending);
    return;
  }
  self->Finish(pending);  // frees the Pending: all that was needed from it is read above
  self->Emit(std::move(event));
}

void MqttClient::OnFailure(void* context, MQTTAsync_failureData* response) { Fail(context, response); }

void MqttClient::OnFailure5(void* context, MQTTAsync_failureData5* response) { Fail(context, response); }

void MqttClient::OnConnectionLost(void* context, char* cause) {
  ClientOf(context)->SetWindow(0);  // Paho buffers offline publishes itself
  auto event = std::make_unique<ClientEvent>();
  event->type = ClientEvent::Type::kConnectionLost;
  event->text = cause != nullptr ? cause : "connection lost";
  ClientOf(context)->Emit(std::move(event));
}

int MqttClient::OnMessage(void* context, char* topic, int topic_length, MQTTAsync_message* message) {
  auto event = std::make_unique<ClientEvent>();
  event->type = ClientEvent::Type::kMessage;
  event->text = topic_length > 0 ? std::string(topic, static_cast<size_t>(topic_length)) : std::string(topic);
  if (message->payloadlen > 0) {
    event->payload_length = static_cast<size_t>(message->payloadlen);
    event->payload.reset(new uint8_t[event->payload_length]);
    memcpy(event->payload.get(), message->payload, event->payload_length);
  }
  event->qos = message->qos;
  event->retained = message->retained != 0;
  event->dup = message->dup != 0;
  event->token = message->msgid;
  event->properties = CopyProperties(message->properties);
  MqttClient* self = ClientOf(context);
  // With a persistent store, Paho acknowledges a QoS 1/2 message (PUBACK, PUBCOMP) right
  // after this returns and forgets it: wait until JS has handled it, so a crash meanwhile
  // leaves the message to be delivered again instead of lost.
  const int qos = message->qos;
  std::shared_ptr<DeliveryGate> gate;
  if (self->bridge_ && qos > 0) gate = event->delivered = self->delivery_gates_.Make();
  MQTTAsync_freeMessage(&message);
  MQTTAsync_free(topic);
  // Waits (bounded) while JS is behind: backpressure instead of an unbounded queue.
  event->gated_bytes = event->payload_length + event->text.size();
  self->inbound_.Admit(event->gated_bytes);
  if (self->Emit(std::move(event)) && gate) {
    // onStoreUnavailable 'disconnect': not acknowledged before JS handled it, even if the broker
    // drops the silent connection meanwhile (it then delivers the message again).
    uint32_t wait_ms = self->bridge_->wait_ms();
    bool handled = gate->WaitUntil(self->bridge_->holds_acks() ? StoreBridge::AckDeadline()
                                                               : std::chrono::steady_clock::now() +
                                                                     std::chrono::milliseconds(wait_ms));
    if (handled) {
      self->early_ack_reported_ = false;
    } else if (!self->early_ack_reported_.exchange(true)) {
      self->bridge_->Report(
          PersistenceOp::kPut, "", CallFailure::kTimeout,
          "a received message is acknowledged before its 'message' listeners ran (they did not "
          "return within " +
              std::to_string(wait_ms) +
              " ms): a crash before they run loses it (onStoreUnavailable 'disconnect' waits "
              "for them instead)");
    }
  }
  // MQTT 5 QoS 2: the record Paho put as it read the PUBLISH is stored now, after the
  // listeners, before PUBREC leaves (see PahoPersistence::Put).
  if (self->bridge_ && qos == 2) self->bridge_->StoreHeldReceived();
  return 1;
}

void MqttClient::OnDeliveryComplete(void* context, MQTTAsync_token token) {
  MqttClient* self = ClientOf(context);
  // Room in Paho's window. Commands Paho queues beyond it (restored at create: they go first;
  // or more publishes handed over than the window carries) need a wake to be sent now; the
  // window's own next publish wakes it otherwise. One receive thread: no race on the count.
  bool restored = self->restored_left_.load() > 0;
  if (restored) self->restored_left_--;
  if (restored || self->window_.Overcommitted()) self->waker_.Wake();
  if (self->backlog_size_.load() > 0) self->SendBacklog();  // room in Paho's buffer
  self->Delivered(token);
  // Without a listener, no entry: the delivery only counts as progress (poison detection).
  if (!self->delivery_complete_wanted_.load()) {
    self->burst_->CountDelivery();
    return;
  }
  EventBurst::Entry entry;
  entry.kind = EventBurst::Kind::kDeliveryComplete;
  entry.token = token;
  self->Append(entry);
}

void MqttClient::OnConnected(void* context, char* cause) {
  MqttClient* self = ClientOf(context);
  self->Republish();  // before the window lets later publishes go
  self->SetWindow(self->max_inflight_);
  auto event = std::make_unique<ClientEvent>();
  event->type = ClientEvent::Type::kConnected;
  event->text = cause != nullptr ? cause : "";
  ClientOf(context)->Emit(std::move(event));
}

void MqttClient::OnDisconnected(void* context, MQTTProperties* properties, enum MQTTReasonCodes reason) {
  ClientOf(context)->SetWindow(0);
  auto event = std::make_unique<ClientEvent>();
  event->type = ClientEvent::Type::kDisconnected;
  event->reason_code = reason;
  if (properties != nullptr) event->properties = CopyProperties(*properties);
  ClientOf(context)->Emit(std::move(event));
}

namespace {

Napi::Object EventToJs(Napi::Env env, const std::unique_ptr<ClientEvent>& event) {
  static const char* const kTypes[] = {"result", "message", "connectionLost", "connected", "disconnected"};
  Napi::Object js = Napi::Object::New(env);
  js.Set("type", kTypes[static_cast<int>(event->type)]);
  switch (event->type) {
    case ClientEvent::Type::kResult: {
      js.Set("request", static_cast<double>(event->request));
      js.Set("rc", event->rc);
      js.Set("token", event->token);
      if (!event->text.empty()) js.Set("message", event->text);
      if (!event->code.empty()) js.Set("code", event->code);
      Napi::Array list = Napi::Array::New(env, event->list.size());
      for (size_t i = 0; i < event->list.size(); ++i) list.Set(static_cast<uint32_t>(i), event->list[i]);
      js.Set("list", list);
      if (event->reason_code >= 0) js.Set("reasonCode", event->reason_code);
      Napi::Array failures = Napi::Array::New(env, event->persistence_failures.size());
      for (size_t i = 0; i < event->persistence_failures.size(); ++i) {
        const auto& f = event->persistence_failures[i];
        Napi::Object failure = Napi::Object::New(env);
        failure.Set("op", OpName(f.op));
        failure.Set("key", f.key);
        failure.Set("code", FailureCode(f.failure));
        failure.Set("message", f.message);
        failures.Set(static_cast<uint32_t>(i), failure);
      }
      js.Set("persistenceFailures", failures);
      if (event->log_seq != 0) js.Set("logSeq", static_cast<double>(event->log_seq));
      if (event->accepted_by_paho) js.Set("acceptedByPaho", true);
      if (!event->server_uri.empty()) {
        js.Set("serverURI", event->server_uri);
        js.Set("mqttVersion", event->mqtt_version);
        js.Set("sessionPresent", event->session_present);
      }
      break;
    }
    case ClientEvent::Type::kMessage:
      js.Set("topic", event->text);
      if (event->payload_length == 0) {
        js.Set("payload", Napi::Buffer<uint8_t>::New(env, 0));
      } else {
        js.Set("payload",
               Napi::Buffer<uint8_t>::NewOrCopy(env, event->payload.release(), event->payload_length,
                                                [](Napi::Env, uint8_t* owned) { delete[] owned; }));
      }
      js.Set("qos", event->qos);
      js.Set("retained", event->retained);
      js.Set("dup", event->dup);
      js.Set("msgid", event->token);
      break;
    case ClientEvent::Type::kConnectionLost:
    case ClientEvent::Type::kConnected:
      js.Set("cause", event->text);
      break;
    case ClientEvent::Type::kDisconnected:
      js.Set("reasonCode", event->reason_code);
      break;
  }
  if (!event->properties.empty()) js.Set("properties", PropertiesToJs(env, event->properties));
  return js;
}

}  // namespace

namespace {

// However delivery of a burst ends (delivered, thrown, or dropped): its received messages' gates
// open and they leave the inbound gate (JS handled them, or never will).
class BurstDone {
 public:
  BurstDone(std::vector<EventBurst::Entry>& burst, InboundGate& inbound) : burst_(burst), inbound_(inbound) {}
  ~BurstDone() {
    for (EventBurst::Entry& entry : burst_) {
      if (!entry.event || entry.event->type != ClientEvent::Type::kMessage) continue;
      if (entry.event->delivered) entry.event->delivered->Open();
      inbound_.Release(entry.event->gated_bytes);
    }
    burst_.clear();
  }

 private:
  std::vector<EventBurst::Entry>& burst_;
  InboundGate& inbound_;
};

// Per entry, three numbers: its kind, its request and its token (see EventBurst::Entry); the
// kEvent entries' objects follow, in order, in the second argument.
constexpr size_t kCodesPerEntry = 3;

}  // namespace

void ClientCallJs(Napi::Env env, Napi::Function on_events, MqttClient* self,
                  std::shared_ptr<EventBurst>* raw) {
  std::unique_ptr<std::shared_ptr<EventBurst>> ring(raw);
  // Dropped at teardown: `self` may be freed already (the function's finalizer runs before the
  // queue is drained and can drop the last owner), but the ring holds the burst.
  if (env == nullptr) {
    (*ring)->DropAll();
    return;
  }
  std::vector<EventBurst::Entry>& burst = self->drained_;
  (*ring)->TakeAll(&burst);
  BurstDone done(burst, self->inbound_);
  if (burst.empty()) return;
  try {
    // Building the burst can throw too, when the environment is terminating (worker exit).
    Napi::Float64Array codes = Napi::Float64Array::New(env, burst.size() * kCodesPerEntry);
    double* code = codes.Data();
    size_t objects = 0;
    for (const EventBurst::Entry& entry : burst) {
      code[0] = static_cast<double>(entry.kind);
      code[1] = static_cast<double>(entry.request);
      code[2] = entry.token;
      code += kCodesPerEntry;
      if (entry.event) ++objects;
    }
    Napi::Value events = env.Undefined();
    if (objects > 0) {
      Napi::Array array = Napi::Array::New(env, objects);
      uint32_t index = 0;
      for (const EventBurst::Entry& entry : burst) {
        if (entry.event) array.Set(index++, EventToJs(env, entry.event));
      }
      events = array;
    }
    on_events.Call({codes, events});
  } catch (const Napi::Error& error) {
    // src/ rethrows listener errors on a later tick; nothing may unwind through Node-API.
    if (!error.Message().empty())
      fprintf(stderr, "paho-mqtt-redis: client event delivery failed: %s\n", error.Message().c_str());
  }
}

}  // namespace paho_redis
