// A dedicated thread that runs one client's MQTTAsync_* calls in order. Those calls take
// Paho's process-wide mutexes and call the persistence, so they never run on the JS thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace paho_redis {

class CommandQueue {
 public:
  CommandQueue();
  ~CommandQueue();
  CommandQueue(const CommandQueue&) = delete;
  CommandQueue& operator=(const CommandQueue&) = delete;

  // False once Stop() was called: the job was not queued.
  bool Push(std::function<void()> job);
  // Runs the queued jobs, then ends the thread. Waits up to `timeout`; a thread still
  // busy then (stuck inside Paho) is detached and its memory deliberately leaked.
  bool Stop(std::chrono::milliseconds timeout);
  // Any thread: how many threads Stop() has left detached in this process (the tests read it).
  static int DetachedCount() { return detached_count_.load(); }

 private:
  struct State;
  static void Run(std::shared_ptr<State> state);
  static std::atomic<int> detached_count_;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace paho_redis
