#include "util/command_queue.h"

#include <memory>

namespace paho_redis {

// Shared with the thread, so a detached thread never touches freed memory.
struct CommandQueue::State {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  bool finished = false;
};

std::atomic<int> CommandQueue::detached_count_{0};

CommandQueue::CommandQueue() : state_(std::make_shared<State>()), thread_(&CommandQueue::Run, state_) {}

CommandQueue::~CommandQueue() { Stop(std::chrono::milliseconds(0)); }

bool CommandQueue::Push(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->stopping) return false;
  state_->jobs.push_back(std::move(job));
  state_->changed.notify_all();
  return true;
}

bool CommandQueue::Stop(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return true;
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->stopping = true;
  state_->changed.notify_all();
  bool finished = state_->changed.wait_for(lock, timeout, [this] { return state_->finished; });
  lock.unlock();
  if (finished) {
    thread_.join();
  } else {
    thread_.detach();
    detached_count_++;
  }
  return finished;
}

void CommandQueue::Run(std::shared_ptr<State> state) {
  std::unique_lock<std::mutex> lock(state->mutex);
  for (;;) {
    state->changed.wait(lock, [&] { return state->stopping || !state->jobs.empty(); });
    if (state->jobs.empty()) break;  // stopping, and nothing left to run
    std::function<void()> job = std::move(state->jobs.front());
    state->jobs.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
  state->finished = true;
  state->changed.notify_all();
}

}  // namespace paho_redis
