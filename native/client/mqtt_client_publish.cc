// MqttClient, part three: publishing, through the PublishWindow (see publish_window.h), and
// the store failures of queued commands, which Paho itself swallows.
#include <cstring>

#include "client/mqtt_client.h"
#include "persistence/outbox_handoff.h"
#include "persistence/paho_keys.h"

namespace paho_redis {

namespace {
constexpr int kPacketIds = 65535;  // MQTT packet ids 1..65535
}  // namespace

void MqttClient::Publish(uint64_t request, PublishSpec spec) {
  PublishWindow::Item item;
  item.request = request;
  item.counted = spec.qos > 0;
  item.spec = std::move(spec);
  window_.Submit(std::move(item));
}

void MqttClient::HandOn(PublishWindow::Item& item) {
  // A job the window holds must not keep its own client (and so the window) alive: none holds
  // more than this pointer, and a client being destroyed takes nothing more.
  std::shared_ptr<MqttClient> self = weak_from_this().lock();
  if (!self) return;
  const uint64_t request = item.request;
  if (item.kind == PublishWindow::Item::Kind::kFlush) {
    Queue(request, [self, request] {
      auto event = std::make_unique<ClientEvent>();
      event->request = request;
      event->log_seq = self->bridge_ ? self->bridge_->logged_seq() : 0;
      self->Emit(std::move(event));
    });
    return;
  }
  QueueWithHandle(request, [self, request, counted = item.counted, spec = std::move(item.spec)] {
    self->SendPublish(request, spec, counted);
  });
}

void MqttClient::ReleaseSlot() { window_.Release(); }

void MqttClient::SetWindow(int max_inflight) { window_.SetWindow(max_inflight); }

void MqttClient::SendPublish(uint64_t request, const PublishSpec& spec, bool holds_slot) {
  if (holds_slot && publish_ids_.load() + restored_left_.load() >= kPacketIds) {
    ReleaseSlot();
    EmitResult(request, MQTTASYNC_NO_MORE_MSGIDS,
               "all 65,535 MQTT packet ids are held by QoS 1/2 publishes not completed yet (buffered "
               "offline or in flight): this one is refused; publish it again once some are delivered, or "
               "queue large offline backlogs with enqueue() (the outbox)");
    return;
  }
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = const_cast<char*>(spec.payload.data());
  message.payloadlen = static_cast<int>(spec.payload.size());
  message.qos = spec.qos;
  message.retained = spec.retained;
  if (mqtt_version_ >= MQTTVERSION_5) FillProperties(spec.properties, &message.properties);
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  Pending* pending = NewPending(request, RequestKind::kPublish);
  pending->holds_slot = holds_slot;  // before Paho can answer it, on another thread
  pending->qos = spec.qos;
  SetCallbacks(&options, pending);
  StoreBridge::ResetThreadFailures();
  int rc = 0;
  {
    OutboxHandoff handoff(spec.outbox_id);  // an empty id moves nothing
    rc = MQTTAsync_sendMessage(handle_, spec.topic.c_str(), &message, &options);
  }
  MQTTProperties_free(&message.properties);
  // Paho returns success even when storing the command failed, and still delivers the message
  // from memory: the publish settles by its delivery, the store failure is reported as such.
  // (A record that fails later, in its batch, is reported by the bridge.)
  ReportCommandFailures("PUBLISH");
  if (rc == MQTTASYNC_SUCCESS && holds_slot) publish_ids_++;  // Finish may have counted it down already
  if (rc == MQTTASYNC_SUCCESS && spec.qos > 0) {
    // Paho may have answered it already (then it is gone from pending_).
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.count(pending) > 0) {
      pending->msgid = options.token;
    } else if (followed_unnumbered_.erase(request) > 0) {
      followed_[options.token] = request;
      followed_size_ = followed_.size();
    }
  }
  // When Paho accepted the message, it holds `pending` as the command's context and answers
  // it later: only a refused call frees it.
  if (rc != MQTTASYNC_SUCCESS && TakePending(pending)) {
    delete pending;
    if (holds_slot) ReleaseSlot();
    EmitResult(request, rc, MQTTAsync_strerror(rc));
  }
}

bool MqttClient::Parked(Pending* pending, int rc) {
  // Paho fails the publishes of the messages it discards with MQTTASYNC_OPERATION_INCOMPLETE.
  if (rc != MQTTASYNC_OPERATION_INCOMPLETE || pending->msgid == 0 || pending->request == 0 || !bridge_ ||
      !bridge_->Discarded(pending->msgid))
    return false;
  std::lock_guard<std::mutex> lock(mutex_);
  parked_[pending->msgid] = pending->request;
  return true;
}

bool MqttClient::Followed(Pending* pending, int rc) {
  // Operation incomplete: Paho's destroy (its records keep the message for the next client),
  // or a discard Parked did not take.
  if (pending->kind != RequestKind::kPublish || pending->qos == 0 || pending->request == 0 ||
      rc == MQTTASYNC_OPERATION_INCOMPLETE)
    return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (pending->msgid != 0) {
    followed_[pending->msgid] = pending->request;
    followed_size_ = followed_.size();
  } else {
    followed_unnumbered_.insert(pending->request);  // SendPublish files it under its packet id
  }
  return true;
}

void MqttClient::Delivered(int msgid) {
  if (followed_size_.load() == 0) return;  // every delivery comes here: no lock while none is followed
  uint64_t request = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto followed = followed_.find(msgid);
    if (followed == followed_.end()) return;
    request = followed->second;
    followed_.erase(followed);
    followed_size_ = followed_.size();
  }
  EmitResult(request, MQTTASYNC_SUCCESS, "");
}

void MqttClient::FailFollowed() {
  std::vector<uint64_t> requests;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& followed : followed_) requests.push_back(followed.second);
    requests.insert(requests.end(), followed_unnumbered_.begin(), followed_unnumbered_.end());
    followed_.clear();
    followed_unnumbered_.clear();
    followed_size_ = 0;
  }
  for (uint64_t request : requests) {
    EmitResult(request, MQTTASYNC_OPERATION_INCOMPLETE,
               "the client was destroyed before the message was delivered", true);
  }
}

void MqttClient::Republish() {
  if (!bridge_) return;
  std::vector<SentPublish> discarded = bridge_->TakeDiscarded();
  std::vector<uint64_t> lost;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!discarded.empty()) {
      // The session is gone, and the followed messages with it: those discarded are sent again
      // (their requests settle as for Parked); the others Paho no longer holds.
      for (const SentPublish& publish : discarded) {
        auto followed = followed_.find(publish.msgid);
        if (followed == followed_.end()) continue;
        parked_[publish.msgid] = followed->second;
        followed_.erase(followed);
      }
      for (const auto& followed : followed_) lost.push_back(followed.second);
      followed_.clear();
      followed_size_ = 0;
    }
  }
  for (uint64_t request : lost) {
    // Failure, not incomplete: incomplete says Paho's records keep it.
    EmitResult(request, MQTTASYNC_FAILURE, "the message was lost with the session before it was sent again",
               true);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (SentPublish& publish : discarded) backlog_.push_back(std::move(publish));
    backlog_size_ = backlog_.size();
    if (backlog_.empty()) return;
  }
  window_.HoldAll(true);  // publishes made from now on wait until all of these are with Paho
  SendBacklog();
}

void MqttClient::SendBacklog() {
  // Only Paho's receive thread (holding Paho's mutex) takes from the backlog.
  for (;;) {
    SentPublish next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (backlog_.empty()) break;
      next = backlog_.front();
    }
    // Paho refuses a publish when its buffer is full, but only after giving it a packet id:
    // each refusal would shift the ids of the messages sent again onto those of the records
    // still waiting, whose packet ids would then be reused before their turn. Every queued
    // command has its c- record: wait while they fill the buffer.
    int queued = bridge_->command_count();
    if (queued >= max_buffered_) return;
    int rc = RepublishOne(next);
    // No room in Paho's buffer yet (or no connection): the next acknowledgement (or connect) retries.
    if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED) return;
    std::lock_guard<std::mutex> lock(mutex_);
    backlog_.pop_front();
    backlog_size_ = backlog_.size();
  }
  window_.HoldAll(false);
}

int MqttClient::RepublishOne(const SentPublish& publish) {
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = const_cast<char*>(publish.payload.data());
  message.payloadlen = static_cast<int>(publish.payload.size());
  message.qos = publish.qos;
  message.retained = publish.retained ? 1 : 0;
  if (mqtt_version_ >= MQTTVERSION_5) FillProperties(publish.properties, &message.properties);
  uint64_t request = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto parked = parked_.find(publish.msgid);
    if (parked != parked_.end()) request = parked->second;
  }
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  Pending* pending = NewPending(request, RequestKind::kPublish);
  pending->qos = publish.qos;
  SetCallbacks(&options, pending);
  StoreBridge::ResetThreadFailures();
  PahoPersistence::RepublishOnThisThread(&publish.key);
  // Paho's threads may call the API from its callbacks; handle_ is live while Paho runs them
  // (MQTTAsync_destroy takes the same mutex).
  int rc = MQTTAsync_sendMessage(handle_, publish.topic.c_str(), &message, &options);
  PahoPersistence::RepublishOnThisThread(nullptr);
  MQTTProperties_free(&message.properties);
  // As for any publish: a command put that failed is reported, the publish settles by delivery.
  ReportCommandFailures("PUBLISH");
  if (rc != MQTTASYNC_SUCCESS) {
    if (TakePending(pending)) delete pending;
    bool retried = rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED;
    if (retried) return rc;
    // Refused for good: the record stays in the store; the next client created over it sends it.
    if (request != 0) EmitResult(request, rc, MQTTAsync_strerror(rc));
    std::lock_guard<std::mutex> lock(mutex_);
    parked_.erase(publish.msgid);
    return rc;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    parked_.erase(publish.msgid);
    // Discarded again (a second lost session) before it completes: Parked finds it by this.
    if (pending_.count(pending) > 0) {
      pending->msgid = options.token;
    } else if (request != 0 && followed_unnumbered_.erase(request) > 0) {
      followed_[options.token] = request;
      followed_size_ = followed_.size();
    }
  }
  restored_left_++;  // beyond the publish window, like a restored command: wake Paho as each completes
  return rc;
}

void MqttClient::ReportCommandFailures(const char* command) {
  std::vector<StoreBridge::ThreadFailure> failures = StoreBridge::TakeThreadFailures();
  if (!bridge_) return;
  for (const auto& failure : failures) {
    // A timeout was reported where it happened (StoreBridge::Write); a write refused while
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
