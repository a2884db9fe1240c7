// A thread-safe function bound to one Node environment, for an object whose foreign
// threads call into JavaScript: the function, the environment cleanup hook that shuts the
// object down at teardown, and the references that keep the object alive while either of
// them can still reach it. One of these replaces the same dozen lines in every class that
// talks to JS from another thread.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

namespace paho_redis {

template <typename Owner, typename Data, void (*CallJs)(Napi::Env, Napi::Function, Owner*, Data*)>
class JsChannel {
 public:
  using Tsfn = Napi::TypedThreadSafeFunction<Owner, Data, CallJs>;
  using Teardown = void (Owner::*)();

  JsChannel() = default;
  JsChannel(const JsChannel&) = delete;
  JsChannel& operator=(const JsChannel&) = delete;

  // JS thread. `teardown` runs once at environment teardown, before the function's own
  // teardown (cleanup hooks run in reverse order), unless Dispose() ran first. The function
  // starts unref'd: an idle channel does not keep the process alive.
  void Open(Napi::Env env, Napi::Function fn, const char* name, const std::shared_ptr<Owner>& owner,
            Teardown teardown) {
    auto* finalizer_ref = new Finalizer{this, owner};
    tsfn_ = Tsfn::New(env, fn, name, 0, 1, owner.get(), &JsChannel::OnFinalize, finalizer_ref);
    tsfn_.Unref(env);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    env_ = env;
    hook_ = new Hook{this, owner, teardown};
    napi_add_env_cleanup_hook(env, &JsChannel::OnTeardown, hook_);
  }

  // Any thread. Queues `data` for CallJs; false once closed (then `data` was not taken).
  bool Send(Data* data) {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_ && tsfn_.NonBlockingCall(data) == napi_ok;
  }

  // Any thread, idempotent: no more sends. Items already queued are still delivered, or
  // handed to CallJs with an empty env if the environment goes away first.
  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) return;
    open_ = false;
    tsfn_.Release();
  }

  // JS thread: Close, and unregister the teardown hook (the owner was closed explicitly).
  void Dispose() {
    if (hook_ != nullptr) {
      napi_remove_env_cleanup_hook(env_, &JsChannel::OnTeardown, hook_);
      delete hook_;
      hook_ = nullptr;
    }
    Close();
  }

  // JS thread.
  void Ref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_) tsfn_.Ref(env);
  }
  void Unref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_) tsfn_.Unref(env);
  }

 private:
  struct Finalizer {
    JsChannel* channel;
    std::shared_ptr<Owner> owner;
  };
  struct Hook {
    JsChannel* channel;
    std::shared_ptr<Owner> owner;
    Teardown teardown;
  };

  static void OnFinalize(Napi::Env, Finalizer* ref, Owner*) {
    {
      std::lock_guard<std::mutex> lock(ref->channel->mutex_);
      ref->channel->open_ = false;
    }
    delete ref;  // may free the owner, and this channel with it
  }

  static void OnTeardown(void* arg) {
    auto* hook = static_cast<Hook*>(arg);
    std::shared_ptr<Owner> owner = std::move(hook->owner);  // alive until this returns
    JsChannel* channel = hook->channel;
    Teardown teardown = hook->teardown;
    channel->hook_ = nullptr;
    delete hook;
    ((*owner).*teardown)();
    channel->Close();
  }

  std::mutex mutex_;  // guards open_ and every use of tsfn_ off the JS thread
  bool open_ = false;
  Tsfn tsfn_;
  // JS thread only.
  napi_env env_ = nullptr;
  Hook* hook_ = nullptr;
};

}  // namespace paho_redis
