// Paho's side of a user persistence: the MQTTClient_persistence struct Paho calls, and its
// eight callbacks (on Paho's threads or an MQTTAsync_* caller's thread). Each callback
// decides from the KeyLedger what must reach the store, and forwards that through the
// PersistenceBridge that owns this object.
#pragma once

#include <MQTTClientPersistence.h>

#include <string>

#include "key_ledger.h"

namespace paho_redis {

class PersistenceBridge;

class PahoPersistence {
 public:
  explicit PahoPersistence(PersistenceBridge* bridge);
  PahoPersistence(const PahoPersistence&) = delete;
  PahoPersistence& operator=(const PahoPersistence&) = delete;

  // The struct to hand to MQTTAsync_create; valid while the bridge lives.
  MQTTClient_persistence* persistence() { return &persistence_; }
  KeyLedger::Stats ledger_stats() { return ledger_.stats(); }

 private:
  // Command removes the KeyLedger deferred (see key_ledger.h).
  void FlushDeferred();
  bool ForwardRemove(const std::string& key);

  // `handle`/`context` are this object.
  static int Open(void** handle, const char* client_id, const char* server_uri, void* context);
  static int Close(void* handle);
  static int Put(void* handle, char* key, int bufcount, char* buffers[], int buflens[]);
  static int Get(void* handle, char* key, char** buffer, int* buflen);
  static int Remove(void* handle, char* key);
  static int Keys(void* handle, char*** keys, int* nkeys);
  static int Clear(void* handle);
  static int ContainsKey(void* handle, char* key);

  PersistenceBridge* const bridge_;
  MQTTClient_persistence persistence_;
  KeyLedger ledger_;
};

}  // namespace paho_redis
