// One MQTTAsync client. Every MQTTAsync_* call runs on the client's CommandQueue thread;
// Paho's callbacks (on Paho's threads) become ClientEvents delivered to JS through a
// thread-safe function. Lives until MQTTAsync_destroy has returned (Paho keeps pointers).
#pragma once

#include <MQTTAsync.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "command_queue.h"
#include "delivery_gate.h"
#include "inbound_gate.h"
#include "js_channel.h"
#include "mqtt_client_specs.h"
#include "mqtt_properties.h"
#include "paho_waker.h"
#include "persistence_bridge.h"
#include "publish_window.h"

namespace paho_redis {

struct ClientEvent {
  enum class Type { kResult, kMessage, kConnectionLost, kConnected, kDisconnected, kDeliveryComplete };
  Type type = Type::kResult;
  uint64_t request = 0;
  int rc = 0;
  int token = 0;
  std::string text;  // error message, cause, or topic
  std::string server_uri;
  int mqtt_version = 0;
  bool session_present = false;
  std::vector<int> list;  // granted QoS, reason codes, or pending tokens
  int reason_code = -1;
  PropertyList properties;
  std::unique_ptr<uint8_t[]> payload;
  size_t payload_length = 0;
  int qos = 0;
  bool retained = false, dup = false;
  size_t gated_bytes = 0;  // kMessage: what InboundGate counted for it
  std::vector<PersistenceBridge::ThreadFailure> persistence_failures;
  uint64_t log_seq = 0;  // flush: the newest op logged when it ran
  // Set for a received message the Paho thread waits on until JS has handled it.
  std::shared_ptr<DeliveryGate> delivered;
};

class MqttClient;
void ClientCallJs(Napi::Env env, Napi::Function on_event, MqttClient* self, ClientEvent* event);

class MqttClient : public std::enable_shared_from_this<MqttClient> {
 public:
  static std::shared_ptr<MqttClient> Create(Napi::Env env, Napi::Function on_event,
                                            std::shared_ptr<PersistenceBridge> bridge);
  ~MqttClient();

  // JS thread. Each queues the Paho call; its outcome arrives as a kResult event.
  void Open(uint64_t request, CreateSpec spec);
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

 private:
  MqttClient() = default;
  friend void ClientCallJs(Napi::Env env, Napi::Function on_event, MqttClient* self, ClientEvent* event);
  // Environment teardown: stop events, release the store, destroy the Paho client briefly.
  void OnTeardown();

  // A request Paho answers through onSuccess/onFailure; `context` points at one.
  enum class RequestKind { kConnect, kSubscribe, kUnsubscribe, kOther };
  struct Pending {
    MqttClient* client = nullptr;
    uint64_t request = 0;
    RequestKind kind = RequestKind::kOther;
    int count = 0;  // topics in a (un)subscribe
    // A publish's records, so a write failure learnt later rejects it: its command key,
    // its packet id (s-N, sc-N), and the log position before it (older ops are not its).
    std::string command_key;
    int msgid = 0;
    uint64_t seq_floor = 0;
    bool failed = false;
    bool holds_slot = false;  // a QoS 1/2 publish counted in window_
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
  // Command thread: remembers which records belong to an accepted publish.
  void TrackRecords(Pending* pending, std::string command_key, int msgid, uint64_t seq_floor);
  // Command thread, after a (un)subscribe: Paho swallows a failed put of its queued command
  // (and the batch failure skips it, as a Paho thread waited for it): report it here.
  void ReportCommandFailures(const char* command);
  // JS thread (the bridge's claimer): rejects the publish a failed put belonged to.
  bool ClaimFailedWrite(const LogOp& op, const LogOutcome& outcome);
  void EmitRecordFailure(uint64_t request, const std::string& key, const LogOutcome& outcome);
  void EmitPublishFailure(uint64_t request, int rc, const char* text,
                          std::vector<PersistenceBridge::ThreadFailure> failures);
  // The client of a Pending Paho answers, or null if it was already answered.
  static MqttClient* Claim(Pending* pending) {
    return pending->client->TakePending(pending) ? pending->client : nullptr;
  }
  void FailIfRefused(int rc, Pending* pending);

  // Command thread: the MQTTAsync_sendMessage of a publish the window admitted.
  void SendPublish(uint64_t request, const PublishSpec& spec, bool holds_slot);
  // A counted publish ended: admit what waits. SetWindow: connected (maxInflight) or not (0).
  void ReleaseSlot();
  void SetWindow(int max_inflight);
  // Runs once Paho answered a Pending (taken by Claim): frees it and its window slot.
  void Finish(Pending* pending);
  void Queue(uint64_t request, std::function<void()> job);
  void QueueWithHandle(uint64_t request, std::function<void()> job);
  // False when the event could not be queued (the client is closed).
  bool Emit(std::unique_ptr<ClientEvent> event);
  void EmitResult(uint64_t request, int rc, const std::string& message);
  void DestroyHandle();

  template <typename SuccessData>
  static void Succeed(void* context, SuccessData* response);
  static void AddResults(ClientEvent* event, const Pending& pending, const MQTTAsync_successData& response);
  static void AddResults(ClientEvent* event, const Pending& pending, const MQTTAsync_successData5& response);
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

  std::shared_ptr<PersistenceBridge> bridge_;
  CommandQueue queue_;
  // Command thread only.
  MQTTAsync handle_ = nullptr;
  int mqtt_version_ = MQTTVERSION_DEFAULT;
  std::atomic<int> max_inflight_{0};  // of the last connect
  PublishWindow window_;
  PahoWaker waker_;  // created and destroyed with handle_, on the command thread
  // Publishes Paho restored at create and has not completed yet (they bypass window_).
  std::atomic<int> restored_left_{0};

  JsChannel<MqttClient, ClientEvent, &ClientCallJs> events_;
  InboundGate inbound_;
  // A received message was acknowledged before JS handled it (the delivery gate's wait ended):
  // reported once until a message is handled in time again.
  std::atomic<bool> early_ack_reported_{false};
  std::mutex mutex_;  // guards pending_ and the record maps
  std::unordered_set<Pending*> pending_;
  std::unordered_map<std::string, Pending*> by_command_key_;
  std::unordered_map<int, Pending*> by_msgid_;
  // The publish the command thread is handing to Paho (MQTTAsync_sendMessage until
  // TrackRecords): a failed command put logged after `seq_floor` is its own, and its batch may
  // fail before the publish is tracked. One at a time, so nothing accumulates.
  struct Sending {
    bool active = false;
    uint64_t seq_floor = 0;
    std::string failed_key;
    LogOutcome failure;
  };
  Sending sending_;
};

}  // namespace paho_redis
