// Paho's side of a user persistence: the MQTTClient_persistence struct Paho calls, and its
// eight callbacks (on Paho's threads or an MQTTAsync_* caller's thread). Each callback
// decides from the KeyLedger what must reach the store: writes go into the bridge's log
// (answered at once unless they are barriers, or in 'sync' durability), reads are answered
// from the ledger where it knows, else forwarded once the log is drained.
#pragma once

#include <MQTTClientPersistence.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "client/sent_publish.h"
#include "persistence/key_ledger.h"
#include "persistence/operation_log.h"

namespace paho_redis {

class StoreBridge;

class PahoPersistence {
 public:
  explicit PahoPersistence(StoreBridge* bridge);
  PahoPersistence(const PahoPersistence&) = delete;
  PahoPersistence& operator=(const PahoPersistence&) = delete;

  // The struct to hand to MQTTAsync_create; valid while the bridge lives.
  MQTTClient_persistence* persistence() { return &persistence_; }
  KeyLedger::Stats ledger_stats() { return ledger_.stats(); }
  // Queued commands the store holds or will (-1: unknown); Paho's buffer holds as many.
  int command_count() { return ledger_.CommandCount(); }
  // JS thread: a write failed, so what the store holds is unknown.
  void StoreFailed();
  // Paho's receive thread, once the listeners of a received message returned (before Paho
  // sends PUBREC): stores the MQTT 5 QoS 2 record (r5-N) put for it, and waits until it is.
  LogOutcome StoreHeldReceived();

  // Sent messages Paho discarded with its session (MQTT 3.1.1 3.2.2.2: at a CONNACK without
  // one, or when a clean session ends): the s-N PUBLISH records it removed after listing its
  // keys, oldest first. Those whose PUBREL was sent (sc-N) too: a broker may deliver a QoS 2
  // message only at PUBREL (mosquitto does), and the lost session took it along. Their removes
  // are held: each is logged with the c- put of the message's republish (RepublishOnThisThread),
  // in one unit, so the store holds every message exactly once.
  std::vector<SentPublish> TakeDiscarded();
  bool Discarded(int msgid);
  // The calling thread's next command put publishes `sent_key`'s message again (null: done).
  static void RepublishOnThisThread(const std::string* sent_key);

 private:
  // Logs the command remove the KeyLedger deferred (see key_ledger.h), if one is due.
  void FlushDeferred();
  // Before a read is forwarded: the store must hold everything logged.
  LogOutcome DrainForRead();
  // A remove that is now due, as a log op (the ledger forgets the key).
  LogOp DueRemove(const std::string& key, bool wait);
  // The same, for a key the ledger already forgot (DecideRemove, AddedAndRemoved).
  LogOp RemoveOp(const std::string& key, bool wait);
  // The QoS 2 PUBLISH command `command_key` (c-N) was logged as `seq` (see CommandStored).
  void CommandLogged(const std::string& command_key, uint64_t seq);
  // `key` is removed: if a QoS 2 PUBLISH command, it is no longer tracked.
  void ForgetCommand(const std::string& key);
  // open: no command of the session before is tracked.
  void ForgetCommands();
  // The QoS 2 PUBLISH being logged as `sent_key` (s-T) is durable without waiting for it:
  // its command `command_key` (the remove deferred to this put, token T) is in the store,
  // waiting for that put only if it is not acknowledged yet. False: wait for the s- put.
  bool CommandStored(const std::string& command_key, const std::string& sent_key);
  // MQTT 5 received QoS 2 records held back until their message was handled (see
  // paho_persistence_held.cc).
  void Hold(const std::string& key, Bytes bytes);
  // The records the calling thread holds, as log puts (the ledger counts them from now on).
  std::vector<LogOp> TakeHeld();
  // A remove of `key` supersedes a held put of it, whichever thread holds it.
  void DropHeld(const std::string& key);
  // Stores what the calling thread holds before it moves on (its next callback), waiting.
  LogOutcome StoreHeld();
  // A remove made while Paho discards its session's records: true when it was a sent PUBLISH,
  // now held (see TakeDiscarded); false: remove it as usual.
  bool CaptureDiscard(const std::string& key);
  // open/close: what was discarded and not sent again stays in the store.
  void ForgetDiscarded();
  // A put of s-N that would store another message than the one stored under it (see Put).
  bool CorruptResend(const std::string& key, const std::vector<uint8_t>& bytes);
  // A put of `key` / a command put republishing: the held remove it takes over, if any.
  std::optional<std::string> TakeHeldRemove(const std::string& key);

  // `handle`/`context` are this object.
  static int Open(void** handle, const char* client_id, const char* server_uri, void* context);
  static int Close(void* handle);
  static int Put(void* handle, char* key, int bufcount, char* buffers[], int buflens[]);
  static int Get(void* handle, char* key, char** buffer, int* buflen);
  static int Remove(void* handle, char* key);
  static int Keys(void* handle, char*** keys, int* nkeys);
  static int Clear(void* handle);
  static int ContainsKey(void* handle, char* key);

  StoreBridge* const bridge_;
  MQTTClient_persistence persistence_;
  KeyLedger ledger_;
  // QoS 2 PUBLISH commands logged in this session: key (c-N) -> seq of their put.
  std::mutex command_seqs_mutex_;
  std::unordered_map<std::string, uint64_t> command_seqs_;
  std::atomic<size_t> command_seq_count_{0};  // its size, read without the lock
  // Held received records: one per message between Paho's put and the end of its delivery.
  // By the thread that holds them: each thread stores only its own (Paho's receive thread in
  // practice; any thread may call the persistence).
  std::mutex held_mutex_;
  std::unordered_map<std::thread::id, std::vector<std::pair<std::string, Bytes>>> held_;
  // How many records held_ holds, read without the lock: callbacks skip it when none are.
  std::atomic<size_t> held_records_{0};
  // See TakeDiscarded.
  std::mutex discarded_mutex_;
  std::vector<SentPublish> discarded_;
  std::unordered_set<std::string> held_removes_;
  std::atomic<size_t> held_count_{0};
};

}  // namespace paho_redis
