# Build settings shared by the shipped addon and its test build (binding.gyp).
{
  'includes': ['../vendor/paho-mqtt-c.gypi'],
  # native/ itself: includes name files from there ("util/js_thread.h"). Relative to this file.
  'include_dirs': ['.', "<!(node -p \"require('node-addon-api').include_dir\")"],
  'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS'],
  'cflags!': ['-fno-exceptions'],
  'cflags_cc!': ['-fno-exceptions'],
  # Only the module's init is exported (NAPI_MODULE_EXPORT marks it visible).
  'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden'],
  # Paho's threads may still run addon code while a worker's environment unloads it.
  'ldflags': ['-Wl,-z,nodelete'],
  'conditions': [
    ['"<!(echo $PMR_SANITIZE)"=="address"', {
      'cflags_cc': ['-fsanitize=address', '-fno-omit-frame-pointer'],
      'ldflags': ['-fsanitize=address'],
    }],
  ],
}
