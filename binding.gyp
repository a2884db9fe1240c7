{
  'variables': {
    'addon_sources': [
      'native/addon.cc',
      'native/js_thread.cc',
      'native/key_ledger.cc',
      'native/operation_log.cc',
      'native/persistence_call.cc',
      'native/persistence_bridge.cc',
      'native/persistence_bridge_batches.cc',
      'native/persistence_bridge_wrap.cc',
      'native/paho_persistence.cc',
      'native/paho_persistence_discard.cc',
      'native/sent_publish.cc',
      'native/command_queue.cc',
      'native/mqtt_client.cc',
      'native/mqtt_client_callbacks.cc',
      'native/mqtt_client_publish.cc',
      'native/publish_window.cc',
      'native/paho_waker.cc',
      'native/mqtt_client_wrap.cc',
      'native/inbound_gate.cc',
      'native/mqtt_properties.cc',
      'native/trace_sink.cc',
      'native/outbox_handoff.cc',
    ],
  },
  'targets': [
    {
      'target_name': 'paho_mqtt_redis',
      'sources': ['<@(addon_sources)'],
      'includes': ['native/addon.gypi'],
    },
  ],
  'conditions': [
    # The test build (npm run build:native:test): the same addon plus native/test/'s driver,
    # which calls a bridge's MQTTClient_persistence as Paho does. Never shipped.
    ['"<!(echo $PAHO_REDIS_TEST_BUILD)"=="1"', {
      'targets': [
        {
          'target_name': 'paho_mqtt_redis_test',
          'sources': ['<@(addon_sources)', 'native/test/persistence_driver.cc'],
          'includes': ['native/addon.gypi'],
          'defines': ['PAHO_REDIS_TEST_ADDON'],
        },
      ],
    }],
  ],
}
