// Hands Paho at most its inflight window (maxInflight) of QoS 1/2 publishes while
// connected. Paho's send thread waits when its window is full, and a PUBACK does not wake it:
// queued publishes then wait for the next API call or a 1 s timeout. Publishes past the
// window wait here instead, in order, and go to Paho as earlier ones complete. While
// disconnected nothing is held: Paho buffers (and persists) offline publishes as before.
#pragma once

#include <deque>
#include <functional>
#include <mutex>

namespace paho_redis {

class PublishWindow {
 public:
  // Hands the publish on (queues it for Paho). Runs under the window's lock, so publishes
  // reach the command queue in the order they were submitted, from whichever thread.
  using Job = std::function<void()>;

  // Runs `job` now if the publish fits (counted against the window if `counted`, i.e. QoS
  // 1/2), else keeps it for a later Release or SetWindow.
  void Submit(bool counted, Job job);
  // A counted publish completed or was refused: runs what now fits, in order.
  void Release();
  // Connected with this window, or disconnected (window 0): runs what now fits.
  void SetWindow(int max_inflight);
  int held();
  // More counted publishes are with Paho than its window carries: Paho queues the rest.
  bool Overcommitted();
  // While on, every publish waits here, connected or not (messages Paho discarded with a lost
  // session go first); off runs what fits.
  void HoldAll(bool on);

 private:
  struct Held {
    bool counted;
    Job job;
  };
  void RunHeld();  // lock held

  std::mutex mutex_;
  int window_ = 0;  // 0: not connected, nothing is held
  bool hold_all_ = false;
  int inflight_ = 0;
  std::deque<Held> held_;
};

}  // namespace paho_redis
