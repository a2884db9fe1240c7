// Forwards Paho's trace to a JS logger. Paho's trace callback and level are process-wide,
// so sinks (one per environment that asked) sit in a process-wide registry; each sink
// delivers to its own environment through a thread-safe function.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

namespace paho_redis {

struct TraceLine {
  int level;
  std::string message;
};

class TraceSink;
void TraceCallJs(Napi::Env env, Napi::Function logger, TraceSink* sink, TraceLine* line);

class TraceSink {
 public:
  // setTrace(level, logger) installs this environment's sink; setTrace(0) removes it.
  static Napi::Value SetTrace(const Napi::CallbackInfo& info);

 private:
  friend void TraceCallJs(Napi::Env env, Napi::Function logger, TraceSink* sink, TraceLine* line);
  using Tsfn = Napi::TypedThreadSafeFunction<TraceSink, TraceLine, &TraceCallJs>;
  static void OnPahoTrace(int level, char* message);
  static void Install(std::shared_ptr<TraceSink> sink, napi_env env);
  static void Remove(napi_env env);
  static void ApplyLevel();
  static void OnEnvCleanup(void* arg);

  int level_ = 0;
  napi_env env_ = nullptr;
  Tsfn tsfn_;
};

}  // namespace paho_redis
