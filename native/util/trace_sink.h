// Forwards Paho's trace to a JS logger. Paho's trace callback and level are process-wide,
// so sinks (one per environment that asked) sit in a process-wide registry; each sink
// delivers to its own environment through a thread-safe function.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "util/js_channel.h"

namespace paho_redis {

struct TraceLine {
  int level;
  std::string message;
};

class TraceSink;
void TraceCallJs(Napi::Env env, Napi::Function logger, TraceSink* sink, TraceLine* line);

class TraceSink : public std::enable_shared_from_this<TraceSink> {
 public:
  // setTrace(level, logger) installs this environment's sink; setTrace(0) removes it.
  static Napi::Value SetTrace(const Napi::CallbackInfo& info);
  // Tells Paho the most verbose level a sink wants. Without a sink (also at addon load), Paho
  // formats only errors: at its default level it formats ~6 lines per publish into its own
  // trace buffer under a process-wide lock, though no one reads them (Paho's own
  // MQTT_C_CLIENT_TRACE, when set, keeps its level).
  static void ApplyLevel();

 private:
  friend void TraceCallJs(Napi::Env env, Napi::Function logger, TraceSink* sink, TraceLine* line);
  static void OnPahoTrace(int level, char* message);
  static void Install(std::shared_ptr<TraceSink> sink, napi_env env);
  // Removes the environment's sink; `explicitly`: by setTrace, not by teardown.
  static void Remove(napi_env env, bool explicitly);
  void OnTeardown() { Remove(env_, false); }

  int level_ = 0;
  napi_env env_ = nullptr;
  JsChannel<TraceSink, TraceLine, &TraceCallJs> lines_;
};

}  // namespace paho_redis
