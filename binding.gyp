{
  'targets': [
    {
      'target_name': 'paho_mqtt_redis',
      'sources': [
        'native/addon.cc',
        'native/js_thread.cc',
        'native/key_ledger.cc',
        'native/persistence_call.cc',
        'native/persistence_bridge.cc',
        'native/persistence_bridge_wrap.cc',
        'native/test/persistence_driver.cc',
        'native/paho_persistence.cc',
        'native/command_queue.cc',
        'native/mqtt_client.cc',
        'native/mqtt_client_callbacks.cc',
        'native/mqtt_client_wrap.cc',
        'native/mqtt_properties.cc',
        'native/trace_sink.cc',
      ],
      'includes': ['vendor/paho-mqtt-c.gypi'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['PAHO_REDIS_TEST_ADDON', 'NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Wno-unused-parameter'],
      # Paho's threads may still run addon code while a worker's environment unloads it.
      'ldflags': ['-Wl,-z,nodelete'],
      'conditions': [
        ['"<!(echo $PMR_SANITIZE)"=="address"', {
          'cflags_cc': ['-fsanitize=address', '-fno-omit-frame-pointer'],
          'ldflags': ['-fsanitize=address'],
        }],
      ],
    },
  ],
}
