#include "client/mqtt_client.h"

#include <cstring>

namespace paho_redis {

namespace {

constexpr auto kTeardownWait = std::chrono::milliseconds(300);

}  // namespace

std::shared_ptr<MqttClient> MqttClient::Create(Napi::Env env, Napi::Function on_event,
                                               std::shared_ptr<StoreBridge> bridge) {
  std::shared_ptr<MqttClient> self(new MqttClient());
  self->bridge_ = std::move(bridge);
  // Unref'd: src/ refs it while operations are pending or the client is connected.
  self->events_.Open(env, on_event, "paho-mqtt-redis:client", self, &MqttClient::OnTeardown);
  return self;
}

std::atomic<int> MqttClient::live_count_{0};

MqttClient::~MqttClient() {
  live_count_--;
  for (Pending* pending : pending_) delete pending;
}

void MqttClient::OnTeardown() {
  // What is queued is never delivered: drop it now (a received message's gate opens below).
  burst_->Close();
  burst_->DropAll();
  events_.Close();
  inbound_.Close();
  // Release the store first, so Paho's pclose and removes during destroy fail at once
  // instead of waiting for this (blocked) JS thread.
  if (bridge_) bridge_->Shutdown();
  // JS will handle no more messages: release Paho's receive thread (shared by every client of
  // the process). The store is shut down first, so the acknowledgement that follows cannot
  // remove the message's record: it is delivered again after a restart.
  delivery_gates_.OpenAll();
  // Destroy the Paho client off this thread, briefly. If Paho is stuck, the client and
  // its bridge are leaked on purpose: Paho may still call them.
  auto keep = new std::shared_ptr<MqttClient>(shared_from_this());
  if (queue_.Push([keep] {
        (*keep)->DestroyHandle();
        delete keep;
      })) {
    queue_.Stop(kTeardownWait);
  } else {
    delete keep;
  }
}

void MqttClient::Dispose() {
  std::shared_ptr<MqttClient> keep = shared_from_this();
  inbound_.Close();
  burst_->Close();  // what is queued is delivered still: the ring for it is in flight
  events_.Dispose();
  // Destroy already ran, so the thread is idle or about to be: this join is short.
  queue_.Stop(kTeardownWait);
}

void MqttClient::Ref(Napi::Env env) { events_.Ref(env); }

void MqttClient::Unref(Napi::Env env) { events_.Unref(env); }

bool MqttClient::Append(EventBurst::Entry& entry) {
  return burst_->Append(entry, [this] {
    auto* ring = new std::shared_ptr<EventBurst>(burst_);
    if (events_.Send(ring)) return true;
    delete ring;
    return false;
  });
}

bool MqttClient::Emit(std::unique_ptr<ClientEvent> event) {
  const bool gated = event->type == ClientEvent::Type::kMessage;
  const size_t gated_bytes = event->gated_bytes;
  EventBurst::Entry entry;
  entry.event = std::move(event);
  if (Append(entry)) return true;
  if (gated) inbound_.Release(gated_bytes);
  return false;
}

void MqttClient::EmitResult(uint64_t request, int rc, const std::string& message, bool accepted_by_paho) {
  auto event = std::make_unique<ClientEvent>();
  event->request = request;
  event->rc = rc;
  event->text = message;
  event->accepted_by_paho = accepted_by_paho;
  Emit(std::move(event));
}

void MqttClient::EmitClosed(uint64_t request, const std::string& message) {
  auto event = std::make_unique<ClientEvent>();
  event->request = request;
  event->rc = MQTTASYNC_FAILURE;
  event->code = "ERR_CLIENT_CLOSED";
  event->text = message;
  Emit(std::move(event));
}

void MqttClient::Queue(uint64_t request, std::function<void()> job) {
  if (!queue_.Push(std::move(job))) EmitClosed(request, "the client is closed");
}

MqttClient::Pending* MqttClient::NewPending(uint64_t request, RequestKind kind, int count) {
  auto* pending = new Pending();
  pending->client = this;
  pending->request = request;
  pending->kind = kind;
  pending->count = count;
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.insert(pending);
  return pending;
}

void MqttClient::FailIfRefused(int rc, Pending* pending) {
  // Paho refused the call outright: its callbacks will not fire for this request.
  if (rc == MQTTASYNC_SUCCESS || !TakePending(pending)) return;
  uint64_t request = pending->request;
  delete pending;
  EmitResult(request, rc, MQTTAsync_strerror(rc));
}

// ---- JS-thread entry points: each runs its Paho call on the command thread ----

void MqttClient::Create(uint64_t request, CreateSpec spec) {
  auto self = shared_from_this();
  Queue(request, [self, request, spec = std::move(spec)] {
    MQTTAsync_createOptions options = MQTTAsync_createOptions_initializer;
    options.MQTTVersion = spec.mqtt_version;
    options.sendWhileDisconnected = spec.send_while_disconnected;
    // Also before the first connect and after a disconnect, not only after a connection loss.
    options.allowDisconnectedSendAtAnyTime = spec.send_while_disconnected;
    options.maxBufferedMessages = spec.max_buffered_messages;
    self->max_buffered_ = spec.max_buffered_messages;
    options.deleteOldestMessages = spec.delete_oldest_messages;
    options.restoreMessages = spec.restore_messages;
    options.persistQoS0 = spec.persist_qos0;
    self->inbound_.Configure(static_cast<size_t>(spec.inbound_max_messages),
                             static_cast<size_t>(spec.inbound_max_bytes),
                             std::chrono::milliseconds(spec.inbound_max_wait_ms));
    void* persistence_context = nullptr;
    int type = spec.persistence_type;
    if (type == MQTTCLIENT_PERSISTENCE_USER) {
      persistence_context = self->bridge_->persistence();
    } else if (type == MQTTCLIENT_PERSISTENCE_DEFAULT) {
      persistence_context = const_cast<char*>(spec.persistence_dir.c_str());
    }
    StoreBridge::ResetThreadFailures();
    int rc = MQTTAsync_createWithOptions(&self->handle_, spec.server_uri.c_str(), spec.client_id.c_str(),
                                         type, persistence_context, &options);
    auto event = std::make_unique<ClientEvent>();
    event->request = request;
    event->persistence_failures = StoreBridge::TakeThreadFailures();
    if (rc == MQTTASYNC_SUCCESS) {
      self->mqtt_version_ = spec.mqtt_version;
      void* context = self.get();
      rc = MQTTAsync_setCallbacks(self->handle_, context, &MqttClient::OnConnectionLost,
                                  &MqttClient::OnMessage, &MqttClient::OnDeliveryComplete);
      if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setConnected(self->handle_, context, &MqttClient::OnConnected);
      if (rc == MQTTASYNC_SUCCESS && spec.mqtt_version >= MQTTVERSION_5) {
        rc = MQTTAsync_setDisconnected(self->handle_, context, &MqttClient::OnDisconnected);
      }
      // Without it, commands Paho holds beyond its window drain at one window per second.
      self->waker_.Create();
      MQTTAsync_token* tokens = nullptr;
      if (MQTTAsync_getPendingTokens(self->handle_, &tokens) == MQTTASYNC_SUCCESS && tokens != nullptr) {
        int count = 0;
        while (tokens[count] != -1) ++count;
        self->restored_left_ = count;
        MQTTAsync_free(tokens);
      }
      self->publish_ids_ = 0;  // a new Paho client: the ids of the one destroyed are free
    } else {
      self->handle_ = nullptr;
    }
    event->rc = rc;
    if (rc != MQTTASYNC_SUCCESS) event->text = MQTTAsync_strerror(rc);
    self->Emit(std::move(event));
  });
}

void MqttClient::GetPendingTokens(uint64_t request) {
  auto self = shared_from_this();
  QueueWithHandle(request, [self, request] {
    MQTTAsync_token* tokens = nullptr;
    int rc = MQTTAsync_getPendingTokens(self->handle_, &tokens);
    auto event = std::make_unique<ClientEvent>();
    event->request = request;
    event->rc = rc;
    for (MQTTAsync_token* t = tokens; t != nullptr && *t != -1; ++t) event->list.push_back(*t);
    if (tokens != nullptr) MQTTAsync_free(tokens);
    self->Emit(std::move(event));
  });
}

void MqttClient::IsConnected(uint64_t request) {
  auto self = shared_from_this();
  Queue(request, [self, request] {
    auto event = std::make_unique<ClientEvent>();
    event->request = request;
    event->list.push_back(self->handle_ != nullptr && MQTTAsync_isConnected(self->handle_) ? 1 : 0);
    self->Emit(std::move(event));
  });
}

void MqttClient::Flush(uint64_t request) {
  // Through the publish window, behind every publish submitted before it: a publish the window
  // still holds exists in memory only, so the flush waits until it reached Paho and the log.
  PublishWindow::Item item;
  item.kind = PublishWindow::Item::Kind::kFlush;
  item.request = request;
  window_.Submit(std::move(item));
}

void MqttClient::Destroy(uint64_t request) {
  auto self = shared_from_this();
  Queue(request, [self, request] {
    self->DestroyHandle();
    self->EmitResult(request, MQTTASYNC_SUCCESS, "");
  });
}

void MqttClient::DestroyHandle() {
  // Command thread. Paho calls pclose from here; afterwards it calls nothing of ours.
  inbound_.Close();  // a receive thread waiting for room holds the mutex destroy needs
  if (handle_ != nullptr) MQTTAsync_destroy(&handle_);
  handle_ = nullptr;
  waker_.Destroy();
  std::unordered_set<Pending*> orphans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    orphans.swap(pending_);
  }
  for (Pending* pending : orphans) {
    EmitResult(pending->request, MQTTASYNC_OPERATION_INCOMPLETE,
               "the client was destroyed before the operation completed");
    delete pending;
  }
  FailFollowed();
}

}  // namespace paho_redis
