// MqttClient, part three: publishing, through the PublishWindow (see publish_window.h), and
// the store failures of queued commands, which Paho itself swallows.
#include <cstring>

#include "mqtt_client.h"

namespace paho_redis {

namespace {

bool IsCommandKey(const std::string& key) { return key.rfind("c-", 0) == 0 || key.rfind("c5-", 0) == 0; }

}  // namespace

void MqttClient::Publish(uint64_t request, PublishSpec spec) {
  // Weak: a job the window holds must not keep its own client (and so the window) alive.
  std::weak_ptr<MqttClient> weak = shared_from_this();
  bool counted = spec.qos > 0;
  auto shared_spec = std::make_shared<const PublishSpec>(std::move(spec));
  PublishWindow::Job send = [weak, request, counted, shared_spec] {
    std::shared_ptr<MqttClient> self = weak.lock();
    if (!self) return;
    self->QueueWithHandle(request, [self, request, counted, shared_spec] {
      self->SendPublish(request, *shared_spec, counted);
    });
  };
  window_.Submit(counted, std::move(send));
}

void MqttClient::ReleaseSlot() { window_.Release(); }

void MqttClient::SetWindow(int max_inflight) { window_.SetWindow(max_inflight); }

void MqttClient::SendPublish(uint64_t request, const PublishSpec& spec, bool holds_slot) {
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = const_cast<char*>(spec.payload.data());
  message.payloadlen = static_cast<int>(spec.payload.size());
  message.qos = spec.qos;
  message.retained = spec.retained;
  if (mqtt_version_ >= MQTTVERSION_5) FillProperties(spec.properties, &message.properties);
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  Pending* pending = NewPending(request);
  pending->holds_slot = holds_slot;  // before Paho can answer it, on another thread
  SetCallbacks(&options, pending);
  PersistenceBridge::ResetThreadFailures();
  int rc = MQTTAsync_sendMessage(handle_, spec.topic.c_str(), &message, &options);
  MQTTProperties_free(&message.properties);
  // Paho returns success even when storing the command failed, and still delivers the message
  // from memory: the publish settles by its delivery, the store failure is reported as such.
  // (A record that fails later, in its batch, is reported by the bridge.)
  ReportCommandFailures("PUBLISH");
  // When Paho accepted the message, it holds `pending` as the command's context and answers
  // it later: only a refused call frees it.
  if (rc != MQTTASYNC_SUCCESS && TakePending(pending)) {
    delete pending;
    if (holds_slot) ReleaseSlot();
    EmitResult(request, rc, MQTTAsync_strerror(rc));
  }
}

void MqttClient::ReportCommandFailures(const char* command) {
  std::vector<PersistenceBridge::ThreadFailure> failures = PersistenceBridge::TakeThreadFailures();
  if (!bridge_) return;
  for (const auto& failure : failures) {
    // A timeout was reported where it happened (PersistenceBridge::Write); a write refused while
    // the store is unavailable stays in the log and is stored once it answers (the outage was
    // reported once).
    if (failure.op != PersistenceOp::kPut || !IsCommandKey(failure.key) ||
        failure.failure == CallFailure::kTimeout || failure.failure == CallFailure::kUnavailable)
      continue;
    bridge_->Report(failure.op, failure.key, failure.failure,
                    std::string("the queued ") + command + " command could not be stored (" +
                        failure.message +
                        "); Paho sends it from memory, so it does not survive a restart before it is sent");
  }
}

}  // namespace paho_redis
