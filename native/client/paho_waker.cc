#include "client/paho_waker.h"

namespace paho_redis {

bool PahoWaker::Create() {
  MQTTAsync_createOptions options = MQTTAsync_createOptions_initializer;
  options.sendWhileDisconnected = 1;
  options.allowDisconnectedSendAtAnyTime = 1;  // never connected
  options.maxBufferedMessages = 1;
  options.deleteOldestMessages = 1;  // each wake replaces the last one
  // Never connected, so the address is never used.
  int rc = MQTTAsync_createWithOptions(&handle_, "tcp://127.0.0.1:1", "paho-mqtt-redis-waker",
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &options);
  if (rc != MQTTASYNC_SUCCESS) handle_ = nullptr;
  return handle_ != nullptr;
}

void PahoWaker::Wake() {
  if (handle_ != nullptr) MQTTAsync_send(handle_, "wake", 0, "", 0, 0, nullptr);
}

void PahoWaker::Destroy() {
  if (handle_ != nullptr) MQTTAsync_destroy(&handle_);
  handle_ = nullptr;
}

}  // namespace paho_redis
