#include "util/trace_sink.h"

#include <MQTTAsync.h>

#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace paho_redis {

namespace {

// Process-wide by necessity: Paho has one trace callback for the whole process.
std::mutex g_sinks_mutex;
std::unordered_map<napi_env, std::shared_ptr<TraceSink>>& Sinks() {
  static auto* sinks =
      new std::unordered_map<napi_env,
                             std::shared_ptr<TraceSink>>();  // never destroyed: Paho may trace at exit
  return *sinks;
}

// Paho setters run off the JS thread, like every MQTTAsync_* call.
void OffJsThread(std::function<void()> fn) { std::thread(std::move(fn)).join(); }

}  // namespace

void TraceSink::OnPahoTrace(int level, char* message) {
  std::lock_guard<std::mutex> lock(g_sinks_mutex);
  for (auto& entry : Sinks()) {
    TraceSink& sink = *entry.second;
    if (level < sink.level_) continue;
    auto* line = new TraceLine{level, message != nullptr ? message : ""};
    if (!sink.lines_.Send(line)) delete line;
  }
}

void TraceSink::ApplyLevel() {
  // The most verbose level any sink wants; no sink: no trace callback at all.
  int level = 0;
  {
    std::lock_guard<std::mutex> lock(g_sinks_mutex);
    for (auto& entry : Sinks()) {
      if (level == 0 || entry.second->level_ < level) level = entry.second->level_;
    }
  }
  OffJsThread([level] {
    if (level == 0) {
      MQTTAsync_setTraceCallback(nullptr);
      // At Paho's default level it formats trace lines nobody reads, unless its own trace
      // (MQTT_C_CLIENT_TRACE, to stdout or a file) was asked for.
      if (std::getenv("MQTT_C_CLIENT_TRACE") == nullptr) MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    } else {
      MQTTAsync_setTraceLevel(static_cast<enum MQTTASYNC_TRACE_LEVELS>(level));
      MQTTAsync_setTraceCallback(reinterpret_cast<MQTTAsync_traceCallback*>(&TraceSink::OnPahoTrace));
    }
  });
}

void TraceSink::Install(std::shared_ptr<TraceSink> sink, napi_env env) {
  {
    std::lock_guard<std::mutex> lock(g_sinks_mutex);
    Sinks()[env] = std::move(sink);
  }
  ApplyLevel();
}

void TraceSink::Remove(napi_env env, bool explicitly) {
  std::shared_ptr<TraceSink> removed;
  {
    std::lock_guard<std::mutex> lock(g_sinks_mutex);
    auto found = Sinks().find(env);
    if (found == Sinks().end()) return;
    removed = found->second;
    Sinks().erase(found);
  }
  ApplyLevel();
  if (explicitly) {
    removed->lines_.Dispose();
  } else {
    removed->lines_.Close();
  }
}

Napi::Value TraceSink::SetTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int level = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (level < 0 || level > MQTTASYNC_TRACE_FATAL)
    throw Napi::RangeError::New(env, "trace level must be 0 (off) to 7");
  Remove(env, true);
  if (level == 0) return env.Undefined();
  if (!info[1].IsFunction())
    throw Napi::TypeError::New(env, "setTrace(level, logger) needs a logger function");
  auto sink = std::make_shared<TraceSink>();
  sink->level_ = level;
  sink->env_ = env;
  // Unref'd: tracing alone must not keep the process alive.
  sink->lines_.Open(env, info[1].As<Napi::Function>(), "paho-mqtt-redis:trace", sink, &TraceSink::OnTeardown);
  Install(sink, env);
  return env.Undefined();
}

void TraceCallJs(Napi::Env env, Napi::Function logger, TraceSink*, TraceLine* raw) {
  std::unique_ptr<TraceLine> line(raw);
  if (env == nullptr) return;
  try {
    logger.Call({Napi::Number::New(env, line->level), Napi::String::New(env, line->message)});
  } catch (const Napi::Error& error) {
    fprintf(stderr, "paho-mqtt-redis: trace logger threw: %s\n", error.Message().c_str());
  }
}

}  // namespace paho_redis
