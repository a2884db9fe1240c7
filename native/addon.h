// Per-environment state of the addon. Worker threads load the addon again and get their
// own instance; nothing here is process-global.
#pragma once

#include <napi.h>

namespace paho_redis {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  static Addon& From(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

  Napi::FunctionReference bridge_class;
  Napi::FunctionReference client_class;

 private:
  Napi::Value PahoVersion(const Napi::CallbackInfo& info);
};

}  // namespace paho_redis
