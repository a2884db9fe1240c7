// One MQTTAsync client. Every MQTTAsync_* call runs on the client's CommandQueue thread, but
// for the messages Paho discarded with a lost session, which its callbacks publish again
// (Republish); Paho's callbacks (on Paho's threads) become EventBurst entries delivered to JS
// in bursts through a thread-safe function. Lives until MQTTAsync_destroy has returned (Paho keeps pointers).
#pragma once

#include <MQTTAsync.h>
#include <napi.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client/client_event.h"
#include "client/event_burst.h"
#include "client/inbound_gate.h"
#include "client/mqtt_client_specs.h"
#include "client/mqtt_properties.h"
#include "client/paho_waker.h"
#include "client/publish_window.h"
#include "persistence/store_bridge.h"
#include "util/command_queue.h"
#include "util/delivery_gate.h"
#include "util/delivery_gate_set.h"
#include "util/js_channel.h"

namespace paho_redis {

class MqttClient;
// `ring`: owns a reference to the burst, which stays readable when `self` is gone (teardown).
void ClientCallJs(Napi::Env env, Napi::Function on_events, MqttClient* self,
                  std::shared_ptr<EventBurst>* ring);

class MqttClient : public std::enable_shared_from_this<MqttClient> {
 public:
  static std::shared_ptr<MqttClient> Create(Napi::Env env, Napi::Function on_event,
                                            std::shared_ptr<StoreBridge> bridge);
  ~MqttClient();
  // Any thread: MqttClient objects alive in this process (the leak tests read it).
  static int LiveCount() { return live_count_.load(); }

  // JS thread. Each queues the Paho call; its outcome arrives as a kResult event.
  void Create(uint64_t request, CreateSpec spec);
  void Connect(uint64_t request, ConnectSpec spec);
  void Publish(uint64_t request, PublishSpec spec);
  void Subscribe(uint64_t request, SubscribeSpec spec);
  void Unsubscribe(uint64_t request, UnsubscribeSpec spec);
  void Disconnect(uint64_t request, DisconnectSpec spec);
  void GetPendingTokens(uint64_t request);
  void IsConnected(uint64_t request);
  // Answers with the newest op in the store's log once every earlier call reached Paho.
  void Flush(uint64_t request);
  void Destroy(uint64_t request);
  // JS thread, after Destroy's result: ends the command thread and the event function, so
  // a closed client holds no thread and no environment hook.
  void Dispose();
  void Ref(Napi::Env env);
  void Unref(Napi::Env env);
  // Any thread. Without a 'deliveryComplete' listener no entry is queued per delivery: it only
  // counts as progress (EventBurst::CountDelivery), which poison detection reads.
  void WantDeliveryComplete(bool want) { delivery_complete_wanted_.store(want); }

 private:
  MqttClient() : window_([this](PublishWindow::Item& item) { HandOn(item); }) { live_count_++; }
  static std::atomic<int> live_count_;
  friend void ClientCallJs(Napi::Env env, Napi::Function on_events, MqttClient* self,
                           std::shared_ptr<EventBurst>* ring);
  // Environment teardown: stop events, release the store, destroy the Paho client briefly.
  void OnTeardown();

  // A request Paho answers through onSuccess/onFailure; `context` points at one.
  enum class RequestKind { kConnect, kSubscribe, kUnsubscribe, kPublish, kOther };
  struct Pending {
    MqttClient* client = nullptr;
    uint64_t request = 0;
    RequestKind kind = RequestKind::kOther;
    int count = 0;            // topics in a (un)subscribe
    bool holds_slot = false;  // a QoS 1/2 publish counted in window_
    int msgid = 0;            // an accepted QoS 1/2 publish's packet id: Parked finds its request by it
    int qos = 0;              // kPublish
  };
  Pending* NewPending(uint64_t request, RequestKind kind = RequestKind::kOther, int count = 0);
  // Connect, disconnect and response options all carry the same callback fields.
  template <typename Options>
  void SetCallbacks(Options* options, Pending* pending) {
    options->context = pending;
    if (mqtt_version_ >= MQTTVERSION_5) {
      options->onSuccess5 = &MqttClient::OnSuccess5;
      options->onFailure5 = &MqttClient::OnFailure5;
    } else {
      options->onSuccess = &MqttClient::OnSuccess;
      options->onFailure = &MqttClient::OnFailure;
    }
  }
  bool TakePending(Pending* pending);
  // Command thread, after a publish or (un)subscribe: Paho swallows a failed put of its queued
  // command (and the batch failure skips it, as a Paho thread waited for it): report it here.
  // The call itself settles as Paho answers it (a publish by its delivery).
  void ReportCommandFailures(const char* command);
  // The client of a Pending Paho answers, or null if it was already answered.
  static MqttClient* Claim(Pending* pending) {
    return pending->client->TakePending(pending) ? pending->client : nullptr;
  }
  void FailIfRefused(int rc, Pending* pending);

  // Command thread: the MQTTAsync_sendMessage of a publish the window admitted.
  void SendPublish(uint64_t request, const PublishSpec& spec, bool holds_slot);
  // Paho's receive thread, in the connected callback (Paho holds its mutex, so nothing is sent
  // before): publishes again, oldest first, the messages Paho discarded with its session. A
  // publish() waiting for one of them (Parked) settles with the message sent again.
  void Republish();
  // Paho's receive thread: sends the backlog while Paho takes it (maxBufferedMessages).
  void SendBacklog();
  // MQTTAsync_sendMessage of one of them; its rc.
  int RepublishOne(const SentPublish& publish);
  bool Parked(Pending* pending, int rc);
  // A QoS 1/2 publish Paho accepted and then failed while keeping the message (its write failed
  // at a connection loss: Paho sends it again after the reconnect): true when its request now
  // follows the message to its delivery (Delivered) instead of failing.
  bool Followed(Pending* pending, int rc);
  // Paho's receive thread, at a delivery: settles the followed request of packet id `msgid`.
  void Delivered(int msgid);
  // After Paho's destroy: the followed publishes fail as incomplete (their records stay).
  void FailFollowed();
  // A counted publish ended: admit what waits. SetWindow: connected (maxInflight) or not (0).
  void ReleaseSlot();
  void SetWindow(int max_inflight);
  // Runs once Paho answered a Pending (taken by Claim): frees it and its window slot.
  void Finish(Pending* pending);
  // What the publish window lets go: a publish or a flush, to the command queue.
  void HandOn(PublishWindow::Item& item);
  void Queue(uint64_t request, std::function<void()> job);
  // Queue, for a job that needs the Paho client: refused as closed without one. A template, so
  // the job and this check are one function object.
  template <typename Job>
  void QueueWithHandle(uint64_t request, Job job) {
    auto self = shared_from_this();
    Queue(request, [self, request, job = std::move(job)] {
      if (self->handle_ == nullptr) {
        self->EmitClosed(request, "the client is not created or already closed");
        return;
      }
      job();
    });
  }
  // False when the event could not be queued (the client is closed).
  bool Emit(std::unique_ptr<ClientEvent> event);
  // A plain entry (no ClientEvent); false when it could not be queued.
  bool Append(EventBurst::Entry& entry);
  // accepted_by_paho: the publish failed after Paho took it (see ClientEvent).
  void EmitResult(uint64_t request, int rc, const std::string& message, bool accepted_by_paho = false);
  // A request refused by the addon itself because the client is closed (not a Paho failure).
  void EmitClosed(uint64_t request, const std::string& message);
  void DestroyHandle();

  template <typename SuccessData>
  static void Succeed(void* context, SuccessData* response);
  static void AddResults(ClientEvent* event, const Pending& pending, const MQTTAsync_successData& response);
  static void AddResults(ClientEvent* event, const Pending& pending, const MQTTAsync_successData5& response);
  void LowerToReceiveMaximum(const MQTTAsync_successData&) {}
  void LowerToReceiveMaximum(const MQTTAsync_successData5& response);
  static void OnSuccess(void* context, MQTTAsync_successData* response);
  static void OnSuccess5(void* context, MQTTAsync_successData5* response);
  template <typename FailureData>
  static void Fail(void* context, FailureData* response);
  static void OnFailure(void* context, MQTTAsync_failureData* response);
  static void OnFailure5(void* context, MQTTAsync_failureData5* response);
  static void OnConnectionLost(void* context, char* cause);
  static int OnMessage(void* context, char* topic, int topic_length, MQTTAsync_message* message);
  static void OnDeliveryComplete(void* context, MQTTAsync_token token);
  static void OnConnected(void* context, char* cause);
  static void OnDisconnected(void* context, MQTTProperties* properties, enum MQTTReasonCodes reason);

  std::shared_ptr<StoreBridge> bridge_;
  CommandQueue queue_;
  // Set on the command thread (create, connect, destroy). Paho's threads read them too, in
  // callbacks, which run only while handle_ lives.
  MQTTAsync handle_ = nullptr;
  int mqtt_version_ = MQTTVERSION_DEFAULT;
  // maxInflight of the last connect, lowered to the broker's receive maximum (an MQTT 5 CONNACK
  // property) as Paho lowers its own window: past it, Paho would queue and count the publishes
  // against maxBufferedMessages (a burst beyond that was refused).
  std::atomic<int> max_inflight_{0};
  int max_buffered_ = 0;  // maxBufferedMessages, set at create
  PublishWindow window_;  // any thread: it has its own lock
  // Created and destroyed with handle_, on the command thread; woken from Paho's threads.
  PahoWaker waker_;
  // Publishes Paho restored at create and has not completed yet (they bypass window_).
  std::atomic<int> restored_left_{0};
  // QoS 1/2 publishes handed to Paho (SendPublish) and not answered yet: with restored_left_,
  // the packet ids Paho holds. Paho looks for a free id by scanning its command list once per
  // candidate id, so a publish made with all ids taken costs it 65,535 scans (seconds), and
  // every later request, a flush() too, waits behind it: SendPublish refuses it first.
  std::atomic<int> publish_ids_{0};

  std::atomic<bool> delivery_complete_wanted_{false};

  // The thread-safe function only rings (each ring holds the burst): what to deliver waits in
  // burst_.
  JsChannel<MqttClient, std::shared_ptr<EventBurst>, &ClientCallJs> events_;
  const std::shared_ptr<EventBurst> burst_ = std::make_shared<EventBurst>();
  std::vector<EventBurst::Entry> drained_;  // JS thread: the burst being delivered
  InboundGate inbound_;
  DeliveryGateSet delivery_gates_;  // opened at teardown: no Paho thread stays parked in one
  // A received message was acknowledged before JS handled it (the delivery gate's wait ended):
  // reported once until a message is handled in time again.
  std::atomic<bool> early_ack_reported_{false};
  std::mutex mutex_;  // guards pending_
  std::unordered_set<Pending*> pending_;
  // Requests of publishes whose message Paho discarded, by packet id, until Republish.
  std::unordered_map<int, uint64_t> parked_;
  // Requests of publishes Paho failed but still holds (Followed), by packet id, until delivered
  // or discarded with the session (then parked_); and those failed before SendPublish learnt
  // their packet id (it files them here).
  std::unordered_map<int, uint64_t> followed_;
  std::unordered_set<uint64_t> followed_unnumbered_;
  std::atomic<size_t> followed_size_{0};  // followed_.size()
  // Discarded messages not yet taken by Paho, oldest first; backlog_size_ mirrors its size.
  std::deque<SentPublish> backlog_;
  std::atomic<size_t> backlog_size_{0};
};

}  // namespace paho_redis
